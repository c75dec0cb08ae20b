"""The dashboard in Chromium: a session crosses long_session_minutes while the page is open and
its card turns amber with its note, by the page's own clock (issue 20), without a reload."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from cloud.db import utcnow
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session
from tests.e2e.conftest import TIMEOUT_MS


def test_a_card_turns_long_when_its_session_crosses_the_setting(
    page: Any, live_server: str, world: World, app: Flask
) -> None:
    app.config["AQ"].long_session_minutes = 1
    session = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(seconds=52),
    )
    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("owner"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    card = page.locator(f".session-card[data-session-id='{session.id}']")
    note = card.locator(".long-note")
    assert "long" not in (card.get_attribute("class") or "")
    assert note.is_hidden()

    page.wait_for_selector(
        f".session-card.long[data-session-id='{session.id}']", timeout=3 * TIMEOUT_MS
    )
    assert note.is_visible() and "Дольше 1 мин" in note.inner_text()
