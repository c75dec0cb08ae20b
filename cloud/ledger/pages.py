"""Held top-ups: stands' top-ups over a ceiling of the configuration, stored but not credited
(cloud/standsync/ingest/held.py). The page lists them (client, stand, amount, time, the staff
member the stand named) with a button to release each (credited once) and a form to reject it
with the reason; decided ones are listed by status.

Capability REVIEW_TOPUPS (administrators and the owner): releasing credits money a stand's
token alone was not trusted with."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.loyalty.settings import effective_rules
from cloud.models import HELD_STATUSES
from cloud.permissions import Capability, requires
from cloud.standsync.ingest import held
from cloud.web import acting_user

bp = Blueprint("ledger", __name__, url_prefix="/held-topups")


def _page(status: str, error: str = "", code: int = 200) -> Any:
    page = render_template(
        "ledger/held.html",
        rows=held.held_topups(status),
        status=status,
        statuses=held.status_labels(),
        reasons=held.reason_labels(),
        error=error,
    )
    return page, code


@bp.get("")
@requires(Capability.REVIEW_TOPUPS)
def index() -> Any:
    status = request.args.get("status", "held")
    return _page(status if status in HELD_STATUSES else "held")


@bp.post("/<int:held_id>/release")
@requires(Capability.REVIEW_TOPUPS)
def release(held_id: int) -> Any:
    rules = effective_rules(current_app.config["AQ"])
    try:
        row = held.release(held_id, acting_user(), app_now(), rules)
    except DomainError as error:  # decided already (409), the client deleted, not found
        return _page("held", error.message, error.status)
    flash(_("Пополнение №%(id)s зачислено", id=row.id), "success")
    return redirect(url_for("ledger.index"))


@bp.post("/<int:held_id>/reject")
@requires(Capability.REVIEW_TOPUPS)
def reject(held_id: int) -> Any:
    try:
        row = held.reject(held_id, acting_user(), app_now(), request.form.get("note", ""))
    except DomainError as error:
        return _page("held", error.message, error.status)
    flash(_("Пополнение №%(id)s отклонено", id=row.id), "success")
    return redirect(url_for("ledger.index"))
