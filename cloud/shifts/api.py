"""API: attendants' shifts with their cash reconciliation (``GET /api/v1/shifts``), the same
rows and filters as the Shifts page (cloud/shifts/pages.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from pydantic import BaseModel

from cloud.api import api_endpoint, bp
from cloud.clock import app_now
from cloud.permissions import Capability
from cloud.shifts import service
from cloud.web import acting_user


class ShiftOut(BaseModel):
    id: int
    uuid: str
    site_id: int
    site: str
    stand_id: int
    stand: str
    staff_id: int | None
    attendant: str
    opened_at: str
    closed_at: str | None
    status: str
    stale: bool
    opening_kopecks: int
    cash_kopecks: int
    card_kopecks: int
    transfer_kopecks: int
    topups: int
    expected_kopecks: int
    counted_kopecks: int | None
    difference_kopecks: int | None


class OutsideOut(BaseModel):
    topups: int
    amount_kopecks: int


class ShiftListOut(BaseModel):
    items: list[ShiftOut]
    outside_shifts: OutsideOut


@bp.route("/shifts")
@api_endpoint(
    Capability.REPORTS,
    "Attendants' shifts opened in a period (newest first, at most 500), each with its cash "
    "reconciliation from the ledger, and the stands' top-ups taken outside any shift",
    response=ShiftListOut,
    query={
        "from": "first day, YYYY-MM-DD (default: first day of this month)",
        "to": "last day, YYYY-MM-DD, inclusive (default: last day of this month)",
        "site_id": "only shifts at this site",
        "stand_id": "only shifts at this stand",
        "staff_id": "only this attendant's shifts",
        "status": (
            "open, closed, or stale (open for more than a day, whenever opened)",
            {"type": "string", "enum": list(service.STATUSES)},
        ),
    },
)
def shifts() -> dict[str, Any]:
    now = app_now()
    wanted = service.filter_from(request.args, current_app.config["AQ"].timezone, now)
    user = acting_user()
    outside = service.outside_shifts(user, wanted)
    return {
        "items": [row.to_dict() for row in service.shifts_for(user, wanted, now)],
        "outside_shifts": {"topups": outside.topups, "amount_kopecks": outside.amount_kopecks},
    }
