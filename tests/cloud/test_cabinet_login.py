"""Clients' log-in to the cabinet by phone and SMS code: codes, their tries and lifetime, the
send limits per phone and per address, sessions, and what the logs say."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from flask import Flask

from cloud.cabinet.auth import COOKIE, mask_phone
from cloud.clock import FixedClock
from cloud.models import CabinetAccount, CabinetSession, LoginCode
from tests.cloud.cabinethelp import cabinet_login, last_code, post
from tests.cloud.conftest import World

PHONE = "+79161234567"  # the World's member
MOMENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_member_logs_in_with_the_code_from_the_sms(app: Flask, world: World) -> None:
    browser = cabinet_login(app, PHONE)
    home = browser.get("/my/")
    assert home.status_code == 200
    assert "Иван Петров" in home.get_data(as_text=True)
    account = CabinetAccount.get(CabinetAccount.client == world.member.id)
    assert account.last_login_at is not None
    stored = LoginCode.get()
    assert stored.used_at is not None
    assert last_code(app, PHONE) not in stored.code_hash


def test_pages_need_a_cabinet_session(app: Flask, world: World) -> None:
    response = app.test_client().get("/my/washes")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/my/login?next=/my/washes")


def test_a_staff_log_in_is_no_cabinet_log_in(app: Flask, world: World, as_role: object) -> None:
    browser = as_role("owner")  # type: ignore[operator]
    response = browser.get("/my/")
    assert response.status_code == 302 and "/my/login" in response.headers["Location"]


def test_code_is_dead_after_five_wrong_tries(app: Flask, world: World) -> None:
    browser = app.test_client()
    post(browser, "/my/login", {"phone": PHONE})
    code = last_code(app, PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = post(browser, "/my/login/code", {"code": wrong})
        assert answer.status_code == 400
    answer = post(browser, "/my/login/code", {"code": code})
    assert answer.status_code == 400
    assert COOKIE not in answer.headers.get("Set-Cookie", "")
    assert LoginCode.get().tries == 5


@pytest.mark.parametrize("clock", [MOMENT], indirect=True)
def test_code_expires_after_five_minutes(app: Flask, world: World, clock: FixedClock) -> None:
    browser = app.test_client()
    post(browser, "/my/login", {"phone": PHONE})
    clock.advance(minutes=5, seconds=1)
    answer = post(browser, "/my/login/code", {"code": last_code(app, PHONE)})
    assert answer.status_code == 400


def test_a_newer_code_ends_the_older(app: Flask, world: World) -> None:
    browser = app.test_client()
    post(browser, "/my/login", {"phone": PHONE})
    first = last_code(app, PHONE)
    post(browser, "/my/login", {"phone": PHONE})
    if last_code(app, PHONE) != first:
        assert post(browser, "/my/login/code", {"code": first}).status_code == 400


@pytest.mark.parametrize("clock", [MOMENT], indirect=True)
def test_sends_are_limited_per_phone(app: Flask, world: World, clock: FixedClock) -> None:
    for number in range(5):  # each from another address: only the phone's limit counts
        answer = post(
            app.test_client(),
            "/my/login",
            {"phone": PHONE},
            environ_base={"REMOTE_ADDR": f"10.0.0.{number}"},
        )
        assert answer.status_code == 302
    refused = post(
        app.test_client(), "/my/login", {"phone": PHONE}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert refused.status_code == 429
    assert LoginCode.select().count() == 5
    clock.advance(hours=1, seconds=1)
    assert post(app.test_client(), "/my/login", {"phone": PHONE}).status_code == 302


@pytest.mark.parametrize("clock", [MOMENT], indirect=True)
def test_sends_are_limited_per_address(app: Flask, world: World, clock: FixedClock) -> None:
    browser = app.test_client()
    env = {"REMOTE_ADDR": "192.0.2.7"}
    for number in range(20):
        answer = post(browser, "/my/login", {"phone": f"+7916000{number:04d}"}, environ_base=env)
        assert answer.status_code == 302
    refused = post(browser, "/my/login", {"phone": "+79169999999"}, environ_base=env)
    assert refused.status_code == 429
    assert LoginCode.select().where(LoginCode.phone == "+79169999999").count() == 0


def test_bad_phone_is_a_clear_400(app: Flask, world: World) -> None:
    answer = post(app.test_client(), "/my/login", {"phone": "not a phone"})
    assert answer.status_code == 400
    assert "телефона" in answer.get_data(as_text=True)
    assert LoginCode.select().count() == 0


def test_logs_hold_no_code_nor_token_and_mask_phones(
    app: Flask, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # (peewee's DEBUG would print every SQL parameter)
    browser = cabinet_login(app, PHONE)
    token = browser.get_cookie(COOKIE, path="/my")
    assert token is not None
    logged = caplog.text
    assert "cabinet code sent" in logged
    assert mask_phone(PHONE) in logged
    assert PHONE not in logged
    assert last_code(app, PHONE) not in logged
    assert token.value not in logged


def test_log_out_ends_this_session(app: Flask, world: World) -> None:
    browser = cabinet_login(app, PHONE)
    other = cabinet_login(app, PHONE)
    answer = post(browser, "/my/logout")
    assert answer.status_code == 302
    assert browser.get("/my/").status_code == 302
    assert other.get("/my/").status_code == 200
    post(other, "/my/sessions/end-all")
    assert other.get("/my/").status_code == 302
    assert CabinetSession.select().where(CabinetSession.ended_at.is_null()).count() == 0
