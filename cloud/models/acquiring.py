"""Online top-ups through an acquirer (cloud/payments/): a payment the client makes with a card
or SBP on the provider's page, and the owner's refunds of it."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel, Client, LedgerEntry, User

# "new": stored, the provider not yet asked (or it did not answer); "failed": the provider
# refused to create it. The rest are the provider's own statuses.
ONLINE_PAYMENT_STATUSES = (
    "new",
    "pending",
    "waiting_for_capture",
    "succeeded",
    "canceled",
    "failed",
)
# The statuses in which a payment may still be paid: reconciliation asks about these.
OPEN_PAYMENT_STATUSES = ("new", "pending", "waiting_for_capture")
ONLINE_REFUND_STATUSES = ("new", "pending", "succeeded", "canceled", "failed")


class OnlinePayment(BaseModel):
    """One online top-up. Credited at most once: ``credited_at`` is set by the one conditional
    UPDATE that wins (cloud/payments/service.py), in the transaction that posts ``entry``."""

    client_id: int
    entry_id: int | None

    client = pw.ForeignKeyField(Client, on_delete="RESTRICT", backref="+")
    provider = pw.CharField(max_length=20)
    provider_payment_id = pw.CharField(max_length=64, null=True, unique=True)
    idempotence_key = pw.CharField(max_length=64, unique=True)
    amount_kopecks = pw.BigIntegerField()
    status = pw.CharField(
        max_length=20, choices=[(s, s) for s in ONLINE_PAYMENT_STATUSES], default="new", index=True
    )
    confirmation_url = pw.CharField(max_length=1000, default="")
    error = pw.CharField(max_length=300, default="")
    created_at = UtcDateTimeField(index=True)
    updated_at = UtcDateTimeField()
    credited_at = UtcDateTimeField(null=True)
    entry = pw.ForeignKeyField(
        LedgerEntry, null=True, unique=True, on_delete="RESTRICT", backref="+"
    )
    refunded_kopecks = pw.BigIntegerField(default=0)


class OnlineRefund(BaseModel):
    """The owner's refund of (part of) an online payment through the provider; ``entry`` is the
    ledger's ``refund`` entry, posted once when the provider says the refund succeeded."""

    payment_id: int
    entry_id: int | None
    created_by_id: int | None

    payment = pw.ForeignKeyField(OnlinePayment, on_delete="RESTRICT", backref="refunds")
    provider_refund_id = pw.CharField(max_length=64, null=True, unique=True)
    idempotence_key = pw.CharField(max_length=64, unique=True)
    amount_kopecks = pw.BigIntegerField()
    status = pw.CharField(
        max_length=20, choices=[(s, s) for s in ONLINE_REFUND_STATUSES], default="new", index=True
    )
    debt_confirmed = pw.BooleanField(default=False)
    reason = pw.CharField(max_length=300, default="")
    error = pw.CharField(max_length=300, default="")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    entry = pw.ForeignKeyField(
        LedgerEntry, null=True, unique=True, on_delete="RESTRICT", backref="+"
    )
