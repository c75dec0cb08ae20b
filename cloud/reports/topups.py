"""The top-ups report: top-ups (ledger entries of kind ``topup``) of a period, counted and summed
by the database per day, week or month, payment method, site or staff member; and the
history of top-ups, filterable by client, method, site and period, newest first.

A top-up counts in the period its ``created_at`` falls in: when the stand (or the central
app) took the money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud import periods
from cloud.clock import iso_utc
from cloud.errors import NotFound, ValidationFailed
from cloud.fields import query_row_id
from cloud.labels import method_labels
from cloud.models import LEDGER_METHODS, Client, LedgerEntry, Site, TopupRollup, User
from cloud.periods import Period, check_order, parse_day
from cloud.permissions import site_scope
from cloud.reports import rollups
from cloud.reports.sessions import Summary
from cloud.reports.timebuckets import UNITS, Bucketing, bucket_start
from cloud.sessions.service import plates_of

GROUPINGS = ("day", "week", "month", "method", "site", "staff")
HISTORY_LIMIT = 200  # rows of the history shown; the totals count every matching top-up


@dataclass(frozen=True)
class TopupRow:
    key: int | str | None  # site or staff id, method, bucket's first day; None: none / totals
    label: str
    topups: int
    amount_kopecks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "topups": self.topups,
            "amount_kopecks": self.amount_kopecks,
        }


TopupSummary = Summary[TopupRow]


def check_grouping(group_by: str | None) -> str:
    return periods.check_grouping(group_by, GROUPINGS, default="day")


def _topups(actor: User) -> pw.ModelSelect:
    query = LedgerEntry.select().where(LedgerEntry.kind == "topup")
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(LedgerEntry.site.in_(sorted(scope)))
    return query


def _in(query: pw.ModelSelect, start: datetime | None, end: datetime | None) -> pw.ModelSelect:
    if start is not None:
        query = query.where(LedgerEntry.created_at >= start)
    if end is not None:
        query = query.where(LedgerEntry.created_at < end)
    return query


def _label(group_by: str, key: Any, names: dict[Any, str]) -> str:
    if key is None:
        return {
            "site": _("Без площадки (центральное приложение)"),
            "staff": _("Без сотрудника"),
        }.get(group_by, "—")
    return names.get(key, str(key))


def _names(group_by: str, keys: list[Any]) -> dict[Any, str]:
    ids = sorted(key for key in keys if key is not None)
    if group_by == "site":
        return dict(Site.select(Site.id, Site.name).where(Site.id.in_(ids)).tuples())
    if group_by == "staff":
        return dict(User.select(User.id, User.full_name).where(User.id.in_(ids)).tuples())
    return method_labels()


def summarise_topups(actor: User, period: Period, group_by: str) -> TopupSummary:
    """Top-ups taken within ``period``: their number and sum per group, from the rollups
    (``cloud.reports.rollups``) when they are cut in the period's time zone, else from the
    ledger (``raw_topup_sums``); both give the same figures."""
    group_by = check_grouping(group_by)
    scope = site_scope(actor)
    if rollups.usable(period.timezone):
        sums = rollup_topup_sums(period, group_by, scope)
    else:
        sums = raw_topup_sums(actor, period, group_by)
    if group_by in UNITS:
        every = Bucketing(period, group_by).fill(sums, (0, 0))
        rows = [TopupRow(start.isoformat(), label, *figures) for start, label, figures in every]
    else:
        names = _names(group_by, list(sums))
        rows = sorted(
            (TopupRow(k, _label(group_by, k, names), *v) for k, v in sums.items()),
            key=lambda row: (row.label, str(row.key)),
        )
    total = TopupRow(
        None,
        _("Итого"),
        sum(row.topups for row in rows),
        sum(row.amount_kopecks for row in rows),
    )
    return Summary(period, group_by, rows, total)


def raw_topup_sums(actor: User, period: Period, group_by: str) -> dict[Any, tuple[int, int]]:
    """Count and sum per group (a bucket by its first day) counted from the ledger."""
    bucketing = Bucketing(period, group_by) if group_by in UNITS else None
    if bucketing is not None:
        key: Any = bucketing.expression(LedgerEntry.created_at)
    else:
        key = {"method": LedgerEntry.method, "site": LedgerEntry.site}.get(
            group_by, LedgerEntry.created_by
        )
    query = _in(_topups(actor), period.start, period.end)
    amount = pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0)
    query = query.select(key, pw.fn.COUNT(LedgerEntry.id), amount).group_by(key)
    return {
        (bucketing.start_of(value) if bucketing is not None else value): (int(n), int(total))
        for value, n, total in query.tuples()
    }


def rollup_topup_sums(
    period: Period, group_by: str, scope: set[int] | None
) -> dict[Any, tuple[int, int]]:
    """``raw_topup_sums`` read from the rollups."""
    r = TopupRollup
    span = rollups.Span(period.first, period.last)
    figures = [r.topups, r.amount_kopecks]
    found: dict[Any, tuple[int, int]] = {}
    if group_by in UNITS:
        months = group_by == "month"
        for bucket, n, total in rollups.sums(r, "s", [r.bucket], figures, span, scope, months):
            start = bucket_start(r.bucket.python_value(bucket), group_by)
            before = found.get(start, (0, 0))
            found[start] = (before[0] + n, before[1] + total)
        return found
    part, column, none = {
        "site": ("s", r.site_id, 0),
        "method": ("m", r.method, ""),
        "staff": ("f", r.staff_id, 0),
    }[group_by]
    return {
        (None if value == none else value): (n, total)
        for value, n, total in rollups.sums(r, part, [column], figures, span, scope)
    }


@dataclass(frozen=True)
class HistoryFilter:
    """What the history shows: days ``first``..``last`` (either may be open), and optionally
    one client, payment method or site."""

    first: date | None
    last: date | None
    timezone: str
    client_id: int | None = None
    method: str | None = None
    site_id: int | None = None


def history_filter(args: Any, timezone: str) -> HistoryFilter:
    """The history's filter from request arguments (``from``, ``to``, ``client_id``,
    ``method``, ``site_id``); bad values raise ValidationFailed."""
    first_text, last_text = args.get("from") or "", args.get("to") or ""
    first = parse_day(first_text, "from") if first_text else None
    last = parse_day(last_text, "to") if last_text else None
    check_order(first, last)
    method = args.get("method") or None
    if method is not None and method not in LEDGER_METHODS:
        raise ValidationFailed(_("method: cash, card, transfer или online"), "bad_method")
    return HistoryFilter(
        first,
        last,
        timezone,
        query_row_id(args.get("client_id"), "client_id"),
        method,
        query_row_id(args.get("site_id"), "site_id"),
    )


@dataclass(frozen=True)
class TopupHistory:
    filter: HistoryFilter
    client: Client | None
    items: list[dict[str, Any]]  # at most HISTORY_LIMIT, newest first
    count: int  # every matching top-up
    amount_kopecks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.filter.first.isoformat() if self.filter.first else None,
            "to": self.filter.last.isoformat() if self.filter.last else None,
            "client_id": self.filter.client_id,
            "method": self.filter.method,
            "site_id": self.filter.site_id,
            "count": self.count,
            "amount_kopecks": self.amount_kopecks,
            "items": self.items,
        }


def _bounds(chosen: HistoryFilter) -> tuple[datetime | None, datetime | None]:
    start = end = None
    if chosen.first is not None:
        start = Period(chosen.first, chosen.first, chosen.timezone).start
    if chosen.last is not None:
        end = Period(chosen.last, chosen.last, chosen.timezone).end
    return start, end


def topup_history(actor: User, chosen: HistoryFilter, limit: int = HISTORY_LIMIT) -> TopupHistory:
    """Top-ups matching ``chosen``, newest first (at most ``limit``), with their count and sum."""
    client = None
    if chosen.client_id is not None:
        client = Client.get_or_none((Client.id == chosen.client_id) & Client.deleted_at.is_null())
        if client is None:
            raise NotFound(_("Клиент не найден"))
    query = _in(_topups(actor), *_bounds(chosen))
    if chosen.client_id is not None:
        query = query.where(LedgerEntry.client == chosen.client_id)
    if chosen.method is not None:
        query = query.where(LedgerEntry.method == chosen.method)
    if chosen.site_id is not None:
        query = query.where(LedgerEntry.site == chosen.site_id)
    if chosen.client_id is None and rollups.usable(chosen.timezone):
        count, amount = _rollup_count(actor, chosen)
    else:
        count, amount = query.select(
            pw.fn.COUNT(LedgerEntry.id), pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0)
        ).tuples()[0]
    # Only the columns an item shows, as tuples: whole rows of four models cost more to build
    # than the database takes to find them.
    rows = (
        query.select(
            LedgerEntry.id,
            LedgerEntry.created_at,
            LedgerEntry.client,
            Client.name,
            LedgerEntry.amount_kopecks,
            LedgerEntry.method,
            LedgerEntry.site,
            Site.name,
            LedgerEntry.created_by,
            User.full_name,
        )
        .join(Client, on=(LedgerEntry.client == Client.id))
        .switch(LedgerEntry)
        .join(Site, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.site == Site.id))
        .switch(LedgerEntry)
        .join(User, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.created_by == User.id))
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
        .tuples()
    )
    rows = list(rows)
    plates = plates_of([row[2] for row in rows])
    items = [_item(row, plates.get(row[2], "")) for row in rows]
    return TopupHistory(chosen, client, items, int(count), int(amount))


def _rollup_count(actor: User, chosen: HistoryFilter) -> tuple[int, int]:
    """The count and sum of the history's top-ups (a filter without a client) from the
    rollups: the method's part when a method is chosen, the sites' otherwise."""
    r = TopupRollup
    where = r.site_id == chosen.site_id if chosen.site_id is not None else None
    part = "s"
    if chosen.method is not None:
        part = "m"
        method = r.method == chosen.method
        where = method if where is None else where & method
    found = rollups.sums(
        r,
        part,
        [],
        [r.topups, r.amount_kopecks],
        rollups.Span(chosen.first, chosen.last),
        site_scope(actor),
        where=where,
    )
    return (found[0][0], found[0][1]) if found else (0, 0)


def client_label(client: Client, plate: str) -> str:
    """A client as a report names them: the name, else the plate, else the number."""
    return client.name or plate or _("Клиент №%(id)s", id=client.id)


def _item(row: tuple[Any, ...], plate: str) -> dict[str, Any]:
    """A history item from the row ``topup_history`` read."""
    entry_id, created_at, client_id, client_name, amount, method = row[:6]
    site_id, site_name, staff_id, staff_name = row[6:]
    return {
        "id": entry_id,
        "created_at": iso_utc(created_at),
        "client_id": client_id,
        "client_name": client_name or plate or _("Клиент №%(id)s", id=client_id),
        "amount_kopecks": amount,
        "method": method,
        "site_id": site_id,
        "site_name": site_name if site_id is not None else None,
        "staff_id": staff_id,
        "staff_name": staff_name if staff_id is not None else None,
    }
