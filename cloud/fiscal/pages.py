"""The Receipts page: every fiscal receipt with its status, filtered by status and client;
a failed one shows the register's words and can be sent again once its cause is fixed.

Capability RECEIPTS (administrators and the owner): the receipts carry every client's
payments and contacts across the chain."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.fields import query_row_id
from cloud.fiscal import receipts, sender
from cloud.models import RECEIPT_STATUSES
from cloud.permissions import Capability, requires

bp = Blueprint("fiscal", __name__, url_prefix="/receipts")
PAGE_SIZE = 100


@bp.get("")
@requires(Capability.RECEIPTS)
def index() -> Any:
    status = request.args.get("status", "")
    try:
        client_id = query_row_id(request.args.get("client_id"), "client_id")
        chosen = receipts.ReceiptFilter.of(
            status if status in RECEIPT_STATUSES else None, client_id
        )
    except DomainError as error:
        return error.message, error.status
    return render_template(
        "fiscal/receipts.html",
        rows=receipts.list_receipts(chosen, PAGE_SIZE),
        total=receipts.count_receipts(chosen),
        chosen=chosen,
        counts=receipts.status_counts(app_now()),
        statuses=receipts.status_labels(),
        kinds=receipts.kind_labels(),
    )


@bp.post("/<int:receipt_id>/send-again")
@requires(Capability.RECEIPTS)
def send_again(receipt_id: int) -> Any:
    if sender.send_again(receipt_id, app_now()):
        flash(_("Чек №%(id)s снова в очереди", id=receipt_id), "success")
    else:
        flash(_("Чек №%(id)s не в статусе ошибки", id=receipt_id), "error")
    return redirect(url_for("fiscal.index", status="failed"))
