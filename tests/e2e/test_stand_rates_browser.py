"""The tariffs' rates on the stand's 7" display in Chromium at 800x480: on the guest's and the
client's pages, and on a running session's end page, the rate table fits the screen (nothing
scrolls sideways, the page does not scroll) and shows the chosen tariff's name and its row in
force now; a tariff chosen in the list brings its own into view, even when its row in force
is below the room the table has. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.engine import Engine
from sync.schedule import Window, schedule_to_json
from tests.e2e.conftest import TIMEOUT_MS, StandScreen, log_in, serve_stand, stand_staff
from tests.edge.conftest import ATTENDANT_ID, EXPRESS, EXPRESS_FAN, IVAN, FakeClock
from tests.edge.test_ratecard import msk, scheduled_directory

WIDTH, HEIGHT = 800, 480
# «Экспресс» gets a long week of windows, so the table is taller than its room and scrolls.
EXPRESS_WINDOWS = (
    Window((0, 1, 2, 3, 4), 7 * 60, 10 * 60, 2500, 3500),
    Window((0, 1, 2, 3, 4), 17 * 60, 20 * 60, 2500, 3500),
    Window((0, 2, 4), 12 * 60, 14 * 60, 1500, 2500),
    Window((5, 6), 8 * 60, 22 * 60, 3000, 4000),
    Window((6,), 22 * 60, 7 * 60, 1000, 1500),  # Sunday night into Monday
)
MEASURE = """() => {
  const rates = document.getElementById('rates'), box = rates.getBoundingClientRect();
  const band = rates.querySelector("tbody.chosen .tariff-name th");
  const now = rates.querySelector("tbody.chosen tr.now");
  const inView = e => { const r = e.getBoundingClientRect();
                        return r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5; };
  return {
    pageWidth: document.scrollingElement.scrollWidth,
    pageHeight: document.scrollingElement.scrollHeight,
    left: box.left, right: box.right, top: box.top, bottom: box.bottom,
    innerWidth: rates.scrollWidth, boxWidth: rates.clientWidth,
    chosen: band ? band.innerText : null,
    bandInView: !!band && inView(band),
    nowText: now ? now.innerText : null,
    nowInView: !!now && inView(now),
  };
}"""


@pytest.fixture
def night_stand(tmp_path: Path) -> Iterator[StandScreen]:
    """A stand on Saturday night, 23:30 in Moscow: «Стандарт»'s night rate is in force; a
    session of a member whose own tariff is «Экспресс» is running."""
    doc = scheduled_directory(staff=stand_staff())
    express = next(t for t in doc["tariffs"] if t["id"] == EXPRESS)
    express["versions"][0]["rates"]["schedule"] = schedule_to_json(EXPRESS_WINDOWS)
    clock = FakeClock()
    clock.wall = msk(5, 23, 30)

    def seed(engine: Engine) -> None:
        engine.start_session(EXPRESS_FAN, None, ATTENDANT_ID)
        clock.advance(300)

    with serve_stand(tmp_path / "stand", doc, clock, seed, screen_idle_lock_s=600) as screen:
        yield screen


@pytest.fixture
def small_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU", viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def check_fits(page: Any, where: str) -> dict[str, Any]:
    """The rate table of the page in view, and nothing scrolling but the table itself."""
    if page.locator("#osk").is_visible():  # the plate field took the focus: keys away
        page.click("#osk [data-osk-key=done]")
    found: dict[str, Any] = page.evaluate(MEASURE)
    assert found["pageWidth"] <= WIDTH, f"{where} scrolls sideways: {found}"
    assert found["pageHeight"] <= HEIGHT, f"{where} scrolls: {found}"
    assert found["left"] >= 0 and found["right"] <= WIDTH + 0.5, f"{where}: table cut: {found}"
    assert found["innerWidth"] <= found["boxWidth"], f"{where}: the table scrolls sideways"
    assert found["bottom"] <= HEIGHT + 0.5, f"{where}: the table runs off the screen: {found}"
    assert found["bandInView"], f"{where}: the chosen tariff's name is not in view: {found}"
    assert found["nowInView"], f"{where}: the row in force now is not in view: {found}"
    return found


@pytest.mark.parametrize("name", ["guest", "client"])
def test_the_rate_table_fits_the_stand_display_with_the_rate_in_force_in_view(
    small_page: Any, night_stand: StandScreen, artifacts: Path, name: str
) -> None:
    page = small_page
    log_in(page, night_stand.url)
    page.goto(night_stand.url + ("/guests/new" if name == "guest" else f"/clients/{IVAN}"))

    found = check_fits(page, f"{name} page")
    assert found["chosen"] == "Стандарт"  # the stand's default tariff, chosen in the list
    assert found["nowText"].split("\t")[0] == "ежедневно 22:00–07:00 СЕЙЧАС"
    page.screenshot(path=str(artifacts / f"stand-rates-{name}-{WIDTH}x{HEIGHT}.png"))

    page.select_option("select[name=tariff_id]", str(EXPRESS))
    found = check_fits(page, f"{name} page, «Экспресс» chosen")
    assert found["chosen"] == "Экспресс"
    assert found["nowText"].split("\t")[0] == "в остальное время СЕЙЧАС"
    page.screenshot(path=str(artifacts / f"stand-rates-{name}-express-{WIDTH}x{HEIGHT}.png"))


def test_a_running_sessions_end_page_shows_its_rates_with_the_one_it_pays_now_in_view(
    small_page: Any, night_stand: StandScreen, artifacts: Path
) -> None:
    page = small_page
    log_in(page, night_stand.url)
    page.click(".session-card")  # the dashboard's card of the running session
    page.wait_for_url("**/sessions/*/end")

    found = check_fits(page, "end page")
    assert found["chosen"] == "Экспресс"  # the session's tariff, its five windows above
    assert found["nowText"].split("\t")[0] == "в остальное время СЕЙЧАС"
    page.screenshot(path=str(artifacts / f"stand-rates-end-{WIDTH}x{HEIGHT}.png"))
