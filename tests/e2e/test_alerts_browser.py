"""The Alerts page in Chromium (issue 20): an administrator sees an open incident, chooses a
staff member's address and kinds of alert on a phone and on a laptop, and the page fits both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cloud.alerts.service import check_alerts
from cloud.clock import SystemClock
from cloud.models import AlertIncident, AlertSubscription, User
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", [(390, 844), (1366, 900)], ids=["390x844", "1366x900"])
def test_an_administrator_sees_the_incident_and_chooses_a_recipient(
    page: Any, live_server: str, app: Flask, world: World, artifacts: Path, size: tuple[int, int]
) -> None:
    add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=datetime.now(UTC) - timedelta(hours=30),
    )
    check_alerts(app.config["AQ"], SystemClock())
    (incident,) = AlertIncident.select().where(AlertIncident.kind == "long_session")
    target = world.users["operator"]
    page.set_viewport_size({"width": size[0], "height": size[1]})

    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("administrator"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/alerts")
    assert "Долгая сессия" in page.locator(f"#incident-{incident.id}").inner_text()
    form = page.locator(f"#recipient-{target.id}")
    form.locator("input[name=email]").fill("op@aquastand.example")
    form.locator("input[value=long_session]").check()
    form.locator("input[value=stand_offline]").check()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(artifacts / f"central-alerts-{size[0]}.png"), full_page=True)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()

    assert overflow <= 0
    assert "сохранены" in page.locator(".flash").inner_text()
    assert User.get_by_id(target.id).email == "op@aquastand.example"
    chosen = AlertSubscription.select().where(AlertSubscription.user == target.id)
    assert sorted(row.kind for row in chosen) == ["long_session", "stand_offline"]
