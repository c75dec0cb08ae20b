"""Passwords (issue 19): the common ones are refused (zxcvbn's list, ASVS 6.2.4), one's own
is changed only with the current one (and guessing it through an open session is throttled),
and every staff member has a page to change it and manage their own API tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from werkzeug.security import check_password_hash

from cloud.clock import FixedClock
from cloud.models import ApiToken, User
from cloud.staff.auth import common_passwords
from tests.cloud.conftest import PASSWORD, ROLES, World, login, post_form

NEW = "sea-otter-lantern-4"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _hash(user: User) -> str:
    return str(User.get_by_id(user.id).password_hash)


def _change_own(browser: Any, current: str, new: str = NEW, again: str | None = None) -> Any:
    data = {"current_password": current, "password": new, "password_again": again or new}
    return post_form(browser, "/staff/me/password", data)


def test_the_list_is_zxcvbns_common_passwords() -> None:
    listed = common_passwords()
    assert len(listed) == 30_000
    assert {"password", "qwerty123", "12345678", "iloveyou"} <= listed
    assert PASSWORD not in listed and NEW not in listed


@pytest.mark.parametrize("common", ["password1", "Qwerty123", "1q2w3e4r", "PASSWORD"])
def test_a_common_password_is_refused_and_nothing_changes(
    as_role: Any, world: World, app: Flask, common: str
) -> None:
    operator = world.users["operator"]
    before = _hash(operator)
    path = f"/staff/{operator.id}/password"
    response = post_form(
        as_role("administrator"), path, {"password": common, "password_again": common}
    )
    assert response.status_code == 400
    assert "самых распространённых паролей" in _text(response)
    assert _hash(operator) == before

    created = app.test_client().post(
        "/api/v1/staff",
        json={
            "full_name": "Новый",
            "phone": "+79005551234",
            "role": "attendant",
            "password": common,
        },
        headers=world.bearer("owner"),
    )
    assert created.status_code == 400
    assert created.get_json()["error"]["code"] == "common_password"
    assert not User.select().where(User.phone == "+79005551234").exists()


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_member_changes_their_own_password_with_the_current_one(
    app: Flask, as_role: Any, world: World, role: str
) -> None:
    user = world.users[role]
    browser, other_device = as_role(role), as_role(role)
    page = _text(browser.get("/staff/me"))
    assert 'name="current_password"' in page and user.full_name in page

    response = _change_own(browser, PASSWORD)

    assert response.status_code == 302
    assert check_password_hash(_hash(user), NEW)
    assert browser.get("/staff/me").status_code == 200  # this device stays signed in
    assert other_device.get("/staff/me").status_code == 302  # the others are signed out
    assert login(app.test_client(), world.phone(role)).status_code == 401
    assert login(app.test_client(), world.phone(role), NEW).status_code == 302
    assert (
        not ApiToken.select()
        .where((ApiToken.user == user) & ApiToken.revoked_at.is_null())
        .exists()
    )


def test_a_wrong_current_password_changes_nothing(as_role: Any, world: World) -> None:
    operator = world.users["operator"]
    before = _hash(operator)
    response = _change_own(as_role("operator"), "not-my-password")
    assert response.status_code == 400
    assert "Текущий пароль введён неверно" in _text(response)
    assert _hash(operator) == before
    mismatch = _change_own(as_role("operator"), PASSWORD, NEW, NEW + "x")
    assert mismatch.status_code == 400 and _hash(operator) == before


def test_an_open_session_cannot_be_used_to_guess_the_password(
    app: Flask, as_role: Any, world: World, clock: FixedClock
) -> None:
    """Someone at a browser left signed in tries passwords on the change form: after the
    free tries they wait, and the right one is not checked meanwhile."""
    browser = as_role("administrator")
    for guess in range(app.config["AQ"].login_free_failures):
        assert _change_own(browser, f"guess-{guess}").status_code == 400
    refused = _change_own(browser, PASSWORD)
    assert refused.status_code == 429
    assert "Повторите через" in _text(refused)
    clock.advance(seconds=app.config["AQ"].login_delay_seconds)
    assert _change_own(browser, PASSWORD).status_code == 302


def test_ones_own_password_on_the_staff_card_needs_the_current_one(
    as_role: Any, world: World
) -> None:
    admin = world.users["administrator"]
    browser = as_role("administrator")
    assert 'name="current_password"' in _text(browser.get(f"/staff/{admin.id}"))
    path = f"/staff/{admin.id}/password"
    refused = post_form(browser, path, {"password": NEW, "password_again": NEW})
    assert refused.status_code == 400
    assert not check_password_hash(_hash(admin), NEW)
    # Someone else's password is set without theirs, by who manages them.
    operator = world.users["operator"]
    assert 'name="current_password"' not in _text(browser.get(f"/staff/{operator.id}"))
    done = post_form(
        browser, f"/staff/{operator.id}/password", {"password": NEW, "password_again": NEW}
    )
    assert done.status_code == 302 and check_password_hash(_hash(operator), NEW)


def test_an_operator_issues_and_revokes_their_own_token(
    app: Flask, as_role: Any, world: World
) -> None:
    operator = world.users["operator"]
    browser = as_role("operator")
    issued = post_form(browser, "/staff/me/tokens", {})
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    token = re.search(r'value="(aqs_[^"]+)"', _text(issued))
    assert token
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    assert app.test_client().get("/api/v1/me", headers=headers).get_json()["id"] == operator.id
    row = ApiToken.select().where(ApiToken.user == operator).order_by(ApiToken.id.desc()).get()
    assert row.issued_by_id == operator.id

    revoked = post_form(browser, "/staff/me/tokens/revoke", {"token_id": str(row.id)})
    assert revoked.status_code == 302
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    # Another's token is not theirs to revoke.
    owners = ApiToken.get(ApiToken.user == world.users["owner"])
    assert (
        post_form(browser, "/staff/me/tokens/revoke", {"token_id": str(owners.id)}).status_code
        == 404
    )
    assert ApiToken.get_by_id(owners.id).revoked_at is None
