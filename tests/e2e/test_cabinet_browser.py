"""The client cabinet on a phone (Chromium at 390x844) against a real central service and a
real stand syncing with it over HTTP: log in with the code from the SMS file, see the balance,
open the QR code, show it to the stand's camera (a screenshot of the phone's screen dropped in
the camera's inbox, decoded by pyzbar as on a Pi), see the wash in the history after sync, mark
the card lost and see the stand refuse it after its next directory."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.ledger.service import post_entry
from cloud.models import Session, TariffVersion
from edge.camera import drop_frame
from tests.cloud.cabinethelp import last_code
from tests.e2e.conftest import ARTIFACTS
from tests.edge.conftest import pattern, wait_state
from tests.integration.conftest import (  # a real central service and a stand syncing with it
    Central,
    central,
    provision,
    running_stand,
    wait_for,
)

__all__ = ["central", "running_stand"]  # fixtures

PHONE = "+79161234567"  # the World's member
CARD = "04A1B2C3D4E5F6"
TIMEOUT_MS = 15_000


def _shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"cabinet-{name}-390x844.png"), full_page=True)


def _qr_opens_offline(page: Any, context: Any, url: str) -> None:
    """Once the service worker runs, the QR page (and the home page) open with no network,
    from its copy, which carries the time it was made (its age is shown when old)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now through the service worker, which keeps a copy
    page.goto(f"{url}/my/")
    context.set_offline(True)
    page.clock.set_fixed_time(datetime.now(UTC) + timedelta(minutes=10))  # the copy is old
    try:
        page.goto(f"{url}/my/qr")
        assert page.locator(".my-qr-code svg").count() == 1
        age = page.locator("[data-qr-page] [data-age]")
        age.wait_for(state="visible")
        assert age.inner_text() in ("Без сети: данные 10 мин назад", "Без сети: данные 9 мин назад")
        page.goto(f"{url}/my/")
        assert page.inner_text("[data-balance]").replace("\xa0", " ") == "1 000,00 ₽"
        assert "мин назад" in page.inner_text(".my-balance [data-age]")
        _shot(page, ARTIFACTS, "offline-home")
    finally:
        context.set_offline(False)
    page.goto(f"{url}/my/qr")


def _log_out_forgets_the_offline_copies(page: Any, context: Any, url: str) -> None:
    from playwright.sync_api import Error as PlaywrightError

    page.goto(f"{url}/my/settings")
    page.click("button:has-text('Выйти на этом устройстве')")
    page.wait_for_url(f"{url}/my/login")
    context.set_offline(True)
    try:
        with pytest.raises(PlaywrightError):
            page.goto(f"{url}/my/qr")
        assert page.locator(".my-qr-code svg").count() == 0
    finally:
        context.set_offline(False)


@pytest.mark.browser
def test_a_member_logs_in_shows_the_qr_at_a_stand_and_loses_a_card(
    browser: Any, app: Any, world: Any, central: Central, running_stand: Any, artifacts: Path
) -> None:
    TariffVersion.update(grace_s=0).where(TariffVersion.id == world.tariff_version.id).execute()
    post_entry(world.member, "topup", 100_000, method="cash")
    stand = running_stand(central.url, provision(world.site_a, "Пост 3"), end_guard_s=0)
    wait_state(stand.url, "the first sync", lambda s: s["online"] and s["sync"]["cursor"] > 0)
    context = browser.new_context(
        locale="ru-RU", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{central.url}/my/")
        page.wait_for_url(f"{central.url}/my/login?next=/my/")
        page.fill("input[name=phone]", "8 916 123-45-67")
        _shot(page, artifacts, "login")
        page.click("button[type=submit]")
        page.wait_for_url(f"{central.url}/my/login/code")
        page.fill("input[name=code]", last_code(app, PHONE))
        page.click("button[type=submit]")
        page.wait_for_url(f"{central.url}/my/")
        assert page.inner_text("[data-balance]").replace("\xa0", " ") == "1 000,00 ₽"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        _shot(page, artifacts, "home")

        page.click("text=Показать QR-код")
        page.wait_for_url(f"{central.url}/my/qr")
        assert "яркость" in page.inner_text(".my-hint")
        _shot(page, artifacts, "qr")
        _qr_opens_offline(page, context, central.url)
        screen = page.locator(".my-qr-code").screenshot()
        drop_frame(stand.stand.camera_inbox, screen, ".png")
        started = wait_state(stand.url, "the QR's start", lambda s: len(s["open_sessions"]) == 1)
        assert pattern(started) == "accepted"
        assert started["open_sessions"][0]["client_id"] == world.member.id

        time.sleep(2)  # a wash of a few seconds: it costs the minimum charge
        stand.tap(CARD)  # the member's card ends the session
        wait_state(stand.url, "the end", lambda s: pattern(s) == "ended")
        wait_state(stand.url, "the outbox to drain", lambda s: s["outbox"] == 0)
        wait_for("the wash centrally", lambda: Session.get().cost_kopecks is not None)
        assert Session.get().cost_kopecks == 5000
        page.goto(f"{central.url}/my/washes")
        washes = page.inner_text(".my-washes").replace("\xa0", " ")
        assert "Пост 3, Мойка на Ленина" in washes and "50,00 ₽" in washes
        _shot(page, artifacts, "washes")

        before = stand.stand.store.credential("card", CARD)
        assert before is not None and not before.lost
        page.goto(f"{central.url}/my/cards")
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("button:has-text('Потеряна')")
        page.wait_for_url(f"{central.url}/my/cards")
        assert "потеряна" in page.inner_text("main")
        _shot(page, artifacts, "card-lost")
        stand.let_the_card_go()
        wait_for(
            "the lost card in the stand's directory",
            lambda: stand.stand.store.credential("card", CARD).lost,
        )
        stand.tap(CARD)
        refused = wait_state(stand.url, "the refusal", lambda s: pattern(s) == "refused")
        assert refused["last_feedback"]["reason"] == "Карта отмечена как потерянная"
        assert refused["open_sessions"] == []
        _log_out_forgets_the_offline_copies(page, context, central.url)
    finally:
        context.close()
