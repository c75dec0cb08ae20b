"""Sending the receipt outbox to the register: one pass of ``aquastand-cloud send-receipts``.

A pass (``send_receipts``) first hands over the queued receipts that are due, then asks for
the result of those handed over. The rules, in order:

1. A receipt is handed over under its ``external_id``; the service answers its uuid (a
   second hand-over of the same id answers the same uuid: it registers once). Status
   ``sent``, its result asked for at once.
2. The result ``wait``: asked again after ``POLL_DELAY_S``, then longer (back-off).
3. ``done``: the fiscal data is stored, status ``done``.
4. Refused (the register's ``fail``, or the service refusing the document): nothing was
   registered, so it is queued again under a new external id after a back-off; after
   ``fiscal_max_refusals`` refusals it is ``failed`` with the words of the refusal, on the
   Receipts page and the Diagnostics page until a person sends it again.
5. The service unreachable or answering nonsense: the receipt keeps its state and external
   id, is tried again after a back-off, never given up; the pass stops (the next receipts
   would meet the same outage).
6. The set-up wrong (login, password, group): the pass stops, every receipt waits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cloud.db import db_proxy
from cloud.fiscal.outbox import new_external_id
from cloud.fiscal.provider import (
    FiscalProvider,
    ProviderSetupError,
    ProviderUnavailable,
    ReceiptDocument,
    ReceiptItem,
    ReceiptPayment,
    ReceiptRefused,
    Report,
)
from cloud.fiscal.settings import FiscalSettings
from cloud.models import Receipt

POLL_DELAY_S = 5
FIRST_BACKOFF_S = 30
MAX_BACKOFF_S = 3600
BATCH = 200

# What the receipt says it is for (the item's name, tag 1030), by settlement method.
ITEM_NAMES = {
    "advance": "Аванс за услуги мойки самообслуживания",
    "full_prepayment": "Предоплата услуг мойки самообслуживания",
    "full_payment": "Услуги мойки самообслуживания",
    "partial_payment": "Услуги мойки самообслуживания",
    "credit": "Услуги мойки самообслуживания",
    "credit_payment": "Оплата долга за услуги мойки самообслуживания",
}
CASH, CASHLESS, ADVANCE_SET_OFF, ON_CREDIT = 0, 1, 2, 3  # ATOL's payment types


@dataclass
class SendReport:
    """What a pass did."""

    sent: int = 0
    done: int = 0
    waiting: int = 0
    refused: int = 0
    failed: int = 0
    stopped: str = ""  # why the pass stopped early (the service down, the set-up wrong)


def provider_for(settings: FiscalSettings) -> FiscalProvider | None:
    """The configured provider (None for "none": nothing is sent)."""
    if settings.provider == "atol":
        from cloud.fiscal.atol import AtolProvider

        return AtolProvider(settings)
    return None


def backoff(attempts: int, first: int = FIRST_BACKOFF_S) -> timedelta:
    """The wait before try ``attempts + 1``: doubling from ``first``, at most an hour."""
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def document_of(receipt: Receipt, settings: FiscalSettings) -> ReceiptDocument:
    """The receipt as a provider takes it. A settlement is paid by the advance set off and,
    for what went into debt (``credit_kopecks``), on credit; a reversal (its sell_refund) is
    the same document returned: the advance set off comes back, and so does the debt it takes
    off; a top-up that paid a debt off has an item "credit_payment" for that part and the
    advance for the rest."""
    total, credit = receipt.amount_kopecks, receipt.credit_kopecks
    if receipt.kind in ("settlement", "reversal"):
        items = [_item(receipt.payment_method, total, settings)]
        payments = [(ADVANCE_SET_OFF, total - credit), (ON_CREDIT, credit)]
    else:
        items = [
            _item("credit_payment", credit, settings),
            _item(receipt.payment_method, total - credit, settings),
        ]
        payments = [(CASH if receipt.cash else CASHLESS, total)]
    return ReceiptDocument(
        external_id=receipt.external_id,
        operation="sell_refund" if receipt.kind in ("refund", "reversal") else "sell",
        amount_kopecks=total,
        items=tuple(item for item in items if item.amount_kopecks),
        payments=tuple(ReceiptPayment(kind, amount) for kind, amount in payments if amount),
        contact=receipt.contact,
        at=receipt.created_at.astimezone(ZoneInfo(settings.timezone)),
    )


def _item(payment_method: str, amount_kopecks: int, settings: FiscalSettings) -> ReceiptItem:
    return ReceiptItem(
        name=ITEM_NAMES[payment_method],
        amount_kopecks=amount_kopecks,
        payment_method=payment_method,
        payment_object=10 if payment_method == "advance" else 4,
        vat=settings.vat_for(payment_method),
    )


def send_receipts(
    provider: FiscalProvider,
    settings: FiscalSettings,
    now: datetime,
    limit: int = BATCH,
    stop: threading.Event | None = None,
) -> SendReport:
    """One pass over the due receipts (at most ``limit`` of each state)."""
    report = SendReport()
    try:
        for receipt in _due("queued", now, limit):
            if stop is not None and stop.is_set():
                return report
            _hand_over(provider, settings, receipt, now, report)
        for receipt in _due("sent", now, limit):
            if stop is not None and stop.is_set():
                return report
            _ask(provider, settings, receipt, now, report)
    except ProviderUnavailable as error:
        report.stopped = error.message
    except ProviderSetupError as error:
        report.stopped = error.message
    return report


def _due(status: str, now: datetime, limit: int) -> list[Receipt]:
    return list(
        Receipt.select()
        .where((Receipt.status == status) & (Receipt.next_attempt_at <= now))
        .order_by(Receipt.next_attempt_at, Receipt.id)
        .limit(limit)
    )


def _save(receipt: Receipt, expected: str, **changes: object) -> None:
    """Move the receipt on from ``expected`` (another pass that moved it first wins)."""
    with db_proxy.atomic():
        Receipt.update(**changes).where(
            (Receipt.id == receipt.id) & (Receipt.status == expected)
        ).execute()


def _hand_over(
    provider: FiscalProvider,
    settings: FiscalSettings,
    receipt: Receipt,
    now: datetime,
    report: SendReport,
) -> None:
    try:
        uuid = provider.register(document_of(receipt, settings))
    except ReceiptRefused as error:
        _refused(receipt, "queued", error.message, settings, now, report)
        return
    except ProviderUnavailable as error:
        _unavailable(receipt, "queued", error.message, now)
        raise
    _save(receipt, "queued", status="sent", provider_uuid=uuid, sent_at=now, next_attempt_at=now)
    report.sent += 1


def _ask(
    provider: FiscalProvider,
    settings: FiscalSettings,
    receipt: Receipt,
    now: datetime,
    report: SendReport,
) -> None:
    try:
        result: Report = provider.report(receipt.provider_uuid or "")
    except ReceiptRefused as error:
        _refused(receipt, "sent", error.message, settings, now, report)
        return
    except ProviderUnavailable as error:
        _unavailable(receipt, "sent", error.message, now)
        raise
    if result.status == "done" and result.fiscal is not None:
        data = result.fiscal
        _save(
            receipt,
            "sent",
            status="done",
            done_at=now,
            last_error="",
            fiscal_document_number=data.fiscal_document_number,
            fiscal_sign=data.fiscal_sign,
            fn_number=data.fn_number,
            registered_at=data.registered_at,
        )
        report.done += 1
    elif result.status == "fail":
        _refused(receipt, "sent", result.error, settings, now, report)
    else:
        attempts = receipt.attempts + 1
        wait = backoff(attempts, POLL_DELAY_S)
        _save(receipt, "sent", attempts=attempts, next_attempt_at=now + wait)
        report.waiting += 1


def _refused(
    receipt: Receipt,
    expected: str,
    message: str,
    settings: FiscalSettings,
    now: datetime,
    report: SendReport,
) -> None:
    """Nothing registered under the receipt's external id: again under a new one, or failed."""
    refusals = receipt.refusals + 1
    common = {"refusals": refusals, "last_error": message[:500], "provider_uuid": None}
    if refusals >= settings.max_refusals:
        _save(receipt, expected, status="failed", **common)
        report.failed += 1
        return
    _save(
        receipt,
        expected,
        status="queued",
        external_id=new_external_id(),
        next_attempt_at=now + backoff(refusals),
        **common,
    )
    report.refused += 1


def _unavailable(receipt: Receipt, expected: str, message: str, now: datetime) -> None:
    attempts = receipt.attempts + 1
    _save(
        receipt,
        expected,
        attempts=attempts,
        last_error=message[:500],
        next_attempt_at=now + backoff(attempts),
    )


def send_again(receipt_id: int, now: datetime) -> bool:
    """A failed receipt queued again (a person fixed the cause), under a new external id and
    with its refusals counted afresh; False if it is not failed."""
    with db_proxy.atomic():
        changed = (
            Receipt.update(
                status="queued",
                refusals=0,
                attempts=0,
                external_id=new_external_id(),
                next_attempt_at=now,
            )
            .where((Receipt.id == receipt_id) & (Receipt.status == "failed"))
            .execute()
        )
    return bool(changed)
