"""Segments: saved filters over clients, evaluated in SQL (the same on SQLite and PostgreSQL).

A filter condition left empty does not filter. Deleted clients are never members.

- ``site_id``: the client's home site is this one, or they visited it: a session there started
  with their card or QR code (the same meaning as the clients list's site filter,
  ``cloud.clients.scope.of_sites``).
- ``last_visit_from`` / ``last_visit_before``: the client's latest session started on or after
  that day / before that day (a client who never came has no last visit and matches neither).
- ``period_from`` / ``period_to``: the days (inclusive) over which visits and spending are
  counted; without them, all time.
- ``visits_min`` / ``visits_max``: sessions started in the period; ``spent_min_kopecks`` /
  ``spent_max_kopecks``: the session charges of the ledger in the period. "At most" includes
  the clients with none.
- ``balance_below_kopecks`` / ``balance_above_kopecks``: strictly below / above.
- ``blocked``, ``has_card`` (a linked card not marked lost), ``has_email``, ``has_phone``:
  true, false, or empty for either.

Days are calendar days in the service's time zone."""

from __future__ import annotations

import json
import operator
from datetime import date, datetime
from functools import reduce
from typing import Any, Literal

import peewee as pw
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from cloud.clients.scope import of_sites
from cloud.clock import iso_utc
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from cloud.fields import Day, RowId, whole
from cloud.models import (
    Client,
    ClientPhone,
    Credential,
    LedgerEntry,
    Segment,
    Session,
    Site,
    User,
)
from cloud.periods import Period

MAX_SEGMENT_NAME = 100
COUNT_LIMIT = 10**6  # visits; a bound so a typo cannot overflow an integer column comparison
MONEY_LIMIT = 10**12  # kopecks
Visits = whole(0, COUNT_LIMIT)
Money = whole(0, MONEY_LIMIT)
Balance = whole(-MONEY_LIMIT, MONEY_LIMIT)


class SegmentFilter(BaseModel):
    """The conditions of a segment; every one is optional (see ``cloud/marketing/segments.py``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["member", "guest"] | None = None
    site_id: RowId | None = Field(default=None, description="home site or a visit there")
    last_visit_from: Day | None = Field(default=None, description="latest visit on/after")
    last_visit_before: Day | None = Field(default=None, description="latest visit before")
    period_from: Day | None = Field(default=None, description="visits/spending counted from")
    period_to: Day | None = Field(default=None, description="... to this day, inclusive")
    visits_min: Visits | None = None
    visits_max: Visits | None = None
    spent_min_kopecks: Money | None = None
    spent_max_kopecks: Money | None = None
    balance_below_kopecks: Balance | None = None
    balance_above_kopecks: Balance | None = None
    blocked: StrictBool | None = None
    has_card: StrictBool | None = None
    has_email: StrictBool | None = None
    has_phone: StrictBool | None = None


def parse_filter(data: dict[str, Any]) -> SegmentFilter:
    """A filter from plain values (stored JSON, a parsed form); a clear error if it is bad."""
    try:
        return SegmentFilter.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "filters"
        raise ValidationFailed(f"{where}: {first['msg']}", "bad_filter") from None


def check_filter(conditions: SegmentFilter) -> SegmentFilter:
    """The rules across fields and the site's existence."""
    first, last = conditions.period_from, conditions.period_to
    if first and last and first > last:
        raise Unprocessable(_("Начало периода позже его конца"), "bad_period")
    if conditions.site_id is not None and not Site.get_or_none(Site.id == conditions.site_id):
        raise NotFound(_("Площадка не найдена"), "bad_site")
    return conditions


# --- evaluation ------------------------------------------------------------------------------


def _day_start(day: date, timezone: str) -> datetime:
    return Period(day, day, timezone).start


Bounds = tuple[datetime | None, datetime | None]


def _period_bounds(conditions: SegmentFilter, timezone: str) -> Bounds:
    """The period as UTC instants ``[start, end)``; None where that end is open."""
    first, last = conditions.period_from, conditions.period_to
    start = Period(first, first, timezone).start if first else None
    end = Period(last, last, timezone).end if last else None
    return start, end


def _within(query: pw.ModelSelect, column: pw.Field, bounds: Bounds) -> pw.ModelSelect:
    start, end = bounds
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


def _visits(conditions: SegmentFilter, bounds: Bounds) -> list[pw.Expression]:
    def having(test: pw.Expression) -> pw.ModelSelect:
        query = _within(Session.select(Session.client), Session.started_at, bounds)
        return query.group_by(Session.client).having(test)

    found: list[pw.Expression] = []
    count = pw.fn.COUNT(Session.id)
    if conditions.visits_min:
        found.append(Client.id.in_(having(count >= conditions.visits_min)))
    if conditions.visits_max is not None:
        found.append(Client.id.not_in(having(count > conditions.visits_max)))
    return found


def _spending(conditions: SegmentFilter, bounds: Bounds) -> list[pw.Expression]:
    """Charges are negative ledger amounts: spent >= X is sum <= -X."""

    def having(test: pw.Expression) -> pw.ModelSelect:
        charges = LedgerEntry.select(LedgerEntry.client).where(LedgerEntry.kind == "charge")
        query = _within(charges, LedgerEntry.created_at, bounds)
        return query.group_by(LedgerEntry.client).having(test)

    found: list[pw.Expression] = []
    total = pw.fn.SUM(LedgerEntry.amount_kopecks)
    if conditions.spent_min_kopecks:
        found.append(Client.id.in_(having(total <= -conditions.spent_min_kopecks)))
    if conditions.spent_max_kopecks is not None:
        found.append(Client.id.not_in(having(total < -conditions.spent_max_kopecks)))
    return found


def _last_visit(conditions: SegmentFilter, timezone: str) -> list[pw.Expression]:
    """The latest visit is on/after D when any visit is; before D when all visits are."""
    found: list[pw.Expression] = []
    if conditions.last_visit_from:
        start = _day_start(conditions.last_visit_from, timezone)
        found.append(
            Client.id.in_(Session.select(Session.client).where(Session.started_at >= start))
        )
    if conditions.last_visit_before:
        start = _day_start(conditions.last_visit_before, timezone)
        later = Session.select(Session.client).where(Session.started_at >= start)
        found.append(Client.id.in_(Session.select(Session.client)) & Client.id.not_in(later))
    return found


def _yes_no(flag: bool | None, holds: pw.Expression) -> list[pw.Expression]:
    if flag is None:
        return []
    return [holds if flag else ~holds]


def _flags(conditions: SegmentFilter) -> list[pw.Expression]:
    cards = Credential.select(Credential.client).where(
        (Credential.kind == "card") & Credential.unlinked_at.is_null() & ~Credential.lost
    )
    return [
        *_yes_no(conditions.blocked, Client.blocked == True),  # noqa: E712 (SQL, not Python)
        *_yes_no(conditions.has_card, Client.id.in_(cards)),
        *_yes_no(conditions.has_email, Client.email != ""),
        *_yes_no(conditions.has_phone, Client.id.in_(ClientPhone.select(ClientPhone.client))),
    ]


def _plain(conditions: SegmentFilter) -> list[pw.Expression]:
    found: list[pw.Expression] = []
    if conditions.kind is not None:
        found.append(Client.kind == conditions.kind)
    if conditions.site_id is not None:
        found.append(of_sites({conditions.site_id}))
    if conditions.balance_below_kopecks is not None:
        found.append(Client.balance_kopecks < conditions.balance_below_kopecks)
    if conditions.balance_above_kopecks is not None:
        found.append(Client.balance_kopecks > conditions.balance_above_kopecks)
    return found


def members_query(conditions: SegmentFilter, timezone: str) -> pw.ModelSelect:
    """The segment's clients (never deleted ones) as one SQL query, by id."""
    bounds = _period_bounds(conditions, timezone)
    where = [
        Client.deleted_at.is_null(),
        *_plain(conditions),
        *_flags(conditions),
        *_last_visit(conditions, timezone),
        *_visits(conditions, bounds),
        *_spending(conditions, bounds),
    ]
    return Client.select().where(reduce(operator.and_, where)).order_by(Client.id)


# --- stored segments -------------------------------------------------------------------------


def filter_of(segment: Segment) -> SegmentFilter:
    return SegmentFilter.model_validate_json(segment.filters)


def members(segment: Segment, timezone: str) -> pw.ModelSelect:
    return members_query(filter_of(segment), timezone)


def member_page(
    segment: Segment, timezone: str, limit: int, offset: int
) -> tuple[list[Client], int]:
    query = members(segment, timezone)
    return list(query.limit(limit).offset(offset)), query.count()


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(_("Укажите название сегмента"), "name_required")
    if len(name) > MAX_SEGMENT_NAME:
        raise ValidationFailed(
            _("Название — не длиннее %(n)s символов", n=MAX_SEGMENT_NAME), "name_too_long"
        )
    return name


def _name_taken(name: str) -> Conflict:
    return Conflict(_("Сегмент «%(name)s» уже есть", name=name), "segment_exists")


def _save(segment: Segment, name: str, conditions: SegmentFilter) -> Segment:
    segment.name = _clean_name(name)
    check_filter(conditions)
    segment.filters = conditions.model_dump_json(exclude_none=True)
    segment.updated_at = utcnow()
    clash = Segment.select().where(Segment.name == segment.name)
    if segment.id is not None:
        clash = clash.where(Segment.id != segment.id)
    if clash.exists():
        raise _name_taken(segment.name)
    try:
        with db_proxy.atomic():
            segment.save()
    except pw.IntegrityError:  # the same name saved by someone else a moment ago
        raise _name_taken(segment.name) from None
    return segment


def create_segment(actor: User | None, name: str, conditions: SegmentFilter) -> Segment:
    return _save(Segment(created_by=actor), name, conditions)


def update_segment(
    segment: Segment, name: str | None = None, conditions: SegmentFilter | None = None
) -> Segment:
    """Change the name, the conditions or both (None keeps what is stored)."""
    return _save(
        segment,
        segment.name if name is None else name,
        filter_of(segment) if conditions is None else conditions,
    )


def delete_segment(segment: Segment) -> None:
    """Delete the segment; its mailings stay, naming it."""
    segment.delete_instance()


def get_segment(segment_id: int) -> Segment:
    segment = Segment.get_or_none(Segment.id == segment_id)
    if segment is None:
        raise NotFound(_("Сегмент не найден"))
    return segment


def all_segments() -> list[Segment]:
    return list(Segment.select().order_by(Segment.name))


def segment_to_dict(segment: Segment, timezone: str, count: bool = True) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "filters": json.loads(segment.filters),
        "count": members(segment, timezone).count() if count else None,
        "created_at": iso_utc(segment.created_at),
        "updated_at": iso_utc(segment.updated_at),
    }
