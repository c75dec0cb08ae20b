"""Reading the receipts: the Receipts page and API (filters by status and client), the counts
on the Diagnostics page, and the receipt of each of a client's ledger entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.clock import iso_utc
from cloud.errors import ValidationFailed
from cloud.models import RECEIPT_KINDS, RECEIPT_STATUSES, Client, Receipt

# A receipt not registered this long after it was queued is pointed out (Diagnostics).
LATE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class ReceiptFilter:
    status: str | None = None
    client_id: int | None = None

    @classmethod
    def of(cls, status: str | None, client_id: int | None) -> ReceiptFilter:
        if status and status not in RECEIPT_STATUSES:
            raise ValidationFailed(
                _("Статус чека: queued, sent, done или failed"), "bad_receipt_status"
            )
        return cls(status or None, client_id)


def _query(chosen: ReceiptFilter) -> pw.ModelSelect:
    query = Receipt.select(Receipt, Client).join(Client, on=(Receipt.client == Client.id))
    if chosen.status is not None:
        query = query.where(Receipt.status == chosen.status)
    if chosen.client_id is not None:
        query = query.where(Receipt.client == chosen.client_id)
    return query


def list_receipts(chosen: ReceiptFilter, limit: int = 50, offset: int = 0) -> list[Receipt]:
    """Receipts matching ``chosen``, newest first."""
    query = _query(chosen).order_by(Receipt.created_at.desc(), Receipt.id.desc())
    return list(query.limit(limit).offset(offset))


def count_receipts(chosen: ReceiptFilter) -> int:
    return int(_query(chosen).count())


def fiscal_dict(receipt: Receipt) -> dict[str, Any] | None:
    """The fiscal data of a registered receipt, or None."""
    if receipt.status != "done":
        return None
    return {
        "fiscal_document_number": receipt.fiscal_document_number,
        "fiscal_sign": receipt.fiscal_sign,
        "fn_number": receipt.fn_number,
        "registered_at": iso_utc(receipt.registered_at),
    }


def receipt_to_dict(receipt: Receipt) -> dict[str, Any]:
    """The API form of a receipt."""
    return {
        "id": receipt.id,
        "kind": receipt.kind,
        "amount_kopecks": receipt.amount_kopecks,
        "status": receipt.status,
        "client_id": receipt.client_id,
        "entry_id": receipt.entry_id,
        "external_id": receipt.external_id,
        "payment_method": receipt.payment_method,
        "credit_kopecks": receipt.credit_kopecks,
        "created_at": iso_utc(receipt.created_at),
        "sent_at": iso_utc(receipt.sent_at),
        "attempts": receipt.attempts,
        "refusals": receipt.refusals,
        "last_error": receipt.last_error,
        "fiscal": fiscal_dict(receipt),
    }


def receipts_of_entries(entry_ids: Sequence[int]) -> dict[int, Receipt]:
    """The receipt of each of these ledger entries that has one."""
    if not entry_ids:
        return {}
    query = Receipt.select().where(Receipt.entry.in_(sorted(set(entry_ids))))
    return {receipt.entry_id: receipt for receipt in query}


def status_counts(now: datetime) -> dict[str, int]:
    """How many receipts are in each status, and how many are ``late``: queued or sent over
    ``LATE_AFTER`` ago and still not registered."""
    counts = dict.fromkeys(RECEIPT_STATUSES, 0)
    query = Receipt.select(Receipt.status, pw.fn.COUNT(Receipt.id)).group_by(Receipt.status)
    for status, count in query.tuples():
        counts[status] = int(count)
    late = Receipt.select().where(
        Receipt.status.in_(("queued", "sent")) & (Receipt.created_at < now - LATE_AFTER)
    )
    counts["late"] = int(late.count())
    return counts


def status_labels() -> dict[str, str]:
    return {
        "queued": _("в очереди"),
        "sent": _("отправлен"),
        "done": _("зарегистрирован"),
        "failed": _("ошибка"),
    }


def kind_labels() -> dict[str, str]:
    labels = {
        "advance": _("приход (аванс)"),
        "settlement": _("зачёт аванса"),
        "refund": _("возврат"),
        "reversal": _("возврат зачёта аванса"),
    }
    assert set(labels) == set(RECEIPT_KINDS)
    return labels
