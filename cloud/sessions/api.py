"""API: sessions (list, one, the open ones with live time and cost) and the sessions summary
report. Attendants see their own sites' sessions only."""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field

from cloud.api import api_endpoint, bp, id_arg, page_args
from cloud.clients import scope as client_scope
from cloud.clock import app_now, iso_utc
from cloud.fields import RowId, text
from cloud.periods import GROUPINGS
from cloud.permissions import Capability
from cloud.reports.sessions import summary_for
from cloud.sessions import forceclose
from cloud.sessions.service import (
    get_session,
    list_sessions,
    live_views,
    open_sessions,
    session_to_dict,
)
from cloud.standsync import commands
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
    force_closed: bool = Field(
        description="ended centrally by an administrator (POST /sessions/{id}/force-close)"
    )


class ForcedCloseOut(BaseModel):
    closed_by_id: int | None
    closed_at: str
    reason: Literal["stand_silent", "stand_revoked", "not_from_stand"]
    comment: str
    duration_s: int
    cost_kopecks: int = Field(description="the central price charged at the force-close")
    stand_reported_at: str | None = Field(
        description="when the stand's own end arrived (null: not yet)"
    )
    correction_kopecks: int = Field(
        description="the stand's charge minus the central one, as corrected in the ledger"
    )


class ForceCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: text(forceclose.MAX_COMMENT, description="why, required")


class ForceClosedOut(SessionOut):
    forced: ForcedCloseOut


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: RowId
    stand_id: RowId


class StartCommandOut(BaseModel):
    id: int
    client_id: int
    stand_id: int
    session_uuid: str
    status: Literal["pending", "done", "refused", "expired"]
    reason: str = Field(description="the stand's refusal code (sync.events) when refused")
    session_id: int | None = Field(description="the session started, when done")
    created_at: str


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


@bp.post("/sessions/<int:session_id>/force-close")
@api_endpoint(
    Capability.FORCE_CLOSE,
    "End and charge centrally a session no stand can end (its stand silent, revoked, or none); "
    "409 stand_alive when its stand can end it, 409 session_ended when it has ended",
    body=ForceCloseIn,
    response=ForceClosedOut,
)
def session_force_close(session_id: int, body: ForceCloseIn) -> dict[str, Any]:
    actor = acting_user()
    forced = forceclose.force_close(
        actor,
        session_id,
        body.comment,
        app_now(),
        forceclose.ForceRules.from_config(current_app.config["AQ"]),
    )
    return {
        **session_to_dict(get_session(actor, session_id)),
        "force_closed": True,
        "forced": forceclose.forced_to_dict(forced),
    }


def command_to_dict(command: Any) -> dict[str, Any]:
    """The API form of a start_session command."""
    return {
        "id": command.id,
        "client_id": command.client_id,
        "stand_id": command.stand_id,
        "session_uuid": command.session_uuid,
        "status": command.outcome or "pending",
        "reason": command.reason,
        "session_id": command.session_id,
        "created_at": iso_utc(command.created_at),
    }


@bp.post("/sessions/start")
@api_endpoint(
    Capability.SERVE_CLIENTS,
    "Ask a stand to start a session for a client, as if the client tapped; the stand answers "
    "at its next exchange (GET /sessions/starts/{id})",
    body=StartIn,
    response=StartCommandOut,
    status=202,
)
def session_start(body: StartIn) -> dict[str, Any]:
    actor = acting_user()
    client = client_scope.get_client(actor, body.client_id)
    return command_to_dict(commands.request_start(actor, client, body.stand_id, app_now()))


@bp.get("/sessions/starts/<int:command_id>")
@api_endpoint(
    Capability.VIEW_CLIENTS, "A start asked of a stand, and its outcome", response=StartCommandOut
)
def session_start_get(command_id: int) -> dict[str, Any]:
    actor = acting_user()
    command = commands.start_command(actor, command_id)
    return command_to_dict(command)
