"""Reports by day, week or month in the service's time zone, counted by the database.

``Bucketing(period, unit).expression(column)`` is an SQL expression naming, for a UTC
timestamp column, the day, week (from Monday) or month it falls in, in the service's zone:
PostgreSQL finds its position among the buckets' first instants (``width_bucket``, cheap per
row, where converting every row with ``AT TIME ZONE`` cost seconds over a year of sessions);
SQLite, which knows no time zones, adds the zone's UTC offset (constant within each stretch
between daylight-saving changes in the period) and uses ``date``/``strftime``. ``start_of``
turns either answer into the bucket's first day. ``buckets(period, unit)`` lists every bucket
of the period, so a chart shows a quiet day as zero instead of leaving it out.

    days = Bucketing(period, "day")
    expr = days.expression(Session.ended_at)
    for value, n in Session.select(expr, fn.COUNT(Session.id)).group_by(expr).tuples(): ...
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import format_date
from flask_babel import gettext as _

from cloud.db import is_postgresql

UNITS = ("day", "week", "month")
F = TypeVar("F")  # a bucket's figures


class HasBounds(Protocol):
    """A report period (cloud.sessions.service.Period): local days first..last in ``timezone``."""

    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


def _offset_s(moment: datetime, zone: ZoneInfo) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_stretches(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, int]]:
    """The zone's UTC offset over [start, end) as (until, offset seconds) stretches, the last
    one until ``end``. Found by sampling every 6 hours and bisecting each change to a second."""
    stretches: list[tuple[datetime, int]] = []
    here, current = start, _offset_s(start, zone)
    while here < end:
        step = min(here + timedelta(hours=6), end)
        if _offset_s(step, zone) != current and step < end:
            low, high = here, step  # offset(low) == current != offset(high)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if _offset_s(middle, zone) == current else (low, middle)
            stretches.append((high, current))
            here, current = high, _offset_s(high, zone)
            continue
        here = step
    stretches.append((end, current))
    return stretches


def _sqlite_local(column: Any, period: HasBounds) -> Any:
    """``column`` (naive UTC text) moved to local time: ``datetime(column, '+N seconds')``."""
    stretches = offset_stretches(period.start, period.end, ZoneInfo(period.timezone))

    def shifted(offset: int) -> Any:
        return pw.fn.datetime(column, f"{offset:+d} seconds")

    if len(stretches) == 1:
        return shifted(stretches[0][1])
    cases = [
        (column < until, shifted(offset))  # the field stores ``until`` as it stores its own
        for until, offset in stretches[:-1]
    ]
    return pw.Case(None, cases, shifted(stretches[-1][1]))


class Bucketing:
    """The days, weeks or months of a period and how the database tells them apart.

    PostgreSQL: ``width_bucket(column, ARRAY[...])`` (a binary search, per row, in the UTC
    instants where the buckets after the first begin, worked out here with the zone's rules)
    gives the bucket's position. SQLite: the local first day as ``YYYY-MM-DD`` text (see the
    module's docstring)."""

    def __init__(self, period: HasBounds, unit: str) -> None:
        if unit not in UNITS:
            raise ValueError(unit)
        self.period, self.unit = period, unit
        self.starts = buckets(period, unit)

    def expression(self, column: Any) -> Any:
        """SQL for the bucket of ``column`` (a UTC timestamp within the period)."""
        if is_postgresql():
            zone = ZoneInfo(self.period.timezone)
            bounds = [
                datetime.combine(start, time.min, zone).astimezone(UTC).replace(tzinfo=None)
                for start in self.starts[1:]
            ] + [self.period.end.astimezone(UTC).replace(tzinfo=None)]  # never an empty array
            return pw.fn.width_bucket(
                column, pw.Cast(pw.Value(bounds, unpack=False), "timestamp[]")
            )
        local = _sqlite_local(column, self.period)
        if self.unit == "day":
            return pw.fn.date(local)
        if self.unit == "week":
            return pw.fn.date(local, "weekday 0", "-6 days")  # the Monday on or before
        return pw.fn.strftime("%Y-%m-01", local)

    def start_of(self, value: Any) -> date:
        """The first day of the bucket the database named ``value`` (or the day itself)."""
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            return date.fromisoformat(value)
        return self.starts[int(value)]

    def fill(self, found: dict[Any, F], empty: F) -> list[tuple[date, str, F]]:
        """Every bucket in time order, (first day, label, figures), with the figures the
        database ``found`` by its names for them, ``empty`` for the quiet ones."""
        by_start = {self.start_of(value): figures for value, figures in found.items()}
        return [
            (start, bucket_label(start, self.unit), by_start.get(start, empty))
            for start in self.starts
        ]


def bucket_start(day: date, unit: str) -> date:
    """The first day of the bucket ``day`` falls in."""
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def buckets(period: HasBounds, unit: str) -> list[date]:
    """Every bucket of the period, in order, by its first day."""
    found: list[date] = []
    day = period.first
    while day <= period.last:
        start = bucket_start(day, unit)
        if not found or found[-1] != start:
            found.append(start)
        day += timedelta(days=1)
    return found


def bucket_label(start: date, unit: str) -> str:
    """How a bucket reads in a table: ``05.03.2024``, ``неделя с 04.03.2024``, ``март 2024``."""
    if unit == "week":
        return _("неделя с %(day)s", day=start.strftime("%d.%m.%Y"))
    if unit == "month":
        return format_date(start, "LLLL y")
    return start.strftime("%d.%m.%Y")


def unit_labels() -> dict[str, str]:
    return {"day": _("День"), "week": _("Неделя"), "month": _("Месяц")}
