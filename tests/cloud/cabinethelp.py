"""Helpers of the cabinet tests: the last code the file SMS backend wrote for a phone, and a
browser (Flask test client) logged in to the cabinet by phone and code."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cloud.notify.sms import sms_file_path


def last_code(app: Flask, phone: str) -> str:
    path = sms_file_path(app.config["AQ"])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [line["text"] for line in lines if line["phone"] == phone]
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, texts[-1]
    return match.group(1)


def csrf_token(browser: FlaskClient) -> str:
    """The CSRF token of the browser's session, from a cabinet page (logged in or not)."""
    page = browser.get("/my/login", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def post(browser: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    token = csrf_token(browser)
    return browser.post(path, data={**(data or {}), "csrf_token": token}, **kw)


def cabinet_login(app: Flask, phone: str, address: str = "127.0.0.1") -> FlaskClient:
    """A test client logged in to the cabinet as the member with ``phone``."""
    browser = app.test_client()
    env = {"REMOTE_ADDR": address}
    sent = post(browser, "/my/login", {"phone": phone}, environ_base=env)
    assert sent.status_code == 302, sent.get_data(as_text=True)
    checked = post(browser, "/my/login/code", {"code": last_code(app, phone)}, environ_base=env)
    assert checked.status_code == 302, checked.get_data(as_text=True)
    assert checked.headers["Location"].endswith("/my/"), checked.headers["Location"]
    return browser
