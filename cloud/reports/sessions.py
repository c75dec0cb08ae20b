"""The sessions summary report: count, total and average time and revenue of the sessions of a
period, by day, week or month, site, stand, tariff, client kind or who started them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import peewee as pw
from flask_babel import gettext as _

from cloud.labels import kind_labels
from cloud.models import Session, SessionRollup, Site, Stand, Tariff, TariffVersion, User
from cloud.periods import Period, check_grouping, period_for
from cloud.permissions import site_scope
from cloud.reports import rollups
from cloud.reports.timebuckets import UNITS, Bucketing, bucket_start


@dataclass(frozen=True)
class SummaryRow:
    # The group: a site, stand or tariff id, a client kind, "staff:<id>" or "self:<method>"
    # for who started, a bucket's first day (YYYY-MM-DD); None in the totals row.
    key: int | str | None
    label: str
    sessions: int
    duration_s: int
    revenue_kopecks: int

    @property
    def average_duration_s(self) -> int:
        return self.duration_s // self.sessions if self.sessions else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "sessions": self.sessions,
            "duration_s": self.duration_s,
            "average_duration_s": self.average_duration_s,
            "revenue_kopecks": self.revenue_kopecks,
        }


class ReportRow(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


RowT = TypeVar("RowT", bound=ReportRow)


@dataclass(frozen=True)
class Summary(Generic[RowT]):
    """Figures of a period per group (the sessions', or the top-ups' in cloud/reports/topups.py),
    in time order for days, weeks and months, and the totals."""

    period: Period
    group_by: str
    rows: list[RowT]
    total: RowT

    @property
    def over_time(self) -> bool:
        return self.group_by in UNITS

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "group_by": self.group_by,
            "rows": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
        }


def self_service_labels() -> dict[str, str]:
    """Who started a session when no staff member did: the method, by the customer."""
    return {
        "card": _("Карта (самообслуживание)"),
        "qr": _("QR-код (самообслуживание)"),
        "plate": _("Номер автомобиля (без сотрудника)"),
        "screen": _("Экран поста (сотрудник не указан)"),
    }


def _group_keys(group_by: str, period: Period) -> list[Any]:
    """The columns a grouping groups the sessions by (Session's own, and the tariff)."""
    if group_by in UNITS:
        return [Bucketing(period, group_by).expression(Session.ended_at)]
    if group_by == "started_by":
        self_method = pw.Case(None, [(Session.started_by.is_null(), Session.start_method)], None)
        return [Session.started_by, self_method]
    column = {"site": Session.site, "stand": Session.stand, "client_kind": Session.client_kind}
    return [column.get(group_by, TariffVersion.tariff)]


def _labels(group_by: str, keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, str]]:
    """Each group's key as the report gives it and its label, read in one small query."""
    ids = sorted({key[0] for key in keys if key[0] is not None})
    if group_by == "site":
        names = dict(Site.select(Site.id, Site.name).where(Site.id.in_(ids)).tuples())
        return {key: (key[0], names.get(key[0], "?")) for key in keys}
    if group_by == "stand":
        stands = Stand.select(Stand.id, Site.name, Stand.name).join(Site).where(Stand.id.in_(ids))
        names = {stand_id: f"{site} · {stand}" for stand_id, site, stand in stands.tuples()}
        return {key: (key[0], names.get(key[0], "?")) for key in keys}
    if group_by == "tariff":
        names = dict(Tariff.select(Tariff.id, Tariff.name).where(Tariff.id.in_(ids)).tuples())
        return {key: (key[0], names.get(key[0], "?")) for key in keys}
    if group_by == "client_kind":
        return {key: (key[0], kind_labels().get(key[0], key[0])) for key in keys}
    staff = dict(User.select(User.id, User.full_name).where(User.id.in_(ids)).tuples())
    methods = self_service_labels()
    labels = {}
    for key in keys:
        staff_id, method = key
        if staff_id is not None:
            labels[key] = (f"staff:{staff_id}", staff.get(staff_id, "?"))
        else:
            labels[key] = (f"self:{method}", methods.get(method, str(method)))
    return labels


def _rows_over_time(
    period: Period, unit: str, sums: dict[tuple[Any, ...], tuple[int, int, int]]
) -> list[SummaryRow]:
    """One row per bucket (keyed by its first day) of the period, in time order, an empty
    bucket as zeros."""
    every = Bucketing(period, unit).fill({key[0]: sums[key] for key in sums}, (0, 0, 0))
    return [SummaryRow(start.isoformat(), label, *figures) for start, label, figures in every]


def summarise(actor: User, period: Period, group_by: str) -> Summary[SummaryRow]:
    """Sessions ended within ``period``: their number, time and revenue per group. A session
    counts in the period (and the day, week or month) its ``ended_at`` falls in, because its
    cost is only known, and charged, when it ends. Read from the rollups
    (``cloud.reports.rollups``) when they are cut in the period's time zone, else from the
    sessions (``raw_sums``); both give the same figures."""
    group_by = check_grouping(group_by)
    scope = site_scope(actor)
    if rollups.usable(period.timezone):
        sums = rollup_sums(period, group_by, scope)
    else:
        sums = raw_sums(period, group_by, scope)
    if group_by in UNITS:
        rows = _rows_over_time(period, group_by, sums)
    else:
        labels = _labels(group_by, list(sums))
        rows = sorted(
            (SummaryRow(*labels[key], *sums[key]) for key in sums),
            key=lambda row: (row.label, str(row.key)),
        )
    total = SummaryRow(
        None,
        _("Итого"),
        sum(row.sessions for row in rows),
        sum(row.duration_s for row in rows),
        sum(row.revenue_kopecks for row in rows),
    )
    return Summary(period, group_by, rows, total)


Sums = dict[tuple[Any, ...], tuple[int, int, int]]


def raw_sums(period: Period, group_by: str, scope: set[int] | None) -> Sums:
    """The figures per group counted from the sessions (GROUP BY on the session table), keyed
    as ``_labels`` and ``_rows_over_time`` take them."""
    keys = _group_keys(group_by, period)
    count = pw.fn.COUNT(Session.id)
    duration = pw.fn.COALESCE(pw.fn.SUM(Session.duration_s), 0)
    revenue = pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0)
    query = Session.select(*keys, count, duration, revenue)
    if group_by == "tariff":
        query = query.join(TariffVersion, on=(Session.tariff_version == TariffVersion.id))
    query = query.where(
        Session.ended_at.is_null(False)
        & (Session.ended_at >= period.start)
        & (Session.ended_at < period.end)
    ).group_by(*keys)
    if scope is not None:
        query = query.where(Session.site.in_(sorted(scope)))
    bucketing = Bucketing(period, group_by) if group_by in UNITS else None
    sums = {}
    for values in query.tuples():
        *key, n, d, r = values
        if bucketing is not None:  # the bucket by its first day
            key = [bucketing.start_of(key[0])]
        sums[tuple(key)] = (int(n), int(d), int(r))
    return sums


def rollup_sums(period: Period, group_by: str, scope: set[int] | None) -> Sums:
    """``raw_sums`` read from the rollups."""
    r = SessionRollup
    figures = [r.sessions, r.duration_s, r.revenue_kopecks]
    span = rollups.Span(period.first, period.last)
    found: dict[tuple[Any, ...], list[int]] = {}

    def add(key: tuple[Any, ...], values: tuple[Any, ...]) -> None:
        total = found.setdefault(key, [0, 0, 0])
        for index, value in enumerate(values):
            total[index] += value

    if group_by in UNITS:
        rows = rollups.sums(r, "s", [r.bucket], figures, span, scope, months=group_by == "month")
        for bucket, *values in rows:
            add((bucket_start(r.bucket.python_value(bucket), group_by),), tuple(values))
    elif group_by == "started_by":
        for starter, *values in rollups.sums(r, "b", [r.starter], figures, span, scope):
            kind, _sep, rest = starter.partition(":")
            add((int(rest), None) if kind == "staff" else (None, rest), tuple(values))
    elif group_by == "tariff":
        rows = rollups.sums(r, "c", [r.tariff_version_id], figures, span, scope)
        ids = [version_id for version_id, *_values in rows]
        tariffs = dict(
            TariffVersion.select(TariffVersion.id, TariffVersion.tariff)
            .where(TariffVersion.id.in_(ids or [0]))
            .tuples()
        )
        for version_id, *values in rows:
            add((tariffs.get(version_id),), tuple(values))
    else:
        part, column = {
            "site": ("s", r.site_id),
            "stand": ("c", r.stand_id),
            "client_kind": ("c", r.client_kind),
        }[group_by]
        for key, *values in rollups.sums(r, part, [column], figures, span, scope):
            add((key,), tuple(values))
    return {key: (n, d, v) for key, (n, d, v) in found.items() if n}


def summary_for(
    actor: User,
    from_text: str | None,
    to_text: str | None,
    group_by: str | None,
    timezone: str,
    now: datetime,
) -> Summary[SummaryRow]:
    """``summarise`` for the texts of a request (``YYYY-MM-DD`` days, a grouping name);
    missing days default to the current month in ``timezone``. Bad texts raise ValidationFailed."""
    period = period_for(from_text, to_text, timezone, now)
    return summarise(actor, period, check_grouping(group_by))
