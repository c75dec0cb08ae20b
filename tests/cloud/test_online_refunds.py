"""Refunds of online top-ups (cloud/payments/refunds.py) through the emulated provider, the
staff page of a client's online payments, and ``aquastand-cloud reconcile-payments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cloud import cli
from cloud.clock import app_now
from cloud.db import db_proxy
from cloud.errors import Forbidden, Unprocessable
from cloud.ledger.service import ledger_balance, post_entry
from cloud.models import AuditEntry, LedgerEntry, OnlinePayment, OnlineRefund
from cloud.payments import refunds, service
from cloud.payments.providers import ProviderUnavailable
from tests.cloud.conftest import World, post_form
from tests.cloud.onlinepay import SHOP, balance, provider, start
from tests.emulators.yookassa import DEMO_SHOPS, YooKassaEmulator


def paid(app: Flask, emulator: YooKassaEmulator, world: World, amount: int) -> OnlinePayment:
    payment = start(app, world.member, amount)
    emulator.pay(str(payment.provider_payment_id))
    return service.sync_payment(provider(app), payment, app_now())


def refund(
    app: Flask, world: World, payment: OnlinePayment, amount: int, debt: bool = False
) -> Any:
    return refunds.refund_payment(
        provider(app), world.users["owner"], payment, amount, debt, "", app_now()
    )


def refund_entries(world: World) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == world.member.id) & (LedgerEntry.kind == "refund")
    )
    return [entry.amount_kopecks for entry in query.order_by(LedgerEntry.id)]


def test_a_whole_refund_returns_the_money_through_the_provider(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)

    done = refund(paying_app, world, payment, 50_000)

    assert done.status == "succeeded" and done.entry_id is not None
    assert refund_entries(world) == [-50_000]
    assert balance(world.member) == 0 == ledger_balance(world.member)
    remote = emulator.payments[str(payment.provider_payment_id)]
    assert remote["refunded_amount"] == {"value": "500.00", "currency": "RUB"}
    (logged,) = AuditEntry.select().where(AuditEntry.action == "ledger.refund")
    assert logged.actor_id == world.users["owner"].id and logged.target_id == world.member.id
    assert json.loads(logged.after)["refunded_kopecks"] == 50_000
    with pytest.raises(Unprocessable):  # nothing left to refund
        refund(paying_app, world, OnlinePayment.get_by_id(payment.id), 100)


def test_part_refunds_never_return_more_than_was_paid(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)

    refund(paying_app, world, payment, 20_000)
    refund(paying_app, world, OnlinePayment.get_by_id(payment.id), 10_000)
    with pytest.raises(Unprocessable) as refused:
        refund(paying_app, world, OnlinePayment.get_by_id(payment.id), 30_000)

    assert refused.value.code == "refund_too_large"
    assert "200,00" in refused.value.message
    assert refund_entries(world) == [-20_000, -10_000]
    assert balance(world.member) == 20_000
    assert OnlinePayment.get_by_id(payment.id).refunded_kopecks == 30_000


def test_a_refund_below_what_sessions_used_needs_the_owner_to_confirm_a_debt(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)
    post_entry(world.member, "charge", -35_000)  # washes took 350 ₽ of it

    with pytest.raises(Unprocessable) as refused:
        refund(paying_app, world, payment, 50_000)
    assert refused.value.code == "refund_below_used"
    assert refund_entries(world) == [] and balance(world.member) == 15_000
    assert emulator.refunds == {}

    refund(paying_app, world, OnlinePayment.get_by_id(payment.id), 15_000)  # what is left: fine
    done = refund(paying_app, world, OnlinePayment.get_by_id(payment.id), 35_000, debt=True)

    assert done.debt_confirmed
    assert refund_entries(world) == [-15_000, -35_000]
    assert balance(world.member) == -35_000


def test_only_the_owner_refunds_and_only_a_credited_payment(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)
    pending = start(paying_app, world.member, 10_000)
    with pytest.raises(Forbidden):
        refunds.refund_payment(
            provider(paying_app), world.users["administrator"], payment, 100, False, "", app_now()
        )
    with pytest.raises(Unprocessable):
        refund(paying_app, world, pending, 100)
    assert emulator.refunds == {}


def test_a_refund_the_provider_did_not_answer_is_sent_again_by_reconciliation(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)
    emulator.down = True
    with pytest.raises(ProviderUnavailable):
        refund(paying_app, world, payment, 20_000)
    assert refund_entries(world) == [] and balance(world.member) == 50_000

    emulator.down = False
    left = refunds.reconcile_refunds(provider(paying_app), app_now())
    again = refunds.reconcile_refunds(provider(paying_app), app_now())

    assert (left, again) == (0, 0)
    assert refund_entries(world) == [-20_000]
    assert [r.status for r in OnlineRefund.select()] == ["succeeded"]
    assert len(emulator.refunds) == 1


def test_the_owner_refunds_from_the_client_page(
    paying_app: Flask, emulator: YooKassaEmulator, world: World, as_role: Any
) -> None:
    payment = paid(paying_app, emulator, world, 50_000)
    owner, operator = as_role("owner"), as_role("operator")
    page = f"/clients/{world.member.id}/online-payments"

    seen = operator.get(page).get_data(as_text=True)
    refused = post_form(owner, f"{page}/{payment.id}/refund", {"amount": "600"})
    done = post_form(owner, f"{page}/{payment.id}/refund", {"amount": "120,50", "reason": "Ошибка"})
    listed = owner.get(page).get_data(as_text=True)

    assert str(payment.provider_payment_id) in seen and "refund-form" not in seen
    assert refused.status_code == 422 and "Вернуть можно не больше" in refused.get_data(
        as_text=True
    )
    assert done.status_code == 302
    assert refund_entries(world) == [-12_050]
    assert "refund-form" in listed and 'data-status="succeeded"' in listed
    client_page = owner.get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert 'value="online"' not in client_page  # staff never record an online top-up


def test_reconcile_payments_command_credits_a_paid_payment_once(
    paying_app: Flask,
    emulator: YooKassaEmulator,
    world: World,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    payment = start(paying_app, world.member, 25_000)
    emulator.pay(str(payment.provider_payment_id))
    settings = {
        "DATA_DIR": str(tmp_path / "cli-data"),
        "DATABASE_URL": database_url,
        "PAYMENTS_PROVIDER": "yookassa",
        "YOOKASSA_SHOP_ID": SHOP,
        "YOOKASSA_SECRET_KEY": DEMO_SHOPS[SHOP],
        "YOOKASSA_API_URL": emulator.api_url,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"AQUASTAND_{name}", value)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        first = CliRunner().invoke(cli.main, ["reconcile-payments"])
        again = CliRunner().invoke(cli.main, ["reconcile-payments"])
    finally:
        if db_proxy.obj is not previous:
            db_proxy.obj.close()
        db_proxy.initialize(previous)

    assert first.exit_code == 0, first.output
    assert "asked 1, credited 1, unanswered 0" in first.output
    assert "asked 0, credited 0" in again.output
    assert balance(world.member) == 25_000
