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
   ("зачёт аванса", full payment by the prepayment);
4. under the scheme "advance" only, a charge given back (a positive ``charge``: a force-close
   corrected by the stand's shorter end, cloud/standsync/ingest/appliers/late_end.py): a
   ``reversal`` receipt, the settlement returned (sell_refund of the service, by the
   prepayment) for the amount given back, so the register no longer shows more settled than
   was. Under the scheme "prepayment" charges owe no receipt, so neither does this.

Under the scheme "advance" a balance may go below zero (a client's overdraft): the part of a
charge that the balance before it did not cover is on credit (the settlement is
"partial_payment", or "credit" when nothing was covered), and the part of a later top-up that
pays that debt off is a "credit_payment" (``credit_part``, stored as ``credit_kopecks``).
Money given back to a balance below zero takes the debt off first, like a top-up: the
reversal's part on credit is the part of it that the debt before it absorbs (returned as
credit, the rest as the advance set off), with the settlement's method for the same split
("full_payment", "partial_payment", "credit"). So the credit the register holds stays the
client's debt, which is what the next top-up's "credit_payment" is reckoned from; the
register does not tie a return to its sale, so which session ran the debt up does not matter.

Nothing is queued while receipts are off (``fiscal_provider = "none"``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee as pw

from cloud.db import insert_rows, utcnow
from cloud.fiscal.settings import FiscalSettings, active_settings
from cloud.models import Client, ClientPhone, LedgerEntry, Receipt

RECEIPT_ENTRY_KINDS = ("topup", "refund", "charge")


@dataclass(frozen=True)
class Owed:
    """The receipt an entry owes: its kind, settlement method, whether paid in cash, and its
    part on credit."""

    kind: str
    payment_method: str
    cash: bool
    credit_kopecks: int = 0


def credit_part(kind: str, amount_kopecks: int, balance_before: int) -> int:
    """Of a charge, the part the balance before it did not cover (it went into debt); of a
    top-up or a charge given back (positive), the part that took a debt off; 0 for any other
    entry."""
    if kind == "charge" and amount_kopecks < 0:
        return -amount_kopecks - min(max(balance_before, 0), -amount_kopecks)
    if kind in ("topup", "charge") and amount_kopecks > 0:
        return min(max(-balance_before, 0), amount_kopecks)
    return 0


def receipt_for(
    kind: str,
    amount_kopecks: int,
    method: str | None,
    settings: FiscalSettings,
    balance_before: int = 0,
) -> Owed | None:
    """The receipt an entry owes, or None. ``balance_before`` is the client's balance before
    the entry (it decides the part on credit under the scheme "advance")."""
    cash = method == "cash"
    credit = (
        credit_part(kind, amount_kopecks, balance_before) if settings.scheme == "advance" else 0
    )
    if kind == "topup" and amount_kopecks > 0:
        return Owed("advance", settings.topup_method, cash, credit)
    if kind == "refund" and amount_kopecks != 0:
        return Owed("refund", settings.topup_method, cash)
    if kind == "charge" and amount_kopecks != 0 and settings.scheme == "advance":
        owed = "settlement" if amount_kopecks < 0 else "reversal"
        return Owed(owed, _settlement_method(credit, abs(amount_kopecks)), False, credit)
    return None


def _settlement_method(credit: int, charge: int) -> str:
    """Tag 1214 of a charge's receipt (or of its reversal's): set off in full, in part with
    the rest on credit, or all on credit."""
    if credit == 0:
        return "full_payment"
    return "credit" if credit == charge else "partial_payment"


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


def _row(entry_id: int, client_id: int, amount: int, owed: Owed, now: datetime) -> dict[str, Any]:
    return {
        "entry": entry_id,
        "client": client_id,
        "kind": owed.kind,
        "amount_kopecks": abs(amount),
        "payment_method": owed.payment_method,
        "cash": owed.cash,
        "credit_kopecks": owed.credit_kopecks,
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
    balance_before = _balances([entry.client_id])[entry.client_id] - entry.amount_kopecks
    owed = receipt_for(entry.kind, entry.amount_kopecks, entry.method, settings, balance_before)
    if owed is not None:
        _insert([_row(entry.id, entry.client_id, entry.amount_kopecks, owed, utcnow())])


def queue_for_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Queue the receipts of entries just inserted from ``rows`` (``post_entries``' rows by
    field name), inside their transaction. An entry is found again by its stand event and
    kind (unique), or, without an event, by its client, kind, amount and time among the
    entries that have no receipt yet."""
    settings = active_settings()
    if settings is None or not any(row["kind"] in RECEIPT_ENTRY_KINDS for row in rows):
        return
    owing = []
    for row, before in zip(rows, _balances_before(rows), strict=True):
        if row["kind"] in RECEIPT_ENTRY_KINDS:
            owed = receipt_for(row["kind"], row["amount_kopecks"], row["method"], settings, before)
            if owed is not None:
                owing.append((row, owed))
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


def _balances(client_ids: Sequence[int]) -> dict[int, int]:
    """The clients' balances as this transaction sees them."""
    query = Client.select(Client.id, Client.balance_kopecks).where(Client.id.in_(client_ids))
    return {client_id: balance for client_id, balance in query.tuples()}


def _balances_before(rows: Sequence[dict[str, Any]]) -> list[int]:
    """Each row's client's balance before its entry: the batch's balances were moved
    already, so each client's balance before the batch is today's less the batch's sum,
    and the rows are walked in their order from there."""
    running = _balances(sorted({row["client"] for row in rows}))
    for row in rows:
        running[row["client"]] -= row["amount_kopecks"]
    befores = []
    for row in rows:
        befores.append(running[row["client"]])
        running[row["client"]] += row["amount_kopecks"]
    return befores


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
