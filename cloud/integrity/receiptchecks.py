"""Integrity check: every money top-up (and refund) has exactly one fiscal receipt
(cloud/fiscal/). A receipt is unique per ledger entry, so the rule breaks by a missing one:
an entry written around ``cloud.ledger.service`` (a manual fix, an import), or while receipts
were switched off after they had been on. Entries older than the first receipt are not
counted: they were made before receipts were switched on."""

from __future__ import annotations

import peewee as pw
from flask_babel import gettext as _

from cloud.integrity.violations import Violation
from cloud.models import LedgerEntry, Receipt
from sync.money import format_kopecks


def topup_receipts(limit: int) -> list[Violation]:
    """Top-ups and refunds from the first receipt on that have no receipt."""
    first = Receipt.select(pw.fn.MIN(Receipt.entry)).scalar()
    if first is None:
        return []
    owing = ((LedgerEntry.kind == "topup") & (LedgerEntry.amount_kopecks > 0)) | (
        (LedgerEntry.kind == "refund") & (LedgerEntry.amount_kopecks != 0)
    )
    query = (
        LedgerEntry.select(
            LedgerEntry.id, LedgerEntry.client, LedgerEntry.kind, LedgerEntry.amount_kopecks
        )
        .join(Receipt, pw.JOIN.LEFT_OUTER, on=(Receipt.entry == LedgerEntry.id))
        .where((LedgerEntry.id >= first) & owing & Receipt.id.is_null())
        .order_by(LedgerEntry.id)
        .limit(limit)
        .tuples()
    )
    return [_violation(*row) for row in query]


def _violation(entry_id: int, client_id: int, kind: str, amount: int) -> Violation:
    if kind == "topup":
        message = _(
            "Пополнение (операция №%(id)s) на %(sum)s клиенту №%(client)s без чека",
            id=entry_id,
            sum=format_kopecks(amount),
            client=client_id,
        )
    else:
        message = _(
            "Возврат (операция №%(id)s) на %(sum)s клиенту №%(client)s без чека возврата",
            id=entry_id,
            sum=format_kopecks(abs(amount)),
            client=client_id,
        )
    return Violation(f"{kind}_without_receipt", message, {"client": [client_id]})
