"""The receipt outbox: a receipt row queued in the same transaction as the ledger entry that
owes it, so no money is taken without its receipt and no receipt exists without its money.

The ledger calls ``queue_for_entry`` (``post_entry``) and ``queue_for_rows``
(``post_entries``, a stand's batch) inside its transaction; this module never imports the
ledger. What owes a receipt (``receipt_for``):

1. a money top-up of any method (cash, card, transfer at a stand or centrally, online):
   an ``advance`` receipt (settlement method "advance", or "full_prepayment" under the
   scheme "prepayment");
2. a refund: a ``refund`` receipt (sell_refund) with the top-up's settlement method;
3. under the scheme "advance" only, a session's charge: a ``settlement`` receipt
   ("зачёт аванса", full payment by the prepayment).

Nothing is queued while receipts are off (``fiscal_provider = "none"``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import peewee as pw

from cloud.db import insert_rows, utcnow
from cloud.fiscal.settings import FiscalSettings, active_settings
from cloud.models import Client, ClientPhone, LedgerEntry, Receipt

RECEIPT_ENTRY_KINDS = ("topup", "refund", "charge")


def receipt_for(
    kind: str, amount_kopecks: int, method: str | None, settings: FiscalSettings
) -> tuple[str, str, bool] | None:
    """The receipt an entry owes, as (receipt kind, settlement method, paid in cash), or
    None."""
    cash = method == "cash"
    if kind == "topup" and amount_kopecks > 0:
        return "advance", settings.topup_method, cash
    if kind == "refund" and amount_kopecks != 0:
        return "refund", settings.topup_method, cash
    if kind == "charge" and amount_kopecks < 0 and settings.scheme == "advance":
        return "settlement", "full_payment", False
    return None


def new_external_id() -> str:
    """An id the register's service has never seen (unique across installations)."""
    return f"aq-{uuid.uuid4()}"


def contacts(client_ids: Sequence[int]) -> dict[int, str]:
    """Each client's address for the electronic receipt: the e-mail, else the first phone."""
    ids = sorted(set(client_ids))
    found = {
        client_id: email
        for client_id, email in Client.select(Client.id, Client.email)
        .where(Client.id.in_(ids))
        .tuples()
    }
    phones = (
        ClientPhone.select(ClientPhone.client, ClientPhone.phone)
        .where(ClientPhone.client.in_(ids))
        .order_by(ClientPhone.client, ClientPhone.position, ClientPhone.id)
        .tuples()
    )
    first_phone: dict[int, str] = {}
    for client_id, phone in phones:
        first_phone.setdefault(client_id, phone)
    return {i: (found.get(i) or "").strip() or first_phone.get(i, "") for i in ids}


def _row(
    entry_id: int, client_id: int, amount: int, owed: tuple[str, str, bool], now: datetime
) -> dict[str, Any]:
    kind, payment_method, cash = owed
    return {
        "entry": entry_id,
        "client": client_id,
        "kind": kind,
        "amount_kopecks": abs(amount),
        "payment_method": payment_method,
        "cash": cash,
        "contact": "",
        "status": "queued",
        "external_id": new_external_id(),
        "attempts": 0,
        "refusals": 0,
        "last_error": "",
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    addresses = contacts([row["client"] for row in rows])
    for row in rows:
        row["contact"] = addresses.get(row["client"], "")[:200]
    insert_rows(Receipt, rows)


def queue_for_entry(entry: LedgerEntry) -> None:
    """Queue the receipt ``entry`` owes, if any (call inside the entry's transaction)."""
    settings = active_settings()
    if settings is None or entry.kind not in RECEIPT_ENTRY_KINDS:
        return
    owed = receipt_for(entry.kind, entry.amount_kopecks, entry.method, settings)
    if owed is not None:
        _insert([_row(entry.id, entry.client_id, entry.amount_kopecks, owed, utcnow())])


def queue_for_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Queue the receipts of entries just inserted from ``rows`` (``post_entries``' rows by
    field name), inside their transaction. An entry is found again by its stand event and
    kind (unique), or, without an event, by its client, kind, amount and time among the
    entries that have no receipt yet."""
    settings = active_settings()
    if settings is None:
        return
    owing = [
        (row, owed)
        for row in rows
        if row["kind"] in RECEIPT_ENTRY_KINDS
        and (owed := receipt_for(row["kind"], row["amount_kopecks"], row["method"], settings))
    ]
    if not owing:
        return
    ids = _entry_ids([row for row, _owed in owing])
    now = utcnow()
    _insert(
        [
            _row(entry_id, row["client"], row["amount_kopecks"], owed, now)
            for (row, owed), entry_id in zip(owing, ids, strict=True)
        ]
    )


def _entry_ids(rows: list[dict[str, Any]]) -> list[int]:
    """The ids of the entries inserted from ``rows``, in their order."""
    events = [row["event"] for row in rows if row["event"] is not None]
    by_event: dict[tuple[int, str], int] = {}
    if events:
        query = LedgerEntry.select(LedgerEntry.event, LedgerEntry.kind, LedgerEntry.id).where(
            LedgerEntry.event.in_(sorted(set(events))) & LedgerEntry.kind.in_(RECEIPT_ENTRY_KINDS)
        )
        by_event = {(event_id, kind): entry_id for event_id, kind, entry_id in query.tuples()}
    taken: set[int] = set()
    ids = []
    for row in rows:
        if row["event"] is not None:
            ids.append(by_event[(row["event"], row["kind"])])
        else:
            ids.append(_without_event(row, taken))
    return ids


def _without_event(row: dict[str, Any], taken: set[int]) -> int:
    query = (
        LedgerEntry.select(LedgerEntry.id)
        .join(Receipt, pw.JOIN.LEFT_OUTER, on=(Receipt.entry == LedgerEntry.id))
        .where(
            (LedgerEntry.client == row["client"])
            & (LedgerEntry.kind == row["kind"])
            & (LedgerEntry.amount_kopecks == row["amount_kopecks"])
            & (LedgerEntry.created_at == row["created_at"])
            & Receipt.id.is_null()
        )
        .order_by(LedgerEntry.id)
    )
    entry_id = next(i for (i,) in query.tuples() if i not in taken)
    taken.add(entry_id)
    return int(entry_id)
