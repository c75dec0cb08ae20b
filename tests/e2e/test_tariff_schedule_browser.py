"""The tariff schedule editor in a real browser (issue 20) at an office screen and a phone: an
owner adds night rates for tomorrow, is asked to confirm a guest rate below the member's, and
the page fits the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloud.models import TariffVersion
from sync.schedule import Window
from tests.cloud.conftest import PASSWORD, World


def _overflow(page: Any) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_the_owner_sets_night_rates_on_the_tariff_page(
    page: Any, live_server: str, world: World, artifacts: Path, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("owner"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/tariffs/{world.tariff.id}")
    editor = page.locator("[data-schedule]")
    assert editor.locator("legend").inner_text() == "Цены по времени суток и дням недели"
    assert _overflow(page) <= 0

    row = editor.locator("[data-window='0']")
    for day in ("пн", "вт", "ср", "чт", "пт"):
        row.get_by_label(day, exact=True).check()
    row.locator("input[name=w0_start]").fill("22:00")
    row.locator("input[name=w0_end]").fill("07:00")
    row.locator("input[name=w0_member]").fill("8")
    row.locator("input[name=w0_guest]").fill("6")  # below the member's: asks to confirm
    page.click("text=Сохранить новые цены")
    page.wait_for_load_state()
    alert = page.locator("[role=alert]")
    assert "подтвердите" in alert.inner_text()
    assert page.locator("input[name=w0_start]").input_value() == "22:00"  # kept
    assert page.locator("[data-window='0'] input[value='4']").is_checked()
    assert TariffVersion.select().count() == 1

    page.locator("input[name=confirm_rates]").check()
    page.click("text=Сохранить новые цены")
    page.wait_for_load_state()
    assert "Новые цены запланированы" in page.content()
    version = TariffVersion.select().order_by(TariffVersion.id.desc()).get()
    assert version.rates().schedule == (Window((0, 1, 2, 3, 4), 1320, 420, 800, 600),)
    assert "пн–пт 22:00–07:00" in page.content()
    assert _overflow(page) <= 0
    page.screenshot(path=str(artifacts / f"central-tariff-schedule-{width}.png"), full_page=True)
