"""Fixtures of the online top-up tests: a YooKassa emulator on a free port (the real SDK talks
to it over HTTP) and the app configured to use it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from cloud.clock import app_now
from cloud.models import Client, LedgerEntry, OnlinePayment
from cloud.payments import service
from tests.emulators.yookassa import DEMO_SHOPS, YooKassaEmulator

SHOP = "100500"


@pytest.fixture
def emulator() -> Iterator[YooKassaEmulator]:
    running = YooKassaEmulator().start()
    yield running
    running.stop()


@pytest.fixture
def paying_app(app: Flask, emulator: YooKassaEmulator) -> Flask:
    """The test's app with online top-ups through the emulator."""
    config = app.config["AQ"]
    config.payments_provider = "yookassa"
    config.yookassa_shop_id = SHOP
    config.yookassa_secret_key = DEMO_SHOPS[SHOP]
    config.yookassa_api_url = emulator.api_url
    config.payments_return_url_base = "http://127.0.0.1:1"
    return app


def provider(app: Flask) -> Any:
    return service.make_provider(app.config["AQ"])


def start(app: Flask, client: Client, amount: int = 50_000) -> OnlinePayment:
    """A payment of ``client`` created at the provider (pending, not yet paid)."""
    return service.start_payment(
        provider(app),
        client,
        amount,
        service.Limits.from_config(app.config["AQ"]),
        lambda payment: f"http://127.0.0.1:1/my/topup/return/{payment.id}",
        app_now(),
    )


def balance(client: Client) -> int:
    return int(Client.get_by_id(client.id).balance_kopecks)


def online_entries(client: Client) -> list[LedgerEntry]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == client.id) & (LedgerEntry.method == "online")
    )
    return list(query.order_by(LedgerEntry.id))


def notify(app: Flask, body: Any) -> Any:
    return app.test_client().post("/payments/yookassa/notify", json=body)
