"""Fixtures and helpers of the fiscal receipt tests: the ATOL Online emulator on a free port
and the app configured to send to it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from cloud import create_app
from cloud.clock import FixedClock
from cloud.db import release, utcnow
from cloud.fiscal.sender import SendReport, provider_for, send_receipts
from cloud.fiscal.settings import EXTENSION, FiscalSettings
from cloud.migrations import upgrade
from cloud.models import Receipt
from cloud.standsync.standauth import provision_stand
from sync.document import format_utc
from tests.cloud.conftest import RequestIsolatedClient, World
from tests.emulators.atol import AtolEmulator

SYNC = "/sync/v1"
FISCAL = {
    "fiscal_provider": "atol",
    "atol_login": "aquastand",
    "atol_password": "aquastand-demo",
    "atol_group_code": "aquastand-demo",
    "fiscal_inn": "7701234567",
    "fiscal_sno": "usn_income",
    "fiscal_vat": "vat20",
    "fiscal_payment_address": "г. Москва, ул. Ленина, 1",
    "fiscal_email": "kassa@aquastand.example",
}


@pytest.fixture
def atol() -> Iterator[AtolEmulator]:
    emulator = AtolEmulator()
    emulator.url = emulator.start()  # type: ignore[attr-defined]
    yield emulator
    emulator.stop()


@pytest.fixture
def fiscal(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings over ``FISCAL`` (``@pytest.mark.parametrize("fiscal", [{...}], indirect=True)``)."""
    return {**FISCAL, **getattr(request, "param", {})}


@pytest.fixture
def app(
    database_url: str, tmp_path: Any, atol: AtolEmulator, fiscal: dict[str, Any]
) -> Iterator[Flask]:
    """The conftest's app with receipts on, sent to the emulator."""
    app = create_app(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret",
        clock=FixedClock(datetime.now(UTC)),
        atol_url=atol.url,  # type: ignore[attr-defined]
        **fiscal,
    )
    app.config["TESTING"] = True
    app.test_client_class = RequestIsolatedClient
    upgrade(app.extensions["aquastand_db"])
    with app.app_context():
        yield app
    release(app.extensions["aquastand_db"])


def settings(app: Flask) -> FiscalSettings:
    found: FiscalSettings = app.extensions[EXTENSION]
    return found


def send(app: Flask, minutes: float = 0) -> SendReport:
    """One pass of ``send-receipts``, ``minutes`` from now."""
    provider = provider_for(settings(app))
    assert provider is not None
    return send_receipts(provider, settings(app), utcnow() + timedelta(minutes=minutes))


def send_until_settled(app: Flask, passes: int = 12) -> None:
    """Passes an hour apart (past every back-off) until no receipt is queued or sent."""
    for number in range(1, passes + 1):
        send(app, minutes=61 * number)
        if not Receipt.select().where(Receipt.status.in_(("queued", "sent"))).exists():
            return
    raise AssertionError("receipts still unsettled")


def receipts() -> list[Receipt]:
    return list(Receipt.select().order_by(Receipt.id))


def stand_token(client: Any, world: World) -> str:
    code = provision_stand(world.site_a, world.stand_a.name, utcnow()).code
    response = client.post(f"{SYNC}/enrol", json={"code": code})
    return str(response.get_json()["token"])


def push(client: Any, token: str, events: list[dict[str, Any]]) -> Any:
    headers = {"Authorization": f"Bearer {token}", "X-Stand-Clock": format_utc(utcnow())}
    response = client.post(f"{SYNC}/events", headers=headers, json={"events": events})
    assert response.status_code == 200, response.get_json()
    return response.get_json()
