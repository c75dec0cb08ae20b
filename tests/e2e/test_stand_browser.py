"""The stand's touchscreen in a real browser: an attendant logs in with the PIN keypad,
registers a guest by plate (their session starts at once), watches the card's clock tick,
ends the session from the dashboard with a comment and tops up on the client's account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import StateServer
from edge.stand import StandParts
from edge.store import Store
from sync.directory import validate_directory
from sync.money import format_kopecks
from tests.edge.conftest import (
    ATTENDANT_ID,
    SITE_ID,
    STAND_ID,
    RecordingFeedback,
    directory_doc,
    events,
)

PIN = "2580"
TIMEOUT_MS = 10_000
# What a finger touches: each must be at least 48 px both ways.
TARGETS = (
    "a.button, button, .session-card, .client-row, .pick, "
    "input:not([type=hidden]):not([type=radio]), select"
)


class StandScreen:
    """The touchscreen app of a hardware-less stand, served by waitress on a free port."""

    def __init__(self, store: Store, server: StateServer) -> None:
        self.store = store
        self.url = server.url


@pytest.fixture
def stand_screen(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StandScreen]:
    """The screen; an indirect parameter sets its idle lock in seconds."""
    config = EdgeConfig(
        data_dir=tmp_path / "stand",
        stand_id=STAND_ID,
        site_id=SITE_ID,
        screen_idle_lock_s=getattr(request, "param", 120),
    )
    store = Store(config.database_path)
    staff = [
        {
            "id": ATTENDANT_ID,
            "full_name": "Анна Смирнова",
            "role": "attendant",
            "pin_hash": generate_password_hash(PIN),
        }
    ]
    store.load_directory(validate_directory(directory_doc(staff=staff)), datetime.now(UTC))
    engine = Engine(store, RecordingFeedback(), config)

    def devices() -> dict[str, Any]:
        return {"reader": {"state": "ok"}, "camera": {"state": "ok"}}

    with StateServer(StandParts(config, store, engine, devices), port=0) as server:
        server.start()
        yield StandScreen(store, server)
    store.close()


def test_attendant_registers_a_guest_ends_the_session_with_a_comment_and_tops_up(
    page: Any, stand_screen: StandScreen, artifacts: Path
) -> None:
    url = stand_screen.url
    page.set_default_timeout(TIMEOUT_MS)

    # Locked at first, the customer's display: the staff button, the name, the PIN keypad.
    page.goto(f"{url}/")
    page.wait_for_url(f"{url}/customer")
    page.click("a.customer-staff")
    page.wait_for_url(f"{url}/lock")
    page.click("a.staff:has-text('Анна Смирнова')")
    for digit in PIN:
        page.click(f".keypad button[data-digit='{digit}']")
    page.click(".keypad button[type=submit]")
    page.wait_for_url(f"{url}/")

    # A guest by plate, typed in Latin letters: their session starts at once.
    page.click("nav a:has-text('Гость')")
    page.fill("input[name=plate]", "x 321 kk 77")
    page.click("button:has-text('Зарегистрировать и начать сеанс')")
    page.wait_for_url(f"{url}/")
    card = page.locator(".session-card", has_text="Х321КК77")
    card.wait_for()
    clock = card.locator("[data-clock]")
    first = clock.inner_text()
    page.wait_for_function(
        "first => document.querySelector('.session-card [data-clock]').textContent !== first",
        arg=first,
    )
    assert clock.inner_text() != first  # the card ticks without a reload
    page.screenshot(path=str(artifacts / "stand-dashboard.png"))

    # Touch the card, end with a comment: the client's account follows.
    card.click()
    page.fill("textarea[name=comment]", "Помыл коврики, просил чек")
    page.click("button:has-text('Завершить сеанс')")
    page.wait_for_url("**/clients/*")
    assert "Сеанс завершён" in page.inner_text(".flash")
    (session,) = stand_screen.store.tables.LocalSession.select()
    assert page.url == f"{url}/clients/{session.client_id}"

    page.fill("#topup input[name=amount]", "150")
    page.click("#topup label.pick:has-text('Карта')")
    with page.expect_navigation():  # the same address again, after the redirect
        page.click("#topup button[type=submit]")
    assert "Баланс пополнен на 150,00" in page.inner_text(".flash").replace("\xa0", " ")
    shown = page.inner_text(".balance")
    assert shown == format_kopecks(stand_screen.store.balance_of(session.client_id))
    assert "Помыл коврики, просил чек" in page.inner_text(".comments")
    page.screenshot(path=str(artifacts / "stand-client-topup.png"), full_page=True)

    types = [event.type for event in events(stand_screen.store)]
    assert types == ["guest.registered", "session.started", "session.ended", "topup.recorded"]
    ended = events(stand_screen.store, "session.ended")[0]
    assert ended.payload["comment"] == "Помыл коврики, просил чек"
    topup = events(stand_screen.store, "topup.recorded")[0]
    assert (topup.payload["amount_kopecks"], topup.payload["method"]) == (15_000, "card")


def log_in(page: Any, url: str) -> None:
    page.goto(f"{url}/pin/{ATTENDANT_ID}")
    for digit in PIN:
        page.click(f".keypad button[data-digit='{digit}']")
    page.click(".keypad button[type=submit]")
    page.wait_for_url(f"{url}/")


@pytest.mark.parametrize("stand_screen", [2], indirect=True)
def test_an_untouched_screen_goes_back_to_the_customer_display(
    page: Any, stand_screen: StandScreen
) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, stand_screen.url)

    page.wait_for_url(f"{stand_screen.url}/customer")  # by itself
    assert page.inner_text(".verdict") == "Приложите карту или покажите QR-код"
    page.goto(f"{stand_screen.url}/")
    page.wait_for_url(f"{stand_screen.url}/customer")  # the server signed the attendant out
    # A PIN keypad opened and left: back to the customer's display too.
    page.goto(f"{stand_screen.url}/pin/{ATTENDANT_ID}")
    page.wait_for_url(f"{stand_screen.url}/customer")


@pytest.mark.parametrize("size", [(800, 480), (1280, 800)])
def test_the_screen_fits_the_stand_displays(
    browser: Any, stand_screen: StandScreen, artifacts: Path, size: tuple[int, int]
) -> None:
    width, height = size
    context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, stand_screen.url)
        for path in ("/", "/clients?q=А123ВС77", "/guests/new", "/members/new", "/clients/1"):
            page.goto(stand_screen.url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways at {width}x{height}"
            small = page.evaluate(
                """selector => [...document.querySelectorAll(selector)]
                    .filter(e => e.offsetParent !== null)
                    .filter(e => { const r = e.getBoundingClientRect();
                                   return r.height < 47.5 || r.width < 47.5; })
                    .map(e => e.outerHTML.slice(0, 80))""",
                TARGETS,
            )
            assert small == [], f"targets under 48px on {path}: {small}"
        page.goto(stand_screen.url + "/clients/1")
        page.screenshot(path=str(artifacts / f"stand-client-{width}x{height}.png"))
    finally:
        context.close()
