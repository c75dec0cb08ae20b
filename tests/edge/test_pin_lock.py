"""The stand screen's PIN lock against an attacker: parallel tries through the real server
(waitress) cannot get more than the allowed tries checked, locks grow, and a restart of the
stand keeps them (issue 19)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.screen.pins import MAX_PIN_TRIES, PIN_LOCK_MAX_S, PIN_LOCK_S, lock_length_s
from edge.stand import StandParts
from edge.store import Store
from tests.e2e.conftest import PIN, serve_stand, stand_staff
from tests.edge.conftest import ATTENDANT_ID, VERSION, FakeClock, directory_doc
from tests.edge.test_screen import devices, log_in, red_line, reload

LOGIN = f"/pin/{ATTENDANT_ID}"
TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
PARALLEL_TRIES = 61


def keypad(url: str) -> tuple[requests.Session, str]:
    """A browser session on the PIN keypad and its CSRF token."""
    browser = requests.Session()
    page = browser.get(url + LOGIN, timeout=10)
    match = TOKEN.search(page.text)
    assert page.status_code == 200 and match
    return browser, match.group(1)


def try_pin(url: str, pin: str) -> int:
    browser, token = keypad(url)
    return post_pin(browser, token, url, pin)


def post_pin(browser: requests.Session, token: str, url: str, pin: str) -> int:
    answer = browser.post(
        url + LOGIN, data={"csrf_token": token, "pin": pin}, allow_redirects=False, timeout=60
    )
    return answer.status_code


def test_parallel_wrong_pins_get_only_the_allowed_tries_checked(tmp_path: Path) -> None:
    # A production-like hash (a check takes a while), so that tries overlap as they would.
    staff = [{**stand_staff()[0], "pin_hash": generate_password_hash(PIN, "pbkdf2:sha256:200000")}]
    with serve_stand(tmp_path / "stand", directory_doc(staff=staff)) as screen:
        keypads = [keypad(screen.url) for _ in range(PARALLEL_TRIES)]
        start = threading.Barrier(PARALLEL_TRIES)

        def attack(n: int) -> int:
            browser, token = keypads[n]
            start.wait()
            return post_pin(browser, token, screen.url, f"{n:06d}")

        with ThreadPoolExecutor(max_workers=PARALLEL_TRIES) as pool:
            answers = list(pool.map(attack, range(PARALLEL_TRIES)))

        # 400: the PIN was checked and wrong; 429: refused unchecked, the staff member locked.
        assert sorted(answers) == [400] * MAX_PIN_TRIES + [429] * (PARALLEL_TRIES - MAX_PIN_TRIES)
        assert try_pin(screen.url, PIN) == 429  # the right PIN, after the limit


def test_a_restart_of_the_stand_keeps_the_lock(tmp_path: Path) -> None:
    document = directory_doc(staff=stand_staff())
    with serve_stand(tmp_path / "stand", document) as screen:
        for _ in range(MAX_PIN_TRIES):
            assert try_pin(screen.url, "000000") == 400
        assert try_pin(screen.url, PIN) == 429

    with serve_stand(tmp_path / "stand", document) as restarted:  # same data directory
        assert try_pin(restarted.url, PIN) == 429
        rows = restarted.store.tables.PinFailures.select()
        assert [(row.staff_id, row.locks) for row in rows] == [(ATTENDANT_ID, 1)]


@pytest.fixture
def screen(
    store: Store, engine: Engine, config: EdgeConfig, clock: FakeClock
) -> Iterator[FlaskClient]:
    """The screen through Flask's test client, the attendant's PIN 2580 (a 4-digit PIN set
    before 6 digits were required: it keeps working)."""
    reload(store, clock, VERSION + 1)
    with create_state_app(StandParts(config, store, engine, devices)).test_client() as client:
        yield client


def fail_until_locked(screen: FlaskClient) -> str:
    """Wrong PINs until the lock; the red line of the try that locked."""
    for _ in range(MAX_PIN_TRIES - 1):
        assert log_in(screen, "000000").status_code == 400
    last = log_in(screen, "000000")
    assert last.status_code == 400
    return red_line(last)


def test_each_next_lock_lasts_twice_as_long_and_the_right_pin_starts_again(
    screen: FlaskClient, clock: FakeClock
) -> None:
    assert f"заблокирован на {PIN_LOCK_S} с" in fail_until_locked(screen)
    clock.advance(PIN_LOCK_S + 1)
    assert f"заблокирован на {2 * PIN_LOCK_S} с" in fail_until_locked(screen)
    clock.advance(PIN_LOCK_S + 1)
    refused = log_in(screen)  # the second lock is not over after the first one's length
    assert refused.status_code == 429 and "Подождите" in red_line(refused)
    clock.advance(PIN_LOCK_S)

    assert log_in(screen).status_code == 302
    assert f"заблокирован на {PIN_LOCK_S} с" in fail_until_locked(screen)  # back to a minute


def test_locks_are_capped_and_a_clock_set_back_does_not_lengthen_one(
    screen: FlaskClient, clock: FakeClock
) -> None:
    assert [lock_length_s(n) for n in range(7)] == [60, 120, 240, 480, 960, 1800, 1800]
    assert lock_length_s(10**6) == PIN_LOCK_MAX_S
    fail_until_locked(screen)
    clock.wall = clock.wall.replace(year=clock.wall.year - 1)  # the wall clock a year back
    refused = log_in(screen)
    assert refused.status_code == 429
    assert f"Подождите {PIN_LOCK_S} с" in red_line(refused)
