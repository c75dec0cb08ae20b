"""Log-in throttling against an attacker (issue 19): growing delays per account and address
instead of a lock of the account, a known browser that failures from elsewhere never slow
down, parallel tries that cannot slip past, and the owner's page of failed log-ins."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from cloud.clock import FixedClock
from cloud.config import CloudConfig
from cloud.models import FailedLogin, LoginThrottle
from cloud.staff.auth import address_key, delay_s
from cloud.staff.loginpages import DEVICE_COOKIE
from tests.cloud.conftest import PASSWORD, World, post_form

HOME, ATTACKER, ELSEWHERE = "192.0.2.10", "203.0.113.5", "198.51.100.7"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def try_login(
    browser: FlaskClient, phone: str, password: str = PASSWORD, address: str = ATTACKER
) -> Any:
    data = {"phone": phone, "password": password}
    return post_form(browser, "/login", data, environ_base={"REMOTE_ADDR": address})


def known_browser(app: Flask, world: World) -> FlaskClient:
    """The owner's browser after one log-in at home (it keeps the device cookie), signed out."""
    browser = app.test_client()
    assert try_login(browser, world.phone("owner"), address=HOME).status_code == 302
    assert browser.get_cookie(DEVICE_COOKIE) is not None
    post_form(browser, "/logout", {})
    return browser


def attack(app: Flask, clock: FixedClock, phone: str, counted: int) -> list[int]:
    """Wrong passwords from ``ATTACKER`` until ``counted`` were checked, waiting out each delay
    as a patient attacker would; the statuses seen."""
    seen: list[int] = []
    while seen.count(401) < counted:
        answer = try_login(app.test_client(), phone, "wrong-password")
        seen.append(answer.status_code)
        if answer.status_code == 429:
            clock.advance(seconds=int(answer.headers["Retry-After"]))
    return seen


def test_wrong_passwords_from_one_address_earn_growing_delays_not_a_lock(
    app: Flask, world: World, clock: FixedClock
) -> None:
    config: CloudConfig = app.config["AQ"]
    for _ in range(config.login_free_failures):
        assert try_login(app.test_client(), world.phone("owner"), "wrong").status_code == 401
    waits = []
    for _ in range(3):
        refused = try_login(app.test_client(), world.phone("owner"), "wrong")
        assert refused.status_code == 429
        assert "Повторите через" in refused.get_data(as_text=True)
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(seconds=waits[-1])
        assert try_login(app.test_client(), world.phone("owner"), "wrong").status_code == 401
    assert waits == [30, 60, 120]

    # Even the right password is not checked within a delay: guessing gains nothing.
    assert try_login(app.test_client(), world.phone("owner")).status_code == 429
    clock.advance(seconds=240)
    assert try_login(app.test_client(), world.phone("owner")).status_code == 302


def test_many_wrong_passwords_do_not_stop_the_owner_from_a_known_browser(
    app: Flask, world: World, clock: FixedClock
) -> None:
    owners_browser = known_browser(app, world)
    config: CloudConfig = app.config["AQ"]
    seen = attack(app, clock, world.phone("owner"), config.login_free_failures_per_account + 5)
    assert 429 in seen
    assert try_login(app.test_client(), world.phone("owner")).status_code == 429

    # From home, and even from the attacker's own address (one NAT): at once.
    assert try_login(owners_browser, world.phone("owner"), address=ATTACKER).status_code == 302
    assert FailedLogin.select().where(FailedLogin.known_browser).count() == 0


def test_many_wrong_passwords_delay_the_owner_elsewhere_only_for_the_delay(
    app: Flask, world: World, clock: FixedClock
) -> None:
    config: CloudConfig = app.config["AQ"]
    attack(app, clock, world.phone("owner"), config.login_free_failures_per_account + 2)

    new_browser = app.test_client()
    refused = try_login(new_browser, world.phone("owner"), address=ELSEWHERE)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= config.login_max_delay_seconds
    clock.advance(seconds=wait)
    assert try_login(new_browser, world.phone("owner"), address=ELSEWHERE).status_code == 302
    # The right password cleared the account's delays: the attacker starts from zero.
    assert not LoginThrottle.select().where(LoginThrottle.key.startswith("phone:")).exists()


def test_a_known_browser_is_throttled_on_its_own_failures(app: Flask, world: World) -> None:
    owners_browser = known_browser(app, world)
    config: CloudConfig = app.config["AQ"]
    for _ in range(config.login_free_failures):
        answer = try_login(owners_browser, world.phone("owner"), "wrong", address=HOME)
        assert answer.status_code == 401
    assert try_login(owners_browser, world.phone("owner"), address=HOME).status_code == 429
    assert FailedLogin.select().where(FailedLogin.known_browser).count() == 5
    # Another staff member at that address is not slowed by it.
    assert try_login(app.test_client(), world.phone("operator"), address=HOME).status_code == 302


def test_a_forged_device_cookie_makes_no_browser_known(
    app: Flask, world: World, clock: FixedClock
) -> None:
    owners_browser = known_browser(app, world)
    cookie = owners_browser.get_cookie(DEVICE_COOKIE)
    assert cookie is not None
    forged = app.test_client()
    forged.set_cookie(DEVICE_COOKIE, cookie.value[:-2] + "xx")
    attack(app, clock, world.phone("owner"), app.config["AQ"].login_free_failures)
    assert try_login(forged, world.phone("owner")).status_code == 429


def test_a_throttled_real_account_and_an_unknown_phone_get_the_same_answer(
    app: Flask, world: World
) -> None:
    answers = []
    for phone in (world.phone("owner"), "+79009999999"):
        for _ in range(app.config["AQ"].login_free_failures):
            assert try_login(app.test_client(), phone, "wrong").status_code == 401
        refused = try_login(app.test_client(), phone)
        page = re.sub(r'(csrf[_-]token"[^>]*?(?:value|content)=)"[^"]*"', "", refused.text)
        page = re.sub(r'name="phone" type="tel" autocomplete="username" value="[^"]*"', "", page)
        answers.append((refused.status_code, refused.headers["Retry-After"], page))
    assert answers[0] == answers[1]


def test_failures_below_the_free_ones_cost_nothing(app: Flask, world: World) -> None:
    for _ in range(app.config["AQ"].login_free_failures - 1):
        try_login(app.test_client(), world.phone("owner"), "wrong")
    assert try_login(app.test_client(), world.phone("owner")).status_code == 302


def test_quiet_failures_are_forgotten(app: Flask, world: World, clock: FixedClock) -> None:
    config: CloudConfig = app.config["AQ"]
    for _ in range(config.login_free_failures - 1):
        try_login(app.test_client(), world.phone("owner"), "wrong")
    clock.advance(hours=config.login_forget_hours, seconds=1)
    try_login(app.test_client(), world.phone("owner"), "wrong")
    assert try_login(app.test_client(), world.phone("owner")).status_code == 302


def test_an_address_guessing_many_accounts_is_throttled_there_only(
    app: Flask, world: World
) -> None:
    app.config["AQ"].login_free_failures_per_address = 3
    for number in range(3):
        answer = try_login(app.test_client(), f"+7901000000{number}", "guess-guess")
        assert answer.status_code == 401
    assert try_login(app.test_client(), world.phone("owner")).status_code == 429
    assert try_login(app.test_client(), world.phone("owner"), address=HOME).status_code == 302


def test_delays_double_up_to_the_maximum_and_ipv6_counts_by_its_64() -> None:
    config = CloudConfig()
    assert [delay_s(n, 5, config) for n in (0, 4, 5, 6, 7, 10, 1000)] == [
        0,
        0,
        30,
        60,
        120,
        900,
        900,
    ]
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("10.0.0.1") == "addr:10.0.0.1"


# --- parallel tries through a real server ----------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_parallel_wrong_passwords_get_only_the_free_tries_checked(
    app: Flask, world: World, served: str
) -> None:
    tries = 30
    browsers = []
    for _ in range(tries):
        browser = requests.Session()
        page = browser.get(served + "/login", timeout=10).text
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match
        browsers.append((browser, match.group(1)))
    start = threading.Barrier(tries)

    def guess(n: int) -> int:
        browser, token = browsers[n]
        start.wait()
        data = {"csrf_token": token, "phone": world.phone("owner"), "password": f"guess-{n}"}
        answer = browser.post(served + "/login", data=data, allow_redirects=False, timeout=60)
        return answer.status_code

    with ThreadPoolExecutor(max_workers=tries) as pool:
        answers = list(pool.map(guess, range(tries)))

    free = app.config["AQ"].login_free_failures
    assert sorted(answers) == [401] * free + [429] * (tries - free)
    assert FailedLogin.select().count() == free


# --- the owner's page ------------------------------------------------------------------------


def test_the_owner_sees_failed_log_ins_and_clears_a_delay(
    app: Flask, world: World, as_role: Any
) -> None:
    for _ in range(app.config["AQ"].login_free_failures):
        try_login(app.test_client(), world.phone("operator"), "wrong")
    assert try_login(app.test_client(), world.phone("operator")).status_code == 429

    owner = as_role("owner")
    page = owner.get("/staff/failed-logins").get_data(as_text=True)
    assert world.phone("operator") in page and ATTACKER in page
    assert "Снять задержку" in page
    assert as_role("administrator").get("/staff/failed-logins").status_code == 403

    for row in list(LoginThrottle.select().where(LoginThrottle.failures > 0)):
        answer = post_form(owner, "/staff/failed-logins/clear", {"throttle_id": str(row.id)})
        assert answer.status_code == 302
    assert try_login(app.test_client(), world.phone("operator")).status_code == 302

    again = post_form(owner, "/staff/failed-logins/clear", {"throttle_id": "999999"})
    assert "уже снята" in owner.get(again.headers["Location"]).get_data(as_text=True)
