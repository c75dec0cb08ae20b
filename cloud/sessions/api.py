"""API: sessions (list, one, the open ones with live time and cost) and the sessions summary
report. Attendants see their own sites' sessions only."""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app, request
from pydantic import BaseModel, Field

from cloud.api import api_endpoint, bp, id_arg, page_args
from cloud.clock import app_now, iso_utc
from cloud.periods import GROUPINGS
from cloud.permissions import Capability
from cloud.reports.sessions import summary_for
from cloud.sessions.service import (
    get_session,
    list_sessions,
    live_views,
    open_sessions,
    session_to_dict,
)
from cloud.web import acting_user


class SessionOut(BaseModel):
    id: int
    status: str
    client_id: int
    stand_id: int
    site_id: int
    tariff_id: int
    tariff_version_id: int
    client_kind: str
    started_at: str
    ended_at: str | None
    duration_s: int | None
    cost_kopecks: int | None
    start_method: str
    end_method: str | None
    started_by_id: int | None
    ended_by_id: int | None
    comment: str
    credential_kind: Literal["card", "plate", "qr"] | None = Field(
        description="what started the session: card UID, plate or QR token id (null: unknown)"
    )
    credential_value: str | None
    over_daily_limit: bool = Field(description="took its card past the card's daily limit")


class SessionList(BaseModel):
    items: list[SessionOut]
    total: int


class OpenSessionOut(SessionOut):
    elapsed_s: int
    running_cost_kopecks: int
    client_name: str
    client_full_name: str
    plate: str
    site_name: str
    stand_name: str
    tariff_name: str


class OpenSessionList(BaseModel):
    server_time: str
    items: list[OpenSessionOut]
    total: int


class SummaryRowOut(BaseModel):
    key: int | str | None
    label: str
    sessions: int
    duration_s: int
    average_duration_s: int
    revenue_kopecks: int


class SummaryOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    group_by: str
    rows: list[SummaryRowOut]
    total: SummaryRowOut


@bp.route("/sessions")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "Sessions, newest first",
    response=SessionList,
    query={
        "client_id": "only this client's sessions",
        "status": "open or ended",
        "site_id": "only this site",
        "stand_id": "only this stand",
        "limit": "page size, 1..500 (50)",
        "offset": "rows to skip (0)",
    },
)
def sessions_list() -> dict[str, Any]:
    limit, offset = page_args()
    rows, total = list_sessions(
        acting_user(),
        client_id=id_arg("client_id"),
        status=request.args.get("status") or None,
        site_id=id_arg("site_id"),
        stand_id=id_arg("stand_id"),
        limit=limit,
        offset=offset,
    )
    return {"items": [session_to_dict(row) for row in rows], "total": total}


@bp.route("/sessions/open")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "Open sessions with elapsed time and running cost",
    response=OpenSessionList,
    query={"site_id": "only this site"},
)
def sessions_open() -> dict[str, Any]:
    now = app_now()
    items = live_views(open_sessions(acting_user(), id_arg("site_id")), now)
    return {"server_time": iso_utc(now), "items": items, "total": len(items)}


@bp.route("/sessions/<int:session_id>")
@api_endpoint(Capability.VIEW_CLIENTS, "One session", response=SessionOut)
def session_get(session_id: int) -> dict[str, Any]:
    return session_to_dict(get_session(acting_user(), session_id))


@bp.route("/reports/summary")
@api_endpoint(
    Capability.REPORTS,
    "Sessions ended in a period: count, total and average time, revenue per group",
    response=SummaryOut,
    query={
        "from": "first day, YYYY-MM-DD (default: first day of this month)",
        "to": "last day, YYYY-MM-DD, inclusive (default: last day of this month)",
        "group_by": (
            "day, week, month (a row per period, empty ones too), site (default), "
            "stand, tariff, client_kind, or started_by (staff:<id>, or self:<method> for a card "
            "or QR self-service start)",
            {"type": "string", "enum": list(GROUPINGS)},
        ),
    },
)
def reports_summary() -> dict[str, Any]:
    args = request.args
    timezone = current_app.config["AQ"].timezone
    result = summary_for(
        acting_user(), args.get("from"), args.get("to"), args.get("group_by"), timezone, app_now()
    )
    return result.to_dict()
