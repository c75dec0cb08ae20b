"""Applying a run of events of the common kinds (``appliers.RUN_KINDS``) together: each is
planned in order (``plan.Plan``, its type's ``Applier.plan``) up to the first to refuse, then
the planned events are written with one insert per table, one update of the ended sessions
(on SQLite one statement text run per session, in process) and one balance update for all
their clients (bench/sync_ingest.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cloud.clients import corporate
from cloud.db import insert_rows, update_rows
from cloud.errors import DomainError
from cloud.ledger.service import post_entries
from cloud.loyalty.bonus import PointsRules
from cloud.models import BaseModel, Comment, HeldTopup, Session, Stand, StandEvent
from cloud.standsync import commands
from cloud.standsync.ingest import held
from cloud.standsync.ingest.appliers import APPLIERS
from cloud.standsync.ingest.clock import StandClock
from cloud.standsync.ingest.limits import DEFAULT_LIMITS, Limits
from cloud.standsync.ingest.lookups import tuples
from cloud.standsync.ingest.outcomes import Refusal
from cloud.standsync.ingest.plan import Plan, Row
from cloud.standsync.ingest.rows import event_row
from sync.errors import RuleError
from sync.events import Event

_END_COLUMNS = (
    "ended_at",
    "duration_s",
    "cost_kopecks",
    "end_method",
    "ended_by",
    "repriced_cost_kopecks",
    "price_mismatch",
    "comment",
)
_SESSION_COLUMNS = (
    "uuid",
    "client",
    "stand",
    "site",
    "tariff_version",
    "client_kind",
    "started_at",
    "start_method",
    "started_by",
    "credential_kind",
    "credential_value",
    "over_daily_limit",
    *_END_COLUMNS,
)


def apply_run(
    stand: Stand,
    clock: StandClock,
    events: list[tuple[Event, Any]],
    rules: PointsRules,
    timezone: str,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Row], Refusal | None]:
    """Plan and write ``events`` (each with its JSON as received); the rows written, in
    order, and the refusal of the event that stopped the run, if any."""
    plan = Plan(stand, [event for event, _raw in events], rules, limits, timezone)
    refusal = _plan_events(plan, clock, events)
    _write(plan, timezone)
    return plan.rows, refusal


def _plan_events(plan: Plan, clock: StandClock, events: list[tuple[Event, Any]]) -> Refusal | None:
    """Plan the events in order; the refusal of the first that cannot be applied."""
    for event, raw in events:
        row = event_row(plan.stand, event, raw, clock, plan.limits)
        plan.check_actor(row)
        planner = APPLIERS[event.type].plan
        assert planner is not None  # a run holds only RUN_KINDS
        try:
            planner(plan, event.data, row)
        except (DomainError, RuleError) as error:
            return Refusal(event.seq, error.code, error.message, 422)
        plan.add(row)
    return None


def _write(plan: Plan, timezone: str) -> None:
    """Store the planned events and their effects."""
    if not plan.rows:
        return
    new = list(plan.new_sessions.values())
    session_ids = _inserted(
        Session, [{name: s.__data__[name] for name in _SESSION_COLUMNS} for s in new], "uuid"
    )
    update_rows(
        Session,
        [{name: s.__data__[name] for name in ("id", *_END_COLUMNS)} for s in plan.ended],
    )
    for session, at in plan.completed:
        commands.complete_for_session(session, at)
    started = {
        s.uuid: session_ids[s.uuid]
        for s in new
        if s.start_method == "dashboard" and s.uuid is not None
    }
    if started:  # started by a start_session command (only such starts are "dashboard")
        commands.complete_starts(plan.stand.id, started, plan.rows[-1]["occurred_at"])
    event_ids = _inserted(StandEvent, plan.rows, "event_uuid")
    # Only a card's sessions count towards its daily limit: without one ended, nothing to read.
    ended = [
        s.uuid
        for s in [*plan.ended, *new]
        if s.ended_at is not None and s.uuid is not None and s.credential_kind == "card"
    ]
    corporate.flag_over_daily_limit(ended, timezone)
    for session in plan.sessions.values():
        session_ids.setdefault(session.uuid, session.id)
    if plan.comments:
        insert_rows(Comment, [{**row, "session": session_ids[uuid]} for uuid, row in plan.comments])
    if plan.postings:
        post_entries(
            [
                replace(
                    posting,
                    event_id=event_ids[plan.rows[index]["event_uuid"]],
                    session_id=session_ids[uuid] if uuid is not None else None,
                )
                for index, uuid, posting in plan.postings
            ]
        )
    if plan.holds:
        insert_rows(
            HeldTopup,
            [
                held.held_row(event_ids[plan.rows[index]["event_uuid"]], client, plan.stand, p, why)
                for index, client, p, why in plan.holds
            ],
        )
    for index, uuid, action in plan.deferred:
        event_id = event_ids[plan.rows[index]["event_uuid"]]
        action(event_id, session_ids[uuid] if uuid is not None else None)


def _inserted(model: type[BaseModel], rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """Insert the rows; the id of each by its value of ``key`` (a unique field)."""
    if not rows:
        return {}
    returned = insert_rows(model, rows, returning=(key, "id"))
    if not returned:  # an SQLite without RETURNING: read them back
        field = model._meta.fields[key]
        query = model.select(field, model.id).where(field.in_([row[key] for row in rows]))
        returned = list(tuples(query))
    return dict(returned)
