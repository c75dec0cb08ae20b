"""The dashboard's figures of the day (cloud/sessions/dashboardpages.py): today's revenue and
sessions against the same weekday a week ago, the posts busy now, and the sessions of the last
four weeks by weekday and hour (a heat map).

Days and hours are the service's time zone's. "Today" runs from local midnight to ``now``; a
week ago is compared up to the same local time of day, so that a morning is not set against a
whole day. A session counts in its day when it ended (its cost is charged then, as in the
sessions report); in the heat map it counts in the hour it started (when the post got busy).
The heat map covers the 28 whole local days before today, so each weekday is there four times.

Every figure is counted by the database over the indexed ``started_at``/``ended_at`` columns.
For the heat map PostgreSQL counts by UTC quarter of an hour (``date_bin``: cheap per row, no
time zone conversion; every zone's offset is whole quarters; PostgreSQL 14 or later) and
Python places the at most 2,688 quarters in their local weekday and hour; SQLite shifts by the zone's offset as the report
buckets do (cloud/reports/timebuckets.py). On a year of 1,000,000 sessions (bench/reports.py's
chain) the heat map's 77,000 sessions took 90-200 ms on a shared 2-core machine (an index
range scan of ``started_at``), today's figures and the busy posts under 10 ms; counted with
``COUNT(*)`` (an index-only scan of ``started_at``, no row read) the whole page took 50-65 ms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw

from cloud.db import is_postgresql
from cloud.models import Session, Stand
from cloud.periods import Period
from cloud.reports.timebuckets import _sqlite_local as sqlite_local

HEAT_DAYS = 28


@dataclass(frozen=True)
class Figures:
    sessions: int
    revenue_kopecks: int


@dataclass(frozen=True)
class Change:
    """A figure now against the same figure a week ago."""

    now: int
    before: int

    @property
    def difference(self) -> int:
        return self.now - self.before

    @property
    def percent(self) -> float | None:
        """The change in percent of last week's figure; None when last week had nothing."""
        if self.before == 0:
            return None
        return 100.0 * (self.now - self.before) / self.before


@dataclass(frozen=True)
class DayComparison:
    day: date  # today, local
    week_ago: date
    until: time  # the local time of day both are counted up to
    today: Figures
    last_week: Figures

    @property
    def sessions(self) -> Change:
        return Change(self.today.sessions, self.last_week.sessions)

    @property
    def revenue(self) -> Change:
        return Change(self.today.revenue_kopecks, self.last_week.revenue_kopecks)


@dataclass(frozen=True)
class BusyPosts:
    busy: int  # posts with an open session
    total: int  # posts in use (not revoked)
    open_sessions: int


@dataclass(frozen=True)
class HeatMap:
    first: date
    last: date
    cells: list[list[int]]  # [weekday Monday=0][local hour 0..23]: sessions started

    @cached_property  # the page asks for it in every cell
    def largest(self) -> int:
        return max((n for row in self.cells for n in row), default=0)

    @cached_property
    def total(self) -> int:
        return sum(n for row in self.cells for n in row)


def _scoped(query: Any, sites: Iterable[int] | None) -> Any:
    if sites is None:
        return query
    return query.where(Session.site.in_(sorted(sites)))


def _ended_between(start: datetime, end: datetime, sites: Iterable[int] | None) -> Figures:
    query = Session.select(
        pw.fn.COUNT(Session.id), pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0)
    ).where(
        Session.ended_at.is_null(False) & (Session.ended_at >= start) & (Session.ended_at < end)
    )
    count, revenue = _scoped(query, sites).tuples().get()
    return Figures(int(count), int(revenue))


def day_comparison(now: datetime, timezone: str, sites: Iterable[int] | None) -> DayComparison:
    """Sessions ended today (local midnight to ``now``) and a week ago up to the same time."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    today, until = local.date(), local.time().replace(tzinfo=None)
    week_ago = today - timedelta(days=7)
    sites = None if sites is None else sorted(sites)
    today_figures = _ended_between(datetime.combine(today, time.min, zone), now, sites)
    before_start = datetime.combine(week_ago, time.min, zone)
    before_end = max(datetime.combine(week_ago, until, zone), before_start)
    last_week = _ended_between(before_start, before_end, sites)
    return DayComparison(today, week_ago, until, today_figures, last_week)


def busy_posts(sites: Iterable[int] | None) -> BusyPosts:
    """Posts with an open session now, of the posts in use, and the open sessions."""
    sites = None if sites is None else sorted(sites)
    query = Session.select(
        pw.fn.COUNT(pw.fn.DISTINCT(Session.stand)), pw.fn.COUNT(Session.id)
    ).where(Session.ended_at.is_null())
    busy, open_sessions = _scoped(query, sites).tuples().get()
    stands = Stand.select().where(Stand.revoked_at.is_null())
    if sites is not None:
        stands = stands.where(Stand.site.in_(sites))
    return BusyPosts(int(busy), stands.count(), int(open_sessions))


def heat_period(now: datetime, timezone: str) -> Period:
    """The 28 whole local days before today."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return Period(today - timedelta(days=HEAT_DAYS), today - timedelta(days=1), timezone)


SLOT = timedelta(minutes=15)  # every zone's UTC offset is a whole number of these


def heat_map(now: datetime, timezone: str, sites: Iterable[int] | None) -> HeatMap:
    """Sessions started in the last four whole weeks, by local weekday and hour."""
    period = heat_period(now, timezone)
    zone = ZoneInfo(timezone)
    cells = [[0] * 24 for _weekday in range(7)]
    if is_postgresql():
        origin = period.start.astimezone(UTC).replace(tzinfo=None)
        key = pw.fn.date_bin(pw.SQL("interval '15 minutes'"), Session.started_at, origin)
    else:
        key = pw.fn.strftime("%Y-%m-%d %H", sqlite_local(Session.started_at, period))
    # COUNT(*), not of a column: PostgreSQL counts from the started_at index alone.
    query = (
        Session.select(key, pw.fn.COUNT(pw.SQL("*")))
        .where((Session.started_at >= period.start) & (Session.started_at < period.end))
        .group_by(key)
    )
    for value, count in _scoped(query, None if sites is None else sorted(sites)).tuples():
        if isinstance(value, str):  # SQLite: the local hour
            local = datetime.fromisoformat(value[:10]).replace(hour=int(value[11:13]))
        else:  # PostgreSQL: the quarter of an hour, UTC
            local = value.replace(tzinfo=UTC).astimezone(zone)
        cells[local.weekday()][local.hour] += int(count)
    return HeatMap(period.first, period.last, cells)
