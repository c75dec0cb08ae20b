"""The receipt of a force-close that a stand's shorter end corrects (cloud/fiscal/outbox.py,
cloud/standsync/ingest/appliers/late_end.py): the money given back to the balance returns the
central settlement for exactly the difference (``reversal``: sell_refund by the prepayment),
so the register shows settled what the stand charged. Registered by the ATOL Online emulator,
which checks that items and payments add up."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.fiscal.outbox import receipt_for
from cloud.integrity.checks import run_checks
from cloud.ledger.service import record_topup
from cloud.models import LedgerEntry, Receipt, Session
from tests.cloud.conftest import World
from tests.cloud.fiscalhelp import app, atol, fiscal, receipts, send_until_settled, settings
from tests.cloud.test_force_close import force, silence, washing
from tests.cloud.test_syncapi import headers
from tests.emulators.atol import AtolEmulator

__all__ = ["app", "atol", "fiscal"]  # fixtures

STAND_COST = 6000  # the stand ended the wash offline after 6 minutes


def force_then_shorter_end(client: FlaskClient, world: World, as_role: Any) -> int:
    """A 20-minute session force-closed centrally, then the stand's report that it ended
    after 6 minutes (60 ₽); the central price."""
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    assert force(as_role("administrator"), wash.session).status_code == 302
    central = int(Session.get_by_id(wash.session.id).cost_kopecks)
    wash.stream.wait(360)
    ended = wash.stream.ended(wash.session.uuid, 360, STAND_COST)
    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": [ended]})
    assert response.status_code == 200
    return central


@pytest.mark.parametrize(
    ("balance", "method", "payments"),
    [
        # Covered by the advance: the whole difference goes back to the advance.
        (50_000, "full_payment", lambda given: [{"type": 2, "sum": given / 100}]),
        # 100 ₽ of advance, the rest of the central charge on credit: what is given back takes
        # that debt off first (as credit), and the 40 ₽ left returns to the advance.
        (
            10_000,
            "partial_payment",
            lambda given: [{"type": 2, "sum": 40.0}, {"type": 3, "sum": (given - 4000) / 100}],
        ),
        # All on credit: all of it comes back as credit.
        (0, "credit", lambda given: [{"type": 3, "sum": given / 100}]),
    ],
)
def test_under_the_advance_scheme_the_money_given_back_returns_the_settlement(
    app: Flask,
    client: FlaskClient,
    world: World,
    as_role: Any,
    atol: AtolEmulator,
    balance: int,
    method: str,
    payments: Any,
) -> None:
    if balance:
        record_topup(world.users["owner"], world.member, balance, "card")

    central = force_then_shorter_end(client, world, as_role)

    given = central - STAND_COST
    correction = LedgerEntry.get((LedgerEntry.kind == "charge") & (LedgerEntry.amount_kopecks > 0))
    settlement, reversal = (r for r in receipts() if r.kind in ("settlement", "reversal"))
    assert (settlement.kind, settlement.amount_kopecks) == ("settlement", central)
    assert (reversal.kind, reversal.entry_id, reversal.amount_kopecks) == (
        "reversal",
        correction.id,
        given,
    )
    assert reversal.payment_method == method
    assert settlement.amount_kopecks - reversal.amount_kopecks == STAND_COST
    send_until_settled(app)
    assert Receipt.get_by_id(reversal.id).status == "done"
    (document,) = atol.by_external_id(Receipt.get_by_id(reversal.id).external_id)
    assert document.operation == "sell_refund"
    returned = document.body["receipt"]
    [item] = returned["items"]
    assert (item["payment_method"], item["payment_object"], item["sum"]) == (method, 4, given / 100)
    assert item["vat"] == {"type": "vat20"}  # the rate of the service, as on the settlement
    assert returned["payments"] == payments(given)
    assert returned["total"] == given / 100
    assert [r.code for r in run_checks(utcnow()) if not r.ok] == []


def test_the_register_holds_on_credit_what_the_client_owes_after_the_reversal(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    """In debt after the central charge, out of it after the stand's cheaper end: the next
    top-up pays no credit off, since the reversal took the debt off the register."""
    record_topup(world.users["owner"], world.member, 10_000, "card")
    force_then_shorter_end(client, world, as_role)
    record_topup(world.users["owner"], world.member, 20_000, "card")

    kinds = [(r.kind, r.credit_kopecks) for r in receipts()]
    settled_credit = kinds[1][1]
    assert kinds == [
        ("advance", 0),
        ("settlement", settled_credit),
        ("reversal", settled_credit),
        ("advance", 0),
    ]
    browser = as_role("administrator")
    page = browser.get("/receipts").get_data(as_text=True).replace("\xa0", " ")
    assert "возврат зачёта аванса" in page and "долг уменьшен на" in page
    listed = app.test_client().get(
        f"/api/v1/receipts?client_id={world.member.id}", headers=world.bearer("administrator")
    )
    assert sorted(r["kind"] for r in listed.get_json()["items"]) == [
        "advance",
        "advance",
        "reversal",
        "settlement",
    ]


@pytest.mark.parametrize("fiscal", [{"fiscal_scheme": "prepayment"}], indirect=True)
def test_under_the_prepayment_scheme_the_money_given_back_owes_no_receipt(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    record_topup(world.users["owner"], world.member, 50_000, "card")

    force_then_shorter_end(client, world, as_role)

    assert LedgerEntry.select().where(LedgerEntry.kind == "charge").count() == 2
    assert [r.kind for r in receipts()] == ["advance"]
    assert receipt_for("charge", 14_000, None, settings(app), 0) is None
