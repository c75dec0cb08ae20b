"""Force-closing a session and starting one on a stand from the central pages, in Chromium at
the office size (1366×900), issue 20."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cloud.db import utcnow
from cloud.models import ForcedClose, LedgerEntry, Session, Stand, StandCommand
from cloud.standsync import commands
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session

OFFICE = {"width": 1366, "height": 900}


def _log_in(browser: Any, live_server: str, world: World, role: str) -> Any:
    context = browser.new_context(locale="ru-RU", viewport=OFFICE)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone(role))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    return page


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_an_administrator_force_closes_a_silent_stands_session(
    browser: Any, live_server: str, world: World, artifacts: Path
) -> None:
    session = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(minutes=12),
    )
    Session.update(uuid="22222222-2222-4222-8222-222222222222").where(
        Session.id == session.id
    ).execute()  # a stand's session; the stand was never heard from since
    page = _log_in(browser, live_server, world, "administrator")

    page.goto(f"{live_server}/sessions/{session.id}")
    form = page.locator("#force-close form")
    assert "пост не на связи" in page.locator("#force-close").inner_text()
    assert _fits(page)
    form.locator("textarea[name=comment]").fill("Пост без питания, клиент уехал")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#force-closed-badge")

    assert "Пост без питания, клиент уехал" in page.locator("#force-close").inner_text()
    assert "Принудительно в центре" in page.locator("#session").inner_text()
    assert _fits(page)
    page.screenshot(path=str(artifacts / "central-session-force-closed.png"), full_page=True)
    forced = ForcedClose.get()
    assert forced.comment == "Пост без питания, клиент уехал"
    assert LedgerEntry.get(LedgerEntry.session == session.id).amount_kopecks == -forced.cost_kopecks
    page.context.close()


def test_an_operator_starts_a_session_on_a_stand_from_the_client_page(
    browser: Any, live_server: str, world: World, artifacts: Path
) -> None:
    Stand.update(enrolled_at=utcnow()).where(Stand.id == world.stand_a.id).execute()
    page = _log_in(browser, live_server, world, "operator")

    page.goto(f"{live_server}/clients/{world.member.id}")
    panel = page.locator("#wash")
    panel.locator("select[name=stand_id]").select_option(str(world.stand_a.id))
    panel.locator("#start-on-stand button[type=submit]").click()
    page.wait_for_selector("#starts .start-pending")

    assert "ждёт пост" in page.locator("#starts").inner_text()
    assert _fits(page)
    command = StandCommand.get()
    assert (command.type, command.client_id) == ("start_session", world.member.id)
    # The stand answers that its post is busy; the page shows the reason.
    commands.refuse(world.stand_a.id, command.id, "post_busy", utcnow())
    page.reload()
    page.wait_for_selector("#starts .start-refused")
    assert "пост занят" in page.locator("#starts").inner_text()
    page.screenshot(path=str(artifacts / "central-client-start-on-stand.png"), full_page=True)
    page.context.close()
