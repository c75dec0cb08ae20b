"""API: the fiscal receipts (cloud/fiscal/receipts.py), filtered by status and client."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _
from pydantic import BaseModel

from cloud.api import api_endpoint, bp, id_arg, page_args
from cloud.errors import NotFound
from cloud.fiscal import receipts
from cloud.models import RECEIPT_STATUSES, Client
from cloud.permissions import Capability


class FiscalDataOut(BaseModel):
    fiscal_document_number: int | None
    fiscal_sign: int | None
    fn_number: str | None
    registered_at: str | None


class ReceiptOut(BaseModel):
    id: int
    kind: str  # advance, settlement, refund, reversal (a settlement returned)
    amount_kopecks: int
    status: str  # queued, sent, done, failed
    client_id: int
    entry_id: int
    external_id: str
    payment_method: str
    # The part on credit: of a settlement, the debt; of a top-up, debt paid; of a reversal,
    # the debt it takes off.
    credit_kopecks: int
    created_at: str | None
    sent_at: str | None
    attempts: int
    refusals: int
    last_error: str
    fiscal: FiscalDataOut | None


class ReceiptListOut(BaseModel):
    count: int
    items: list[ReceiptOut]


@bp.route("/receipts")
@api_endpoint(
    Capability.RECEIPTS,
    "Fiscal receipts (54-FZ), newest first: kind advance, settlement, refund or reversal (a "
    "settlement returned: a charge given back); status queued, sent, done (with the fiscal "
    "data) or failed (with the register's words)",
    response=ReceiptListOut,
    query={
        "status": (
            "only receipts in this status",
            {"type": "string", "enum": list(RECEIPT_STATUSES)},
        ),
        "client_id": "only this client's receipts",
        "limit": "at most this many (1-500, default 50)",
        "offset": "skip this many",
    },
)
def list_receipts() -> dict[str, Any]:
    limit, offset = page_args()
    chosen = receipts.ReceiptFilter.of(request.args.get("status"), id_arg("client_id"))
    if chosen.client_id is not None and Client.get_or_none(Client.id == chosen.client_id) is None:
        raise NotFound(_("Клиент не найден"))
    return {
        "count": receipts.count_receipts(chosen),
        "items": [
            receipts.receipt_to_dict(r) for r in receipts.list_receipts(chosen, limit, offset)
        ],
    }
