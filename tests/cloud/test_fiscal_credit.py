"""Receipts of money that goes on credit (54-FZ tag 1214): a charge the balance does not cover
(a client's overdraft) is set off in part and handed over on credit for the rest, and a later
top-up pays that debt off ("оплата кредита") before it is an advance again. Every document is
registered by the ATOL Online emulator, which checks that items and payments add up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from cloud.db import utcnow
from cloud.fiscal.outbox import credit_part
from cloud.fiscal.sender import document_of
from cloud.integrity.checks import run_checks
from cloud.ledger.service import post_entry, record_topup
from cloud.models import Receipt
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream
from tests.cloud.fiscalhelp import (
    app,
    atol,
    fiscal,
    push,
    receipts,
    send_until_settled,
    settings,
    stand_token,
)
from tests.emulators.atol import AtolEmulator

__all__ = ["app", "atol", "fiscal"]  # fixtures


@pytest.mark.parametrize(
    ("kind", "amount", "balance_before", "credit"),
    [
        ("charge", -10_000, 25_000, 0),  # covered
        ("charge", -10_000, 10_000, 0),  # exactly covered
        ("charge", -10_000, 4_000, 6_000),  # in part
        ("charge", -10_000, 0, 10_000),  # nothing left
        ("charge", -10_000, -3_000, 10_000),  # already in debt
        ("topup", 20_000, -7_000, 7_000),  # pays the debt, the rest is an advance
        ("topup", 5_000, -7_000, 5_000),  # pays part of the debt
        ("topup", 5_000, 0, 0),
        ("charge", 14_000, -20_000, 14_000),  # given back into a debt: takes it off
        ("charge", 14_000, -10_000, 10_000),  # takes the debt off, the rest is an advance
        ("charge", 14_000, 5_000, 0),
        ("refund", -5_000, -7_000, 0),
        ("adjustment", -5_000, 0, 0),
    ],
)
def test_the_part_on_credit(kind: str, amount: int, balance_before: int, credit: int) -> None:
    assert credit_part(kind, amount, balance_before) == credit


def test_a_stands_sessions_into_debt_and_the_topup_after_are_receipted_as_credit(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    client = app.test_client()
    token = stand_token(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(hours=2))
    topup = stream.topup(world.member.id, 5_000, str(world.users["attendant"].id))
    first, started_first = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    ended_first = stream.ended(first, 600, 12_000)
    second, started_second = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(300)
    ended_second = stream.ended(second, 300, 3_000)
    push(client, token, [topup, started_first, ended_first, started_second, ended_second])
    record_topup(world.users["owner"], world.member, 20_000, "card")

    methods = [(r.kind, r.payment_method, r.amount_kopecks, r.credit_kopecks) for r in receipts()]
    assert methods == [
        ("advance", "advance", 5_000, 0),
        ("settlement", "partial_payment", 12_000, 7_000),  # 50 ₽ set off, 70 ₽ on credit
        ("settlement", "credit", 3_000, 3_000),
        ("advance", "advance", 20_000, 10_000),  # 100 ₽ of debt paid, 100 ₽ in advance
    ]
    send_until_settled(app)

    bodies = [atol.by_external_id(r.external_id)[0].body["receipt"] for r in receipts()]
    assert [r.status for r in receipts()] == ["done"] * 4
    partial, on_credit, paying_off = bodies[1], bodies[2], bodies[3]
    assert partial["payments"] == [{"type": 2, "sum": 50.0}, {"type": 3, "sum": 70.0}]
    assert [i["payment_method"] for i in partial["items"]] == ["partial_payment"]
    assert on_credit["payments"] == [{"type": 3, "sum": 30.0}]
    assert [(i["payment_method"], i["sum"]) for i in paying_off["items"]] == [
        ("credit_payment", 100.0),
        ("advance", 100.0),
    ]
    assert paying_off["payments"] == [{"type": 1, "sum": 200.0}]
    # The plain rate on what pays for a service, the calculated one on an advance.
    assert [i["vat"]["type"] for i in paying_off["items"]] == ["vat20", "vat120"]
    assert [r.code for r in run_checks(utcnow()) if not r.ok] == []


def test_a_central_topup_that_only_pays_a_debt_has_no_advance_item(
    app: Flask, world: World, atol: AtolEmulator, as_role: Any
) -> None:
    post_entry(world.member, "charge", -8_000, reason="мойка в долг")
    record_topup(world.users["owner"], world.member, 5_000, "cash")

    settlement, topup = receipts()
    assert (settlement.payment_method, settlement.credit_kopecks) == ("credit", 8_000)
    document = document_of(topup, settings(app))
    assert [(i.payment_method, i.amount_kopecks) for i in document.items] == [
        ("credit_payment", 5_000)
    ]
    assert [(p.type, p.amount_kopecks) for p in document.payments] == [(0, 5_000)]
    send_until_settled(app)
    assert {r.status for r in Receipt.select()} == {"done"}
    browser = as_role("administrator")
    page = browser.get("/receipts").get_data(as_text=True).replace("\xa0", " ")
    api = app.test_client()
    listed = api.get(
        f"/api/v1/receipts?client_id={world.member.id}", headers=world.bearer("administrator")
    ).get_json()["items"]
    assert "в кредит 80,00 ₽" in page and "в погашение долга 50,00 ₽" in page
    assert sorted(r["credit_kopecks"] for r in listed) == [5_000, 8_000]


@pytest.mark.parametrize("fiscal", [{"fiscal_scheme": "prepayment"}], indirect=True)
def test_under_the_prepayment_scheme_a_topup_over_a_debt_stays_a_prepayment(
    app: Flask, world: World
) -> None:
    post_entry(world.member, "charge", -8_000, reason="мойка в долг")
    record_topup(world.users["owner"], world.member, 5_000, "cash")

    [topup] = receipts()
    assert (topup.payment_method, topup.credit_kopecks) == ("full_prepayment", 0)
