"""The customer's display in a real browser at the official 7" screen's 800x480: a simulated
stand (nfcpy udp reader, MockFactory pins) serves ``/customer`` with no log-in; a card tapped
on the reader changes the page without a reload, in Russian and in English. The signed-out
stand screen is that page, and its staff button leads to the log-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.edge.conftest import EXPRESS_CARD, IVAN_CARD, Running, StartStand

TIMEOUT_MS = 15_000
WIDTH, HEIGHT = 800, 480


def open_page(browser: Any, url: str) -> Any:
    context = browser.new_context(locale="ru-RU", viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page


def verdict_appears(page: Any, kind: str, text: str) -> None:
    """Wait until the page shows ``kind`` with ``text``, redrawn in place (no reload)."""
    page.wait_for_function(
        """([kind, text]) => {
            const d = document.getElementById("display");
            return d.dataset.kind === kind && d.querySelector("[data-text]").textContent === text;
        }""",
        arg=[kind, text],
    )
    assert page.evaluate("window.notReloaded") is True


def fits(page: Any) -> None:
    """Nothing off the 800x480 screen (no scrolling either way), and the buttons big enough
    for a finger (48 px both ways)."""
    scroll = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert scroll[0] <= WIDTH and scroll[1] <= HEIGHT, scroll
    sizes = page.evaluate(
        """[...document.querySelectorAll("a")].map(e => {
            const r = e.getBoundingClientRect(); return [r.width, r.height]; })"""
    )
    assert len(sizes) == 3 and all(w >= 48 and h >= 48 for w, h in sizes), sizes


def test_a_tap_shows_its_verdict_on_the_customer_page_in_russian_and_english(
    browser: Any, start_stand: StartStand, artifacts: Path
) -> None:
    running: Running = start_stand()
    url = running.url

    # The stand's own screen, nobody signed in: the customer's display.
    page = open_page(browser, f"{url}/")
    try:
        page.wait_for_url(f"{url}/customer")
        assert page.inner_text(".verdict") == "Приложите карту или покажите QR-код"
        page.evaluate("window.notReloaded = true")
        fits(page)
        page.screenshot(path=str(artifacts / "customer-idle-800x480.png"))

        running.tap(IVAN_CARD)
        verdict_appears(page, "started", "Иван, сеанс начат. Тариф «Стандарт»")
        assert page.inner_text(".figures").replace("\xa0", " ").split("\n") == [
            "Баланс",
            "1 000,00 ₽",
        ]
        fits(page)
        page.screenshot(path=str(artifacts / "customer-started-800x480.png"))
        running.let_the_card_go()

        # The staff's way in, discreet but there.
        page.click("a.customer-staff:has-text('Персонал')")
        page.wait_for_url(f"{url}/lock")
        assert "Анна Смирнова" in page.inner_text("main")
    finally:
        page.context.close()

    # A second screen in English: another client at the busy post is refused.
    page = open_page(browser, f"{url}/customer?lang=en")
    try:
        page.evaluate("window.notReloaded = true")
        running.tap(EXPRESS_CARD)
        verdict_appears(page, "refused", "This post is busy")
        fits(page)
        page.screenshot(path=str(artifacts / "customer-refused-en-800x480.png"))
        # Then the wash that goes on, in English.
        verdict_appears(page, "running", "Washing")
        labels = page.locator(".figures dt").all_inner_texts()
        assert labels == ["Time", "Cost", "Balance left"]
        fits(page)
        page.screenshot(path=str(artifacts / "customer-running-en-800x480.png"))
    finally:
        page.context.close()
