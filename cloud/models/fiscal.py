"""Fiscal receipts (54-FZ): the outbox of receipts owed for money movements (cloud/fiscal/)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, Client, LedgerEntry

# advance: a top-up (an advance, or a full prepayment under scheme "prepayment");
# settlement: "зачёт аванса" when a session is charged (scheme "advance");
# refund: the return of a top-up (sell_refund);
# reversal: the return of a settlement (sell_refund by the prepayment), when a charge is given
# back to the balance (scheme "advance"; a force-close corrected by the stand's shorter end).
RECEIPT_KINDS = ("advance", "settlement", "refund", "reversal")
# queued: waits to be sent (again); sent: accepted by the register's service, its result
# asked for; done: registered, fiscal data stored; failed: refused for good (a person looks).
RECEIPT_STATUSES = ("queued", "sent", "done", "failed")


class Receipt(BaseModel):
    """A receipt owed for one ledger entry, written in the transaction of the entry
    (cloud/fiscal/outbox.py) and sent by ``aquastand-cloud send-receipts``
    (cloud/fiscal/sender.py). ``external_id`` is what the register's service deduplicates
    by: a receipt sent any number of times under one external id is registered once; it
    changes only after the register refused the receipt (nothing was registered under it)."""

    entry_id: int
    client_id: int

    entry = pw.ForeignKeyField(LedgerEntry, unique=True, on_delete="RESTRICT", backref="+")
    client = pw.ForeignKeyField(Client, on_delete="RESTRICT", backref="+")
    kind = pw.CharField(max_length=12, choices=[(k, k) for k in RECEIPT_KINDS])
    amount_kopecks = pw.BigIntegerField()
    # The 54-FZ settlement method (tag 1214) fixed when queued: advance, full_prepayment,
    # full_payment, partial_payment, credit; and how the money came (cash or cashless), for
    # the payment type.
    payment_method = pw.CharField(max_length=20)
    # The part on credit (cloud/fiscal/outbox.py, ``credit_part``): of a charge, what the
    # advance did not cover and went into debt; of a top-up, what paid a debt off; of a charge
    # given back (a reversal), the debt it takes off.
    credit_kopecks = pw.BigIntegerField(default=0)
    cash = pw.BooleanField(default=False)
    # The buyer's contact for the electronic copy: a phone (+7…) or an e-mail.
    contact = pw.CharField(max_length=200, default="")
    status = pw.CharField(
        max_length=10, choices=[(s, s) for s in RECEIPT_STATUSES], default="queued", index=True
    )
    external_id = pw.CharField(max_length=64, unique=True)
    provider_uuid = pw.CharField(max_length=64, null=True)  # the service's id of the document
    attempts = pw.IntegerField(default=0)  # sends and report polls that got no final answer
    refusals = pw.IntegerField(default=0)  # times the register refused it
    next_attempt_at = UtcDateTimeField(default=utcnow, index=True)
    last_error = pw.CharField(max_length=500, default="")
    created_at = UtcDateTimeField(default=utcnow, index=True)
    sent_at = UtcDateTimeField(null=True)
    done_at = UtcDateTimeField(null=True)
    # The fiscal data the register gave back.
    fiscal_document_number = pw.BigIntegerField(null=True)
    fiscal_sign = pw.BigIntegerField(null=True)  # fiscal_document_attribute, tag 1077
    fn_number = pw.CharField(max_length=32, null=True)
    registered_at = UtcDateTimeField(null=True)  # receipt_datetime, tag 1012
