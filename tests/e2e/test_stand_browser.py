"""The stand's touchscreen in a real browser: an attendant logs in with the PIN keypad,
registers a guest by plate (their session starts at once), watches the card's clock tick,
ends the session from the dashboard with a comment and tops up on the client's account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.money import format_kopecks
from tests.e2e.conftest import PIN, TIMEOUT_MS, StandScreen, log_in
from tests.edge.conftest import ATTENDANT_ID, events


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

    page.click(".tabs [data-tab=topup]")
    page.fill("#topup input[name=amount]", "150")
    page.click("#topup label.pick:has-text('Карта')")
    with page.expect_navigation():  # the same address again, after the redirect
        page.click("#topup button[type=submit]")
    assert "Баланс пополнен на 150,00" in page.inner_text(".flash").replace("\xa0", " ")
    shown = page.inner_text(".balance")
    assert shown == format_kopecks(stand_screen.store.balance_of(session.client_id))
    page.click(".tabs [data-tab=comments]")
    assert "Помыл коврики, просил чек" in page.inner_text(".comments")
    page.screenshot(path=str(artifacts / "stand-client-topup.png"), full_page=True)

    types = [event.type for event in events(stand_screen.store)]
    assert types == ["guest.registered", "session.started", "session.ended", "topup.recorded"]
    ended = events(stand_screen.store, "session.ended")[0]
    assert ended.payload["comment"] == "Помыл коврики, просил чек"
    topup = events(stand_screen.store, "topup.recorded")[0]
    assert (topup.payload["amount_kopecks"], topup.payload["method"]) == (15_000, "card")


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
