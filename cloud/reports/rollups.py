"""Reading the report rollups (cloud/models/rollups.py, kept by cloud/rolluptriggers.py): the
figures of a period's days summed per group from the day and month rows, where the sessions
themselves would take a million rows.

A period of local days ``first..last`` is read as its whole months (month rows) and the days
before and after them (day rows), unless the report needs days or weeks (day rows only). The
rollups serve a report only when they are cut in the report's time zone (``usable``); else the
report reads the sessions themselves, as it did before them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import peewee as pw

from cloud.models import RollupZone, SessionRollup, TopupRollup

Rollup = type[SessionRollup] | type[TopupRollup]


def usable(timezone: str) -> bool:
    """Whether the rollups are cut in ``timezone`` (the zone the report's days are in)."""
    row = RollupZone.select(RollupZone.zone).limit(1).tuples().first()
    return row is not None and row[0] == timezone


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Span:
    """Local days ``first..last`` (either may be open: no bound)."""

    first: date | None
    last: date | None

    def condition(self, model: Rollup, months: bool = True) -> Any:
        """The rows of the span: whole months from month rows when ``months``, the rest from
        day rows."""
        day_rows = model.grain == "d"
        if self.first is not None:
            day_rows &= model.bucket >= self.first
        if self.last is not None:
            day_rows &= model.bucket <= self.last
        if not months:
            return day_rows
        # The whole months: from the first month starting on or after ``first`` to the last
        # month ending on or before ``last``.
        month_from = None
        if self.first is not None:
            month_from = self.first if self.first.day == 1 else _next_month(self.first)
        month_until = None  # exclusive
        if self.last is not None:
            after = self.last + timedelta(days=1)
            month_until = after if after.day == 1 else after.replace(day=1)
        if month_from is not None and month_until is not None and month_from >= month_until:
            return day_rows
        month_rows = model.grain == "m"
        inside = pw.Value(True)
        if month_from is not None:
            month_rows &= model.bucket >= month_from
            inside &= model.bucket >= month_from
        if month_until is not None:
            month_rows &= model.bucket < month_until
            inside &= model.bucket < month_until
        return month_rows | (day_rows & ~inside)


def sums(
    model: Rollup,
    part: str,
    keys: list[Any],
    figures: list[Any],
    span: Span,
    scope: set[int] | None,
    months: bool = True,
    where: Any = None,
) -> list[tuple[Any, ...]]:
    """(*keys, *figures summed) of the ``part``'s rows of ``span``, per key; groups whose count
    (the first figure) is 0 left out, as a count of rows would not name them."""
    sums_of = [pw.fn.SUM(figure) for figure in figures]
    condition = (model.part == part) & span.condition(model, months)
    if scope is not None:
        condition &= model.site_id.in_(sorted(scope))
    if where is not None:
        condition &= where
    query = model.select(*keys, *sums_of).where(condition)
    if keys:
        query = query.group_by(*keys)
    query = query.having(sums_of[0] != 0)
    return [
        (*values[: len(keys)], *(int(value or 0) for value in values[len(keys) :]))
        for values in query.tuples()
    ]
