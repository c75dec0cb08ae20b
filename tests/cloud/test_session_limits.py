"""The central log-in session's limits and the security headers (issue 19): idle and absolute
limits, Secure cookies behind TLS, CSP / nosniff / Referrer-Policy on every answer, no caching
of pages (they show one-time secrets), and no inline script left in any template."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.clock import FixedClock
from tests.cloud.conftest import World, login, post_form

TEMPLATES = Path(__file__).resolve().parents[2] / "cloud" / "templates"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def signed_in(browser: FlaskClient, **headers: str) -> bool:
    return browser.get("/staff/me", headers=headers).status_code == 200


def test_a_session_ends_after_30_idle_minutes(
    client: FlaskClient, world: World, clock: FixedClock
) -> None:
    login(client, world.phone("operator"))
    clock.advance(minutes=29)
    assert signed_in(client)  # a page opened: the idle time starts again
    clock.advance(minutes=29)
    assert signed_in(client)
    clock.advance(minutes=30, seconds=1)
    assert not signed_in(client)
    clock.advance(seconds=1)
    assert not signed_in(client)  # signed out, not only turned away once


def test_a_pages_background_requests_do_not_keep_it_open(
    client: FlaskClient, world: World, clock: FixedClock
) -> None:
    login(client, world.phone("operator"))
    clock.advance(minutes=20)
    assert signed_in(client, **{"Sec-Fetch-Mode": "cors"})  # the dashboard's poll
    clock.advance(minutes=11)
    assert not signed_in(client)


def test_a_session_ends_12_hours_after_log_in_however_busy(
    client: FlaskClient, world: World, clock: FixedClock
) -> None:
    login(client, world.phone("owner"))
    for _ in range(12 * 3):
        assert signed_in(client)
        clock.advance(minutes=20)
    clock.advance(seconds=1)
    assert not signed_in(client)
    assert login(client, world.phone("owner")).status_code == 302  # a new log-in starts anew
    assert signed_in(client)


def _cookies(response: Any) -> dict[str, str]:
    return {value.split("=", 1)[0]: value for value in response.headers.getlist("Set-Cookie")}


@pytest.mark.parametrize(
    ("settings", "secure"),
    [({}, False), ({"trusted_proxy_count": 1}, True), ({"secure_cookies": True}, True)],
    ids=["plain", "behind a proxy", "asked for"],
)
def test_cookies_are_secure_behind_tls(
    tmp_path: Path, settings: dict[str, Any], secure: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'tls.sqlite3'}"
    app = create_app(data_dir=tmp_path / "tls", database_url=url, secret_key="tls", **settings)
    assert app.config["SESSION_COOKIE_SECURE"] is secure


@pytest.mark.parametrize("secure", [False, True])
def test_both_log_in_cookies_follow_the_setting(app: Flask, world: World, secure: bool) -> None:
    app.config["SESSION_COOKIE_SECURE"] = secure
    response = login(app.test_client(), world.phone("owner"))
    assert response.status_code == 302
    cookies = _cookies(response)
    assert set(cookies) >= {"session", "aq_device"}
    assert all(("; Secure" in cookie) == secure for cookie in cookies.values())
    assert all("HttpOnly" in cookie for cookie in cookies.values())


PAGES = ["/login", "/staff/me", "/staff", "/clients", "/sites", "/static/aquastand.css"]


@pytest.mark.parametrize("path", PAGES)
def test_every_answer_carries_the_security_headers(as_role: Any, world: World, path: str) -> None:
    response = as_role("owner").get(path)
    response.close()
    assert response.status_code == 200, path
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    cached = path.startswith("/static/")
    assert (response.headers.get("Cache-Control") == "no-store") != cached


def test_an_enrolment_code_page_is_not_stored(as_role: Any, world: World) -> None:
    page = post_form(as_role("owner"), f"/stands/{world.stand_a.id}/provision", {})
    assert page.status_code == 200
    assert 'class="enrol-code"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


# A script element with code in it (a data block, type="application/json", is never run).
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>|\son[a-z]+\s*=|javascript:", re.I
)


def test_no_template_has_an_inline_script_the_policy_would_block() -> None:
    found = {
        str(path.relative_to(TEMPLATES)): INLINE_SCRIPT.findall(path.read_text())
        for path in TEMPLATES.rglob("*.html")
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_logged_out_app_is_framed_by_nobody(app: Flask) -> None:
    response = app.test_client().get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
