"""Log-in and log-out: phone + password, CSRF, answers that reveal nothing, safe redirects,
sessions that end when they should (throttling: tests/cloud/test_login_throttle.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.models import User
from tests.cloud.conftest import PASSWORD, World, csrf_token, login, post_form


def _logged_in_as(browser: FlaskClient) -> str | None:
    """The name shown in the top bar, or None when the browser is not logged in."""
    page = browser.get("/staff/new")
    if page.status_code == 302:
        return None
    match = re.search(r'<span class="whoami">([^<]+)</span>', page.get_data(as_text=True))
    return match.group(1) if match else None


def _answer(response: Any) -> tuple[int, str]:
    """Status and page without what differs between any two browsers (tokens, typed phone)."""
    page = response.get_data(as_text=True)
    page = re.sub(r'(csrf[_-]token"[^>]*?(?:value|content)=)"[^"]*"', r'\1""', page)
    page = re.sub(r'name="phone" type="tel" autocomplete="username" value="[^"]*"', "PHONE", page)
    return response.status_code, page


def test_phone_typed_any_way_logs_in(client: FlaskClient, world: World) -> None:
    response = login(client, "8 (900) 000-00-04")
    assert response.status_code == 302
    assert _logged_in_as(client) == "Сотрудник owner"


def test_wrong_password_is_refused_with_a_message(client: FlaskClient, world: World) -> None:
    response = login(client, world.phone("owner"), "not-the-password")
    assert response.status_code == 401
    assert "Неверный телефон или пароль" in response.get_data(as_text=True)
    assert _logged_in_as(client) is None


def test_unknown_phone_and_wrong_password_get_the_same_answer(app: Flask, world: World) -> None:
    unknown = login(app.test_client(), "+79009999999", "whatever-1")
    wrong = login(app.test_client(), world.phone("owner"), "whatever-1")
    assert _answer(unknown) == _answer(wrong)


@pytest.mark.parametrize(
    "data",
    [{"phone": "", "password": PASSWORD}, {"phone": "+79000000004", "password": ""}],
    ids=["no phone", "no password"],
)
def test_empty_field_is_refused_with_a_message(
    client: FlaskClient, world: World, data: dict[str, str]
) -> None:
    response = post_form(client, "/login", data)
    assert response.status_code == 400
    assert "Введите телефон и пароль" in response.get_data(as_text=True)
    assert _logged_in_as(client) is None


def test_login_without_csrf_token_is_refused(client: FlaskClient, world: World) -> None:
    response = client.post("/login", data={"phone": world.phone("owner"), "password": PASSWORD})
    assert response.status_code == 400
    assert _logged_in_as(client) is None


def test_inactive_user_cannot_log_in(client: FlaskClient, world: World) -> None:
    User.update(active=False).where(User.id == world.users["operator"].id).execute()
    assert login(client, world.phone("operator")).status_code == 401


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("/staff", "/staff"),
        ("/staff/new?x=1", "/staff/new?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_next_redirects_only_to_local_paths(
    client: FlaskClient, world: World, next_path: str, expected: str
) -> None:
    response = post_form(
        client,
        "/login",
        {"phone": world.phone("owner"), "password": PASSWORD},
        query_string={"next": next_path},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_logout_is_a_post_with_csrf(client: FlaskClient, world: World) -> None:
    login(client, world.phone("owner"))
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert _logged_in_as(client) == "Сотрудник owner"
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/staff/new")})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert _logged_in_as(client) is None


def test_logout_ends_the_users_other_sessions(app: Flask, world: World) -> None:
    phone, tablet = app.test_client(), app.test_client()
    login(phone, world.phone("owner"))
    login(tablet, world.phone("owner"))
    post_form(phone, "/logout", {})
    bounced = tablet.get("/staff")
    assert bounced.status_code == 302
    assert "/login" in bounced.headers["Location"]


def test_language_switch_goes_back_only_to_this_site(client: FlaskClient, world: World) -> None:
    back = client.get("/lang/en", headers={"Referer": "http://localhost/staff?q=1"})
    assert back.headers["Location"] == "/staff?q=1"
    away = client.get("/lang/ru", headers={"Referer": "https://evil.example/phish"})
    assert away.headers["Location"] == "/"
