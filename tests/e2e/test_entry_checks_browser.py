"""Issue 20's checks in a real browser: the owner's bonus programme settings on a phone
(390x844), and the stand's guest registration refusing a plate of no Russian format until the
"foreign plate" tick is ticked on the 800x480 screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloud.loyalty import settings as loyalty_settings
from cloud.models import AuditEntry
from tests.cloud.conftest import PASSWORD, World
from tests.e2e.conftest import StandScreen, log_in


def test_the_owner_changes_the_bonus_programme_on_a_phone(
    browser: Any, live_server: str, world: World, artifacts: Path, app: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.fill("input[name=phone]", world.phone("owner"))
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/")
        page.click("details.menu summary")  # on a phone the menu folds behind a button
        page.click("nav >> text=Бонусная программа")
        page.wait_for_url(f"{live_server}/loyalty/settings")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        page.fill("input[name=welcome]", "250")
        page.fill("input[name=accrual_percent]", "7")
        page.select_option("select[name=accrual_on]", "charge")
        page.fill("input[name=expiry_days]", "90")
        page.click("#loyalty-settings button.primary")
        page.wait_for_load_state()
        assert "Настройки бонусной программы сохранены" in page.inner_text("main")
        assert page.input_value("input[name=welcome]") == "250"
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "central-loyalty-settings-390.png"), full_page=True)
    finally:
        context.close()
    rules = loyalty_settings.effective_rules(app.config["AQ"])
    assert (rules.welcome, rules.accrual_percent, rules.accrual_on, rules.expiry_days) == (
        250,
        7,
        "charge",
        90,
    )
    row = AuditEntry.get(AuditEntry.action == "loyalty.settings")
    assert json.loads(row.after)["points_welcome"] == 250


def test_a_foreign_plate_is_registered_with_the_tick_on_the_stand_screen(
    browser: Any, stand_screen: StandScreen, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="ru-RU")
    try:
        page = context.new_page()
        log_in(page, stand_screen.url)
        page.goto(f"{stand_screen.url}/guests/new")
        page.fill("#guest input[name=plate]", "W AB 1234")
        page.click("#guest button[type=submit]")
        page.wait_for_load_state()
        assert "Иностранный номер" in page.inner_text(".error-line")
        assert stand_screen.store.open_sessions() == []
        page.screenshot(path=str(artifacts / "stand-guest-foreign-refused.png"))
        # The refused form takes no focus, so the on-screen keyboard leaves the tick in view.
        assert not page.is_visible("#osk")
        tick = page.locator("#guest input[name=foreign]")
        box = tick.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 480  # reachable without scrolling
        tick.check()
        page.click("#guest button[type=submit]")
        page.wait_for_url(f"{stand_screen.url}/")
    finally:
        context.close()
    (session,) = stand_screen.store.open_sessions()
    assert stand_screen.store.credentials_of(session.client_id, "plate") == ["WАВ1234"]
