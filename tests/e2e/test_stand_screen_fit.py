"""Every page of the stand's touchscreen fits its display without scrolling: Chromium at the
official 7" display's 800x480, at 1024x600 and at 1280x800 visits each page of a stand a month
into its work (a regular with a long name, four cars, three cards, two phones, a history of
sessions, top-ups and comments; three sessions running), with each tab of the client's account
and the pages that carry a red line, and checks that the page does not scroll, that every
control of its actions lies inside the window and is a finger's size, and that lists scroll
inside themselves with their first row in view. A screenshot of each is kept in the test's
temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PIN, REGULAR, TIMEOUT_MS, StandScreen
from tests.edge.conftest import ATTENDANT_ID, IVAN

# What a finger touches on a page (the keyboard's keys are checked by the keyboard's tests).
CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, .pick, .session-card"
MEASURE = """controls => {
  const height = window.innerHeight, width = window.innerWidth;
  const shown = e => e.offsetParent !== null && !e.closest('#osk');
  const box = e => e.getBoundingClientRect();
  const out = r => r.top < 0 || r.left < 0 || r.bottom > height + 0.5 || r.right > width + 0.5;
  const name = e => e.outerHTML.slice(0, 90);
  const all = [...document.querySelectorAll(controls)].filter(shown);
  const lists = [...document.querySelectorAll('.scroll')].filter(shown);
  return {
    scrollHeight: document.scrollingElement.scrollHeight,
    scrollWidth: document.scrollingElement.scrollWidth,
    outside: all.filter(e => !e.closest('.scroll') && out(box(e))).map(name),
    small: all.filter(e => e.type !== 'radio')
              .filter(e => box(e).height < 47.5 || box(e).width < 47.5).map(name),
    listsCut: lists.filter(l => { const first = l.querySelector('tbody tr') || l.firstElementChild;
                                  return out(box(l)) || (first && out(box(first))); }).map(name),
  };
}"""


class Visit:
    """One browser window of a given size on the stand's screen, checking each page it shows."""

    def __init__(self, page: Any, url: str, size: tuple[int, int], shots: Path) -> None:
        self.page, self.url, self.size, self.shots = page, url, size, shots
        self.seen: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        if page.locator("#osk").is_visible():  # a field took the focus: put the keyboard away
            page.click("#osk [data-osk-key=done]")
        width, height = self.size
        page.screenshot(path=str(self.shots / f"{name}-{width}x{height}.png"))
        found = page.evaluate(MEASURE, CONTROLS)
        where = f"{name} at {width}x{height}"
        assert found["scrollHeight"] <= height, f"{where} scrolls: {found['scrollHeight']} px"
        assert found["scrollWidth"] <= width, f"{where} scrolls sideways"
        assert found["outside"] == [], f"{where}: controls outside the window"
        assert found["small"] == [], f"{where}: targets under 48 px"
        assert found["listsCut"] == [], f"{where}: a list is cut by the window"
        self.seen.append(name)

    def open(self, name: str, path: str) -> None:
        self.page.goto(self.url + path)
        self.check(name)

    def tabs(self, name: str) -> None:
        """Each tab of the client's account in turn."""
        for tab in self.page.locator(".tabs [data-tab]").all():
            tab.click()
            self.check(f"{name}-{tab.get_attribute('data-tab')}")

    def submit(self, shot: str, form: str, **fields: str) -> None:
        """Fill ``fields`` of ``form``, send it and check the page that comes back."""
        for field, value in fields.items():
            self.page.fill(f"{form} [name={field}]", value)
        if self.page.locator("#osk").is_visible():
            self.page.click("#osk [data-osk-key=done]")
        with self.page.expect_navigation():
            self.page.click(f"{form} button[type=submit]")
        self.check(shot)


@pytest.mark.parametrize("size", [(800, 480), (1024, 600), (1280, 800)], ids=str)
def test_every_page_fits_the_stand_display_without_scrolling(
    browser: Any, busy_stand: StandScreen, tmp_path: Path, size: tuple[int, int]
) -> None:
    width, height = size
    context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        visit = Visit(page, busy_stand.url, size, tmp_path)
        regular_session = busy_stand.store.open_session_of(REGULAR)
        assert regular_session is not None

        visit.open("lock", "/lock")
        visit.open("pin", f"/pin/{ATTENDANT_ID}")
        for digit in PIN:
            page.click(f".keypad button[data-digit='{digit}']")
        page.click(".keypad button[type=submit]")
        page.wait_for_url(busy_stand.url + "/")
        visit.check("dashboard")
        visit.open("end", f"/sessions/{regular_session.uuid}/end")
        visit.open("search", "/clients?q=ов")
        visit.open("regular", f"/clients/{REGULAR}")
        visit.tabs("regular")
        visit.open("ivan", f"/clients/{IVAN}")
        visit.tabs("ivan")
        page.click(".tabs [data-tab=topup]")
        visit.submit("ivan-topup-refused", "#topup", amount="сто")
        visit.open("guest", "/guests/new")
        visit.submit("guest-refused", "#guest", plate="А123ВС77")  # Ivan's: a link to him
        assert page.locator("main a:has-text('Открыть учётную запись владельца')").is_visible()
        visit.open("member", "/members/new")
        visit.submit("member-refused", "#member", name="Ира", phone="12345")
        visit.open("not-found", "/clients/999999")
        page.evaluate(  # a form sent without its CSRF token: the error page
            """() => { const form = document.createElement('form');
                       form.method = 'post'; form.action = '/logout';
                       document.body.appendChild(form); form.submit(); }"""
        )
        page.wait_for_selector("main .error-line")
        visit.check("error")

        assert len(visit.seen) == 24, visit.seen
    finally:
        context.close()
