"""A shift on the stand's screen in Chromium at the 7" display's 800x480: the attendant opens
it with the drawer's cash typed on the screen's digit keys, takes a cash and a card top-up,
closes it by counting the cash and reads the report; each page fits without scrolling, and
the two shift events wait in the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import TIMEOUT_MS, StandScreen, log_in
from tests.e2e.test_stand_keyboard import layout, tap_text
from tests.e2e.test_stand_screen_fit import Visit
from tests.edge.conftest import ATTENDANT_ID, IVAN, events


def fill(page: Any, field: str, value: str) -> None:
    """Fill a field (it opens the screen's keyboard), then put the keyboard away."""
    page.fill(field, value)
    page.locator("#osk").wait_for(state="visible")
    page.click("#osk [data-osk-key=done]")
    page.locator("#osk").wait_for(state="hidden")


@pytest.mark.browser
def test_a_shift_is_opened_and_closed_on_the_stand_screen(
    browser: Any, stand_screen: StandScreen, tmp_path: Path
) -> None:
    context = browser.new_context(locale="ru-RU", viewport={"width": 800, "height": 480})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        visit = Visit(page, stand_screen.url, (800, 480), tmp_path)
        log_in(page, stand_screen.url)

        page.click("nav a:has-text('Смена')")
        page.wait_for_url("**/shift")
        page.click("#open-shift input[name=cash]")
        assert page.is_visible("#osk") and layout(page) == "digits"
        tap_text(page, "1000")
        assert page.input_value("#open-shift input[name=cash]") == "1000"
        page.click("#osk [data-osk-key=done]")
        page.locator("#osk").wait_for(state="hidden")
        with page.expect_navigation():
            page.click("#open-shift button[type=submit]")
        visit.check("shift-open")

        for amount, method in (("500", "cash"), ("250", "card")):
            page.goto(f"{stand_screen.url}/clients/{IVAN}?tab=topup")
            assert not page.locator("#no-shift").is_visible()
            fill(page, "#topup input[name=amount]", amount)
            page.check(f"#topup input[value={method}]")
            with page.expect_navigation():
                page.click("#topup button[type=submit]")

        page.goto(f"{stand_screen.url}/shift")
        assert page.inner_text("[data-total=expected]") == "1\xa0500,00\xa0₽"
        fill(page, "#close-shift input[name=counted]", "1490")
        with page.expect_navigation():
            page.click("#close-shift button[type=submit]")
        page.wait_for_selector("#shift-report")
        visit.check("shift-report")

        assert page.inner_text("[data-total=cash]") == "500,00\xa0₽"
        assert page.inner_text("[data-total=counted]") == "1\xa0490,00\xa0₽"
        assert page.inner_text("[data-total=difference]") == "-10,00\xa0₽"
        assert page.inner_text("[data-total=card]") == "250,00\xa0₽"
        opened, closed = events(stand_screen.store, "shift.opened") + events(
            stand_screen.store, "shift.closed"
        )
        assert opened.actor == closed.actor == str(ATTENDANT_ID)
        assert (opened.payload["cash_kopecks"], closed.payload["counted_kopecks"]) == (
            100_000,
            149_000,
        )
    finally:
        context.close()
