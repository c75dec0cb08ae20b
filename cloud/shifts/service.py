"""Shifts and their reports, computed from the ledger (rules: ``sync.shifts``).

A shift's top-ups are the ledger's top-ups (kind ``topup``) that a stand event caused at the
shift's stand, recorded by the shift's attendant (``created_by``), whose event came after the
shift's opening event and before its closing one (``StandEvent.seq``: the stand's own order,
which a wrong wall clock cannot reorder). A top-up held over a ceiling counts once released
(its entry is then in the ledger, under its event). A top-up taken at a stand with no open
shift of its attendant there is *outside shifts*: the page reports those apart.

An open shift opened more than ``STALE_AFTER`` ago is *stale*: flagged on the page and in
Diagnostics (an attendant forgot to close it, or the stand has not synced its closing)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.clock import iso_utc
from cloud.errors import ValidationFailed
from cloud.fields import query_row_id
from cloud.models import LedgerEntry, Shift, Site, Stand, StandEvent, User
from cloud.periods import Period, period_for
from cloud.permissions import site_scope
from sync.shifts import ShiftTotals, shift_totals

STALE_AFTER = timedelta(days=1)
LIMIT = 500  # shifts listed at most (newest first)
STATUSES = ("open", "closed", "stale")
_OPEN_END = 2**62  # past any seq (a BIGINT): an open shift's top-ups run on


@dataclass(frozen=True)
class ShiftFilter:
    """What the Shifts page and API are asked for; None: any."""

    period: Period
    site_id: int | None = None
    stand_id: int | None = None
    user_id: int | None = None
    status: str | None = None  # STATUSES


def filter_from(args: Any, timezone: str, now: datetime) -> ShiftFilter:
    """The filter a request's query asks for (``from``, ``to``, ``site_id``, ``stand_id``,
    ``staff_id``, ``status``); ValidationFailed (400) or Unprocessable (422) when bad."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            _("status: одно из %(names)s", names=", ".join(STATUSES)), "bad_parameter"
        )
    return ShiftFilter(
        period=period_for(args.get("from"), args.get("to"), timezone, now),
        site_id=query_row_id(args.get("site_id"), "site_id"),
        stand_id=query_row_id(args.get("stand_id"), "stand_id"),
        user_id=query_row_id(args.get("staff_id"), "staff_id"),
        status=status,
    )


@dataclass(frozen=True)
class ShiftReport:
    """A shift with its names and its report (``sync.shifts.ShiftTotals``)."""

    id: int
    uuid: str
    site_id: int
    site: str
    stand_id: int
    stand: str
    user_id: int | None
    attendant: str
    opened_at: datetime
    closed_at: datetime | None
    totals: ShiftTotals
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "site_id": self.site_id,
            "site": self.site,
            "stand_id": self.stand_id,
            "stand": self.stand,
            "staff_id": self.user_id,
            "attendant": self.attendant,
            "opened_at": iso_utc(self.opened_at),
            "closed_at": iso_utc(self.closed_at) if self.closed_at else None,
            "status": "open" if self.closed_at is None else "closed",
            "stale": self.stale,
            **self.totals.to_dict(),
        }


@dataclass(frozen=True)
class Outside:
    """Top-ups taken at stands outside any shift of their attendant, in the period."""

    topups: int
    amount_kopecks: int


def _in_shift(entry_event: Any) -> Any:
    """The condition joining a top-up's stand event to a ``Shift`` row: same stand, same
    attendant, between the shift's two events."""
    return (
        (entry_event.stand == Shift.stand)
        & (LedgerEntry.created_by == Shift.user)
        & (entry_event.seq > Shift.opened_seq)
        # COALESCE, not "closed_seq IS NULL OR ...": a range the (stand, seq) index can serve
        & (entry_event.seq < pw.fn.COALESCE(Shift.closed_seq, _OPEN_END))
    )


Sums = list[tuple[str, int, int]]  # (payment method, kopecks, how many): sync.shifts


def _topups_by_shift(shifts: list[dict[str, Any]]) -> dict[int, Sums]:
    """Each shift's top-ups summed per payment method (``shifts``: rows of ``_filtered``).

    One query per stand among them: its attendants' top-up entries over the stand's range of
    event numbers (the (stand, seq) index), each given to the shift of its attendant whose
    range holds it; an attendant has one open shift at a stand at a time, so their shifts
    there never overlap. (A join of shifts to ledger rows in SQL let SQLite walk every top-up
    once per shift: bench/shift_report.py.)"""
    found: dict[int, dict[str, list[int]]] = {}
    by_stand: dict[int, list[dict[str, Any]]] = {}
    for row in shifts:
        if row["user"] is not None:
            by_stand.setdefault(row["stand"], []).append(row)
    for stand_id, rows in by_stand.items():
        for shift_id, method, amount in _stand_topups(stand_id, rows):
            sums = found.setdefault(shift_id, {}).setdefault(method, [0, 0])
            sums[0] += amount
            sums[1] += 1
    return {
        shift_id: [(method, total, count) for method, (total, count) in methods.items()]
        for shift_id, methods in found.items()
    }


def _stand_topups(stand_id: int, rows: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    """(shift id, method, kopecks) of each top-up of one stand's listed shifts."""
    ends = [row["closed_seq"] or _OPEN_END for row in rows]
    starts: dict[int, list[tuple[int, int, int]]] = {}  # user -> (opened, closed, shift id)
    for row, end in zip(rows, ends, strict=True):
        starts.setdefault(row["user"], []).append((row["opened_seq"], end, row["id"]))
    for spans in starts.values():
        spans.sort()
    entries = (
        LedgerEntry.select(
            StandEvent.seq, LedgerEntry.created_by, LedgerEntry.method, LedgerEntry.amount_kopecks
        )
        .join(StandEvent, on=(LedgerEntry.event == StandEvent.id))
        .where(
            (StandEvent.stand == stand_id)
            & (StandEvent.seq > min(row["opened_seq"] for row in rows))
            & (StandEvent.seq < max(ends))
            & (LedgerEntry.kind == "topup")
            & LedgerEntry.created_by.in_(sorted(starts))
        )
        .tuples()
    )
    taken = []
    for seq, user_id, method, amount in entries:
        spans = starts[user_id]
        index = bisect.bisect_left(spans, (seq,)) - 1  # the last shift opened before it
        if index >= 0 and seq < spans[index][1]:
            taken.append((spans[index][2], method or "cash", int(amount)))
    return taken


def _filtered(actor: User, f: ShiftFilter, now: datetime) -> pw.ModelSelect:
    query = (
        Shift.select(
            Shift,
            Stand.name.alias("stand_name"),
            Site.name.alias("site_name"),
            User.full_name.alias("user_name"),
        )
        .join(Stand, on=(Shift.stand == Stand.id))
        .switch(Shift)
        .join(Site, on=(Shift.site == Site.id))
        .switch(Shift)
        .join(User, pw.JOIN.LEFT_OUTER, on=(Shift.user == User.id))
    )
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Shift.site.in_(sorted(scope) or [0]))
    if f.site_id is not None:
        query = query.where(Shift.site == f.site_id)
    if f.stand_id is not None:
        query = query.where(Shift.stand == f.stand_id)
    if f.user_id is not None:
        query = query.where(Shift.user == f.user_id)
    if f.status == "open":
        query = query.where(Shift.closed_seq.is_null())
    elif f.status == "closed":
        query = query.where(Shift.closed_seq.is_null(False))
    if f.status == "stale":
        # Stale shifts whenever they were opened: the period would hide the oldest.
        return query.where(Shift.closed_seq.is_null() & (Shift.opened_at < now - STALE_AFTER))
    return query.where((Shift.opened_at >= f.period.start) & (Shift.opened_at < f.period.end))


def shifts_for(actor: User, f: ShiftFilter, now: datetime) -> list[ShiftReport]:
    """The shifts ``actor`` may see that match ``f``, newest first, each with its report."""
    query = _filtered(actor, f, now).order_by(Shift.opened_at.desc(), Shift.id.desc())
    rows = list(query.limit(LIMIT).dicts())
    topups = _topups_by_shift(rows)
    return [_report(row, topups.get(row["id"], []), now) for row in rows]


def _report(row: dict[str, Any], topups: Sums, now: datetime) -> ShiftReport:
    """``row``: a Shift's columns with ``stand_name``, ``site_name`` and ``user_name``
    (``_filtered``)."""
    closed = row["closed_seq"] is not None
    return ShiftReport(
        id=row["id"],
        uuid=row["uuid"],
        site_id=row["site"],
        site=row["site_name"],
        stand_id=row["stand"],
        stand=row["stand_name"],
        user_id=row["user"],
        attendant=row["user_name"] or _("Неизвестный сотрудник"),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"] if closed else None,
        totals=shift_totals(
            int(row["opening_kopecks"]),
            topups,
            int(row["counted_kopecks"]) if closed else None,
        ),
        stale=not closed and row["opened_at"] < now - STALE_AFTER,
    )


def outside_shifts(actor: User, f: ShiftFilter) -> Outside:
    """Top-ups of the period taken at stands (site, stand and attendant as filtered) that no
    shift of their attendant at that stand covers."""
    covering = Shift.select(Shift.id).where(_in_shift(StandEvent))
    query = (
        LedgerEntry.select(
            pw.fn.COUNT(LedgerEntry.id), pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0)
        )
        .join(StandEvent, on=(LedgerEntry.event == StandEvent.id))
        .join(Stand, on=(StandEvent.stand == Stand.id))
        .where(
            (LedgerEntry.kind == "topup")
            & (LedgerEntry.created_at >= f.period.start)
            & (LedgerEntry.created_at < f.period.end)
            & ~pw.fn.EXISTS(covering)
        )
    )
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Stand.site.in_(sorted(scope) or [0]))
    if f.site_id is not None:
        query = query.where(Stand.site == f.site_id)
    if f.stand_id is not None:
        query = query.where(StandEvent.stand == f.stand_id)
    if f.user_id is not None:
        query = query.where(LedgerEntry.created_by == f.user_id)
    count, total = query.tuples().get()
    return Outside(int(count), int(total))


def stale_shifts(limit: int, now: datetime) -> list[tuple[str, dict[str, list[int]]]]:
    """Open shifts opened more than ``STALE_AFTER`` before ``now``, oldest first, as
    (message, objects) for Diagnostics (cloud/integrity/checks.py)."""
    query = (
        Shift.select(Shift.id, Shift.stand, Shift.user, Stand.name, User.full_name)
        .join(Stand, on=(Shift.stand == Stand.id))
        .switch(Shift)
        .join(User, pw.JOIN.LEFT_OUTER, on=(Shift.user == User.id))
        .where(Shift.closed_seq.is_null() & (Shift.opened_at < now - STALE_AFTER))
        .order_by(Shift.opened_at, Shift.id)
        .limit(limit)
        .tuples()
    )
    found = []
    for shift_id, stand_id, user_id, stand_name, full_name in query:
        message = _(
            "Смена №%(id)s (%(who)s) на посту «%(stand)s» открыта больше суток назад",
            id=shift_id,
            who=full_name or _("Неизвестный сотрудник"),
            stand=stand_name,
        )
        objects = {"shift": [shift_id], "stand": [stand_id]}
        if user_id is not None:
            objects["staff"] = [user_id]
        found.append((message, objects))
    return found
