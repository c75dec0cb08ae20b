"""The owner's Audit page: the staff audit log filtered by who, action, target and period,
newest first, paged, and the same rows as CSV. There is no route that changes the log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from cloud.audit import search
from cloud.csvexport import csv_response
from cloud.errors import DomainError
from cloud.permissions import Capability, requires
from cloud.web import local_time

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50


def _offset() -> int:
    text = request.args.get("offset", "0")
    return int(text) if text.isdigit() and len(text) < 10 else 0


@bp.get("")
@requires(Capability.VIEW_AUDIT)
def index() -> Any:
    context: dict[str, Any] = {
        "actions": search.ACTIONS,
        "kinds": search.TARGET_KINDS,
        "actors": search.actors(),
        "args": request.args,
        "limit": PAGE_SIZE,
        "label": search.action_label,
    }
    try:
        chosen = search.parse_filter(request.args, current_app.config["AQ"].timezone)
    except DomainError as error:
        page = render_template("audit/index.html", error=error.message, **context)
        return page, error.status
    offset = _offset()
    rows, total = search.find(chosen, PAGE_SIZE, offset)
    return render_template(
        "audit/index.html",
        error="",
        rows=rows,
        total=total,
        offset=offset,
        filter_args=chosen.args(),
        values=search.entry_to_dict,
        **context,
    )


@bp.get("/audit.csv")
@requires(Capability.VIEW_AUDIT)
def export_csv() -> Any:
    chosen = search.parse_filter(request.args, current_app.config["AQ"].timezone)
    rows = (search.csv_row(entry, local_time(entry.at)) for entry in search.every(chosen))
    return csv_response("audit.csv", search.csv_header(), rows, search.CSV_SAFE)
