"""API: the reports (cloud/reports/pages.py pages) as JSON: top-ups by period, method, site or staff
member; the top-up history; the balances that went negative with their sessions; stand health
over a period. The sessions report is ``/reports/summary`` (cloud/sessions/api.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from pydantic import BaseModel, Field

from cloud.api import api_endpoint, bp
from cloud.clock import app_now
from cloud.models import LEDGER_METHODS
from cloud.periods import Period, period_for
from cloud.permissions import Capability
from cloud.reports import debts as debtreport
from cloud.reports import stands as standreport
from cloud.reports import topups as topupreport
from cloud.web import acting_user

PERIOD_QUERY = {
    "from": "first day, YYYY-MM-DD (default: first day of this month)",
    "to": "last day, YYYY-MM-DD, inclusive (default: last day of this month)",
}


class TopupRowOut(BaseModel):
    key: int | str | None
    label: str
    topups: int
    amount_kopecks: int


class TopupSummaryOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    group_by: str
    rows: list[TopupRowOut]
    total: TopupRowOut


class TopupItemOut(BaseModel):
    id: int
    created_at: str
    client_id: int
    client_name: str
    amount_kopecks: int
    method: str | None
    site_id: int | None
    site_name: str | None
    staff_id: int | None
    staff_name: str | None


class TopupHistoryOut(BaseModel):
    from_: str | None = Field(alias="from")
    to: str | None
    client_id: int | None
    method: str | None
    site_id: int | None
    count: int
    amount_kopecks: int
    items: list[TopupItemOut]


class DebtSessionOut(BaseModel):
    session_id: int
    stand_id: int
    stand_name: str
    site_name: str
    started_at: str
    ended_at: str | None
    cost_kopecks: int
    overlaps_with: int | None


class DebtOut(BaseModel):
    client_id: int
    client_name: str
    client_kind: str
    balance_kopecks: int
    since: str | None
    sessions_count: int
    two_stands: bool
    sessions: list[DebtSessionOut]


class DebtReportOut(BaseModel):
    debtors: int
    owed_kopecks: int
    items: list[DebtOut]


class StandRowOut(BaseModel):
    stand_id: int
    stand_name: str
    site_name: str
    offline_s: int | None
    outages: int
    outbox_peak: int
    outbox_peak_at: str | None
    repriced: int
    repriced_difference_kopecks: int


class RepricedSessionOut(BaseModel):
    session_id: int
    stand_id: int
    client_id: int
    ended_at: str
    duration_s: int | None
    cost_kopecks: int | None
    repriced_cost_kopecks: int | None


class ForcedSessionOut(BaseModel):
    session_id: int
    stand_id: int
    client_id: int
    closed_at: str
    closed_by: str | None
    reason: str
    comment: str
    cost_kopecks: int
    stand_reported_at: str | None
    correction_kopecks: int


class StandReportOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    rows: list[StandRowOut]
    repriced_sessions: list[RepricedSessionOut]
    forced_sessions: list[ForcedSessionOut] = Field(
        description="sessions force-closed centrally in the period, newest first"
    )


def _period() -> Period:
    args = request.args
    return period_for(
        args.get("from"), args.get("to"), current_app.config["AQ"].timezone, app_now()
    )


@bp.route("/reports/topups")
@api_endpoint(
    Capability.REPORTS,
    "Top-ups taken in a period: count and sum per day, week, month, method, site or staff",
    response=TopupSummaryOut,
    query={
        **PERIOD_QUERY,
        "group_by": (
            "day (default), week, month, method, site or staff",
            {"type": "string", "enum": list(topupreport.GROUPINGS)},
        ),
    },
)
def reports_topups() -> dict[str, Any]:
    group_by = topupreport.check_grouping(request.args.get("group_by"))
    return topupreport.summarise_topups(acting_user(), _period(), group_by).to_dict()


@bp.route("/reports/topups/history")
@api_endpoint(
    Capability.REPORTS,
    "Top-ups, newest first (at most 200), with the count and sum of all that match",
    response=TopupHistoryOut,
    query={
        "from": "first day, YYYY-MM-DD (default: no bound)",
        "to": "last day, YYYY-MM-DD, inclusive (default: no bound)",
        "client_id": "only this client's top-ups",
        "method": (
            "only cash, card or transfer",
            {"type": "string", "enum": ["", *LEDGER_METHODS]},
        ),
        "site_id": "only top-ups taken at this site",
    },
)
def reports_topup_history() -> dict[str, Any]:
    chosen = topupreport.history_filter(request.args, current_app.config["AQ"].timezone)
    return topupreport.topup_history(acting_user(), chosen).to_dict()


@bp.route("/reports/debts")
@api_endpoint(
    Capability.REPORTS,
    "Clients who owe (the 100 largest debts) with the sessions since the balance was last "
    "non-negative; two_stands marks debts made by overlapping sessions at two stands",
    response=DebtReportOut,
)
def reports_debts() -> dict[str, Any]:
    return debtreport.debt_report(acting_user()).to_dict()


@bp.route("/reports/stands")
@api_endpoint(
    Capability.REPORTS,
    "Stand health over a period: time offline, outbox peak, re-priced sessions per stand",
    response=StandReportOut,
    query=PERIOD_QUERY,
)
def reports_stands() -> dict[str, Any]:
    return standreport.stand_report(acting_user(), _period(), app_now()).to_dict()
