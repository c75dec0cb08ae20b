"""Fiscal receipts (54-FZ): every money top-up (at a stand, offline too, or centrally) and
refund queues a receipt in the ledger's transaction, sent to ATOL Online v5 (the emulator in
tests/emulators/atol.py, served over HTTP, talked to by the real ``requests`` code) from the
outbox with retries, registered once, its fiscal data stored and shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cloud import cli, create_app
from cloud.db import db_proxy, utcnow
from cloud.fiscal.atol import AtolProvider
from cloud.fiscal.sender import document_of, provider_for
from cloud.integrity.checks import run_checks
from cloud.ledger.service import post_entry, record_topup
from cloud.migrations import latest_version, upgrade
from cloud.models import Client, LedgerEntry, Receipt, SchemaVersion
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream
from tests.cloud.fiscalhelp import (
    FISCAL,
    app,
    atol,
    fiscal,
    push,
    receipts,
    send,
    send_until_settled,
    settings,
    stand_token,
)
from tests.cloud.freshdb import bound, empty_database_url
from tests.emulators.atol import AtolEmulator

__all__ = ["app", "atol", "fiscal"]  # fixtures


# --- queued with the money --------------------------------------------------------------------


def test_a_stands_offline_cash_topup_gets_its_receipt_when_it_syncs(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    client = app.test_client()
    token = stand_token(client, world)
    # Taken two hours ago while the stand was offline; it reaches the central service now.
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(hours=2))
    topup = stream.topup(world.member.id, 50_000, str(world.users["attendant"].id))
    assert receipts() == []

    push(client, token, [topup])

    (receipt,) = receipts()
    entry = LedgerEntry.get(LedgerEntry.kind == "topup")
    assert (receipt.entry_id, receipt.client_id, receipt.kind) == (
        entry.id,
        world.member.id,
        "advance",
    )
    assert (receipt.amount_kopecks, receipt.cash, receipt.status) == (50_000, True, "queued")
    assert receipt.contact == "ivan@example.ru"

    assert send(app).sent == 1
    send_until_settled(app)

    receipt = Receipt.get_by_id(receipt.id)
    assert receipt.status == "done"
    (document,) = atol.registered
    assert document.operation == "sell" and document.external_id == receipt.external_id
    assert receipt.fiscal_document_number == document.payload["fiscal_document_number"]
    assert receipt.fiscal_sign == document.payload["fiscal_document_attribute"]
    assert receipt.fn_number == document.payload["fn_number"]
    assert receipt.registered_at is not None
    sold = document.body["receipt"]
    assert sold["client"] == {"email": "ivan@example.ru"}
    assert sold["company"]["inn"] == "7701234567"
    assert sold["payments"] == [{"type": 0, "sum": 500.0}]  # cash
    (item,) = sold["items"]
    assert (item["payment_method"], item["payment_object"]) == ("advance", 10)
    assert item["vat"] == {"type": "vat120"}  # an advance is taxed at the calculated rate
    assert sold["total"] == 500.0


def test_a_central_topup_queues_its_receipt_in_its_transaction(app: Flask, world: World) -> None:
    entry = record_topup(world.users["operator"], world.member, 30_000, "card")

    (receipt,) = receipts()
    assert (receipt.entry_id, receipt.kind, receipt.cash) == (entry.id, "advance", False)
    assert receipt.amount_kopecks == 30_000


def test_a_client_without_an_email_gets_the_receipt_by_phone(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    member = Client.get_by_id(world.member.id)
    member.email = ""
    member.save()
    record_topup(world.users["operator"], member, 10_000, "card")
    send(app)
    (document,) = atol.documents.values()
    assert document.body["receipt"]["client"] == {"phone": "+79161234567"}
    assert document.body["receipt"]["payments"] == [{"type": 1, "sum": 100.0}]  # cashless


def test_a_refund_produces_a_return_receipt(app: Flask, world: World, atol: AtolEmulator) -> None:
    record_topup(world.users["owner"], world.member, 20_000, "card")
    refund = post_entry(world.member, "refund", -5_000, method="online", reason="возврат")

    _advance, returned = receipts()
    assert (returned.entry_id, returned.kind, returned.amount_kopecks) == (
        refund.id,
        "refund",
        5_000,
    )
    send_until_settled(app)

    assert Receipt.get_by_id(returned.id).status == "done"
    (document,) = atol.by_external_id(Receipt.get_by_id(returned.id).external_id)
    assert document.operation == "sell_refund"
    assert document.body["receipt"]["items"][0]["payment_method"] == "advance"
    assert document.body["receipt"]["payments"] == [{"type": 1, "sum": 50.0}]
    assert {d.operation for d in atol.registered} == {"sell", "sell_refund"}


def test_under_the_advance_scheme_a_charged_session_gets_a_settlement_receipt(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    client = app.test_client()
    token = stand_token(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=30))
    topup = stream.topup(world.member.id, 20_000, str(world.users["attendant"].id))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(client, token, [topup, started, stream.ended(session_uuid, 600, 10_000)])

    advance, settlement = receipts()
    charge = LedgerEntry.get(LedgerEntry.kind == "charge")
    assert (advance.kind, settlement.kind) == ("advance", "settlement")
    assert (settlement.entry_id, settlement.amount_kopecks) == (charge.id, 10_000)
    send_until_settled(app)

    (document,) = atol.by_external_id(Receipt.get_by_id(settlement.id).external_id)
    sold = document.body["receipt"]
    assert sold["payments"] == [{"type": 2, "sum": 100.0}]  # the advance set off
    assert (sold["items"][0]["payment_method"], sold["items"][0]["payment_object"]) == (
        "full_payment",
        4,
    )
    assert sold["items"][0]["vat"] == {"type": "vat20"}
    assert Receipt.get_by_id(settlement.id).status == "done"


@pytest.mark.parametrize("fiscal", [{"fiscal_scheme": "prepayment"}], indirect=True)
def test_under_the_prepayment_scheme_a_topup_is_a_full_prepayment_and_charges_get_none(
    app: Flask, world: World
) -> None:
    client = app.test_client()
    token = stand_token(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=30))
    topup = stream.topup(world.member.id, 20_000, str(world.users["attendant"].id))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(client, token, [topup, started, stream.ended(session_uuid, 600, 10_000)])

    (receipt,) = receipts()
    assert (receipt.kind, receipt.payment_method) == ("advance", "full_prepayment")
    document = document_of(receipt, settings(app))
    [item] = document.items
    assert (item.payment_object, item.vat) == (4, "vat120")


@pytest.mark.parametrize("fiscal", [{"fiscal_provider": "none"}], indirect=True)
def test_with_no_register_no_receipt_is_queued(app: Flask, world: World) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "cash")
    post_entry(world.member, "refund", -1_000, method="cash")
    assert receipts() == []
    assert provider_for(settings(app)) is None


# --- sending ----------------------------------------------------------------------------------


def test_a_receipt_the_register_refuses_is_sent_again_and_then_reported_failed(
    app: Flask, world: World, atol: AtolEmulator, as_role: Any
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    atol.refuse = 3  # fiscal_max_refusals: 3

    send_until_settled(app)

    (receipt,) = receipts()
    assert receipt.status == "failed" and receipt.refusals == 3
    assert "чек отклонён кассой" in receipt.last_error
    tries = list(atol.documents.values())
    assert len(tries) == 3 and len({d.external_id for d in tries}) == 3  # a new id each time
    assert atol.registered == []
    admin = world.bearer("administrator")
    listed = app.test_client().get("/api/v1/receipts?status=failed", headers=admin).get_json()
    assert [(r["id"], r["status"], r["fiscal"]) for r in listed["items"]] == [
        (receipt.id, "failed", None)
    ]

    # A person sends it again from the Receipts page once the register is fixed: registered once.
    again = post_form(as_role("administrator"), f"/receipts/{receipt.id}/send-again", {})
    assert again.status_code == 302
    assert Receipt.get_by_id(receipt.id).status == "queued"
    send_until_settled(app)
    receipt = Receipt.get_by_id(receipt.id)
    assert receipt.status == "done" and len(atol.registered) == 1


def test_a_receipt_refused_once_is_registered_on_the_next_try(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    atol.refuse = 1

    send_until_settled(app)

    (receipt,) = receipts()
    assert (receipt.status, receipt.refusals) == ("done", 1)
    assert len(atol.documents) == 2 and len(atol.registered) == 1


def test_the_same_receipt_sent_twice_registers_once(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    atol.lose_answers = 1  # registered, but the answer never arrives

    first = send(app)

    (receipt,) = receipts()
    assert first.stopped and (receipt.status, receipt.attempts) == ("queued", 1)
    external_id = receipt.external_id
    send_until_settled(app)  # handed over again under the same external id: 33, its uuid

    receipt = Receipt.get_by_id(receipt.id)
    assert receipt.status == "done" and receipt.external_id == external_id
    assert len(atol.by_external_id(external_id)) == 1 and len(atol.registered) == 1
    # And straight through the provider: the same document twice, one uuid.
    provider = AtolProvider(settings(app))
    document = document_of(receipt, settings(app))
    assert provider.register(document) == provider.register(document)
    assert len(atol.by_external_id(external_id)) == 1


def test_while_the_service_is_down_receipts_wait_and_go_when_it_is_back(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    record_topup(world.users["operator"], world.member, 40_000, "cash")
    atol.down = True

    report = send(app)

    assert "503" in report.stopped
    assert [r.status for r in receipts()] == ["queued", "queued"]
    assert receipts()[0].attempts == 1 and "503" in receipts()[0].last_error
    atol.down = False
    send_until_settled(app)
    assert [r.status for r in receipts()] == ["done", "done"]
    assert len(atol.registered) == 2


@pytest.mark.parametrize("fiscal", [{"atol_password": "wrong"}], indirect=True)
def test_wrong_credentials_stop_the_pass_and_every_receipt_waits(
    app: Flask, world: World, atol: AtolEmulator
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    report = send(app)
    assert "Неверный логин или пароль" in report.stopped
    assert [(r.status, r.refusals) for r in receipts()] == [("queued", 0)]
    assert atol.documents == {}


def test_an_expired_token_is_renewed(app: Flask, world: World, atol: AtolEmulator) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    provider = AtolProvider(settings(app))
    provider.token = "expired"
    uuid = provider.register(document_of(receipts()[0], settings(app)))
    assert uuid in atol.documents and provider.token in atol.tokens


# --- seeing them ------------------------------------------------------------------------------


def test_the_receipts_api_filters_by_status_and_client_and_shows_the_fiscal_data(
    app: Flask, world: World
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    send_until_settled(app)
    record_topup(world.users["operator"], world.guest, 10_000, "cash")
    api = app.test_client()
    owner = world.bearer("owner")

    done = api.get(f"/api/v1/receipts?status=done&client_id={world.member.id}", headers=owner)
    queued = api.get(f"/api/v1/receipts?client_id={world.guest.id}", headers=owner)

    (item,) = done.get_json()["items"]
    assert (item["kind"], item["amount_kopecks"], item["status"]) == ("advance", 30_000, "done")
    assert set(item["fiscal"]) == {
        "fiscal_document_number",
        "fiscal_sign",
        "fn_number",
        "registered_at",
    }
    assert item["fiscal"]["fn_number"]
    assert [i["status"] for i in queued.get_json()["items"]] == ["queued"]
    assert api.get("/api/v1/receipts?status=lost", headers=owner).status_code == 400
    assert api.get("/api/v1/receipts?client_id=999999", headers=owner).status_code == 404
    assert api.get("/api/v1/receipts", headers=world.bearer("operator")).status_code == 403


def test_the_pages_show_receipts_their_fiscal_data_and_the_counts(
    app: Flask, world: World, as_role: Any
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    send_until_settled(app)
    record_topup(world.users["operator"], world.member, 10_000, "cash")
    done = receipts()[0]
    browser = as_role("administrator")

    page = browser.get("/receipts").get_data(as_text=True)
    client_page = browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    diagnostics = browser.get("/diagnostics").get_data(as_text=True)

    assert f'id="receipt-{done.id}" data-status="done"' in page
    assert f"ФД №{done.fiscal_document_number}" in page
    assert f"ФД №{done.fiscal_document_number}" in client_page
    assert "Чек ждёт регистрации" in client_page
    assert f"/receipts?client_id={world.member.id}" in client_page
    others = browser.get(f"/receipts?client_id={world.guest.id}").get_data(as_text=True)
    assert f'id="receipt-{done.id}"' not in others and "Чеков нет" in others
    assert 'data-status="queued">в очереди: 1' in diagnostics
    assert as_role("operator").get("/receipts").status_code == 403


def test_the_integrity_check_catches_a_topup_without_a_receipt(app: Flask, world: World) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    check = next(r for r in run_checks(utcnow()) if r.code == "receipts")
    assert check.ok
    # Written around the ledger service: money in, no receipt.
    stray = LedgerEntry.create(
        client=world.member, kind="topup", amount_kopecks=7_000, method="cash"
    )

    check = next(r for r in run_checks(utcnow()) if r.code == "receipts")

    (violation,) = check.violations
    assert violation.kind == "topup_without_receipt"
    assert f"№{stray.id}" in violation.message and violation.objects == {
        "client": [world.member.id]
    }


def test_a_bad_fiscal_setting_stops_the_start(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="fiscal_inn"):
        create_app(data_dir=tmp_path, secret_key="x", **{**FISCAL, "fiscal_inn": "12"})
    with pytest.raises(ValueError, match="fiscal_scheme"):
        create_app(data_dir=tmp_path, secret_key="x", fiscal_scheme="sometimes")


def test_the_send_receipts_command_sends_the_queue(
    app: Flask,
    world: World,
    database_url: str,
    atol: AtolEmulator,
    fiscal: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    record_topup(world.users["operator"], world.member, 30_000, "card")
    atol.waits = 0  # the register answers at the first report
    settings_env = {
        "DATA_DIR": str(tmp_path / "cli-data"),
        "DATABASE_URL": database_url,
        "ATOL_URL": atol.url,  # type: ignore[attr-defined]
        **{name.upper(): str(value) for name, value in fiscal.items()},
    }
    for name, value in settings_env.items():
        monkeypatch.setenv(f"AQUASTAND_{name}", value)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        first = CliRunner().invoke(cli.main, ["send-receipts"])
        again = CliRunner().invoke(cli.main, ["send-receipts"])
    finally:
        if db_proxy.obj is not previous:
            db_proxy.obj.close()
        db_proxy.initialize(previous)

    assert first.exit_code == 0, first.output
    assert "sent 1, done 1, waiting 0" in first.output
    assert "sent 0, done 0, waiting 0" in again.output
    assert [r.status for r in receipts()] == ["done"]


def test_a_version_15_database_gets_the_receipt_table(database_url: str, tmp_path: Any) -> None:
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        upgrade(database)
        database.drop_tables([Receipt])
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=15)  # before the receipts (18)

        assert upgrade(database) == (15, latest_version())

        assert database.table_exists("receipt")
        assert {c.name for c in database.get_columns("receipt")} >= {
            "entry_id",
            "external_id",
            "fiscal_document_number",
            "fiscal_sign",
            "fn_number",
            "registered_at",
        }
