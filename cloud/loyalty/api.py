"""Bonus points over the JSON API: a client's bonus history and manual accrual or deduction,
and the bonus history across clients (the rules are ``cloud.loyalty.bonus``'s)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field

from cloud.api import api_endpoint, bp, page_args
from cloud.clients import scope as client_scope
from cloud.clock import app_now
from cloud.fields import non_zero, said_by, text
from cloud.loyalty import bonus
from cloud.loyalty import history as bonushistory
from cloud.loyalty.settings import effective_rules
from cloud.permissions import Capability
from cloud.web import acting_user


class PointsEntryOut(BaseModel):
    id: int
    client_id: int
    kind: Literal[
        "bonus_welcome", "bonus_accrual", "bonus_spend", "bonus_expiry", "bonus_adjustment"
    ]
    operation: Literal["accrual", "spending", "expiry", "manual"]
    points: int = Field(description="positive: accrued or given back; negative: taken")
    method: Literal["auto", "staff"]
    created_by_id: int | None
    reason: str
    session_id: int | None
    site_id: int | None
    created_at: str


class PointsHistory(BaseModel):
    items: list[PointsEntryOut]
    total: int
    accrued: int = Field(description="points in over the whole filtered history")
    spent: int = Field(description="points out (spent, deducted, expired), positive")


Points = Annotated[
    non_zero(bonus.MAX_POINTS, "non-zero; negative deducts (at most the balance)"),
    said_by(bonus.check_points, int),
]
Reason = Annotated[text(bonus.MAX_REASON), said_by(bonus.clean_reason, str)]


class PointsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Points
    reason: Reason


HISTORY_QUERY = {
    "phone": "the clients with this phone (any common form)",
    "operation": (
        "accrual, spending, expiry or manual",
        {"type": "string", "enum": list(bonushistory.OPERATIONS)},
    ),
    "method": (
        "auto (by the service) or staff (by a person)",
        {"type": "string", "enum": list(bonushistory.METHODS)},
    ),
    "staff_id": "made by this staff member",
    "from": "first day, YYYY-MM-DD (service time zone)",
    "to": "last day, YYYY-MM-DD",
    "limit": "1..500, default 50",
    "offset": "default 0",
}


def _history(client_id: int | None) -> dict[str, Any]:
    limit, offset = page_args()
    wanted = bonushistory.parse_filter(
        request.args, current_app.config["AQ"].timezone, app_now(), client_id
    )
    found = bonushistory.history(acting_user(), wanted, limit, offset)
    return {
        "items": [bonushistory.entry_to_dict(entry) for entry in found.entries],
        "total": found.total,
        "accrued": found.accrued,
        "spent": found.spent,
    }


@bp.get("/bonuses")
@api_endpoint(
    Capability.REPORTS,
    "Bonus history across clients, newest first",
    response=PointsHistory,
    query=HISTORY_QUERY,
)
def bonuses_history() -> Any:
    return _history(None)


@bp.get("/clients/<int:client_id>/points")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "A client's bonus history, newest first",
    response=PointsHistory,
    query=HISTORY_QUERY,
)
def client_points(client_id: int) -> Any:
    return _history(client_scope.get_client(acting_user(), client_id).id)


@bp.post("/clients/<int:client_id>/points")
@api_endpoint(
    Capability.ADJUST_POINTS,
    "Grant or deduct bonus points with a reason (administrator, owner)",
    body=PointsIn,
    response=PointsEntryOut,
    status=201,
)
def client_points_adjust(client_id: int, body: PointsIn) -> Any:
    client = client_scope.get_client(acting_user(), client_id)
    rules = effective_rules(current_app.config["AQ"])
    entry = bonus.adjust_points(acting_user(), client, body.points, body.reason, rules, app_now())
    return bonushistory.entry_to_dict(entry)
