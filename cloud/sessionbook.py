"""Wash sessions as the central service sees them: open ones with their live time and cost,
lists for the API, and the sessions summary (count, total and average time, revenue) for a
period, by day, week or month, site, stand, tariff, client kind or who started them.

Sessions are written by the stands (through sync); here they are only read. Every query goes
through the acting user's site scope, so an attendant sees their own sites only."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import gettext as _

from cloud.errors import NotFound, ValidationFailed
from cloud.models import Client, Credential, Session, Site, Stand, Tariff, TariffVersion, User
from cloud.permissions import site_scope
from cloud.timebuckets import UNITS, Bucketing
from sync.pricing import Discount, price

STATUSES = ("open", "ended")
GROUPINGS = ("day", "week", "month", "site", "stand", "tariff", "client_kind", "started_by")


def iso_utc(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp (``2024-03-01T10:00:00Z``), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _scoped(actor: User) -> pw.ModelSelect:
    """Sessions with their client, stand, site and tariff, limited to the actor's sites."""
    query = (
        Session.select(Session, Client, Stand, Site, TariffVersion, Tariff)
        .join(Client, on=(Session.client == Client.id))
        .switch(Session)
        .join(Stand, on=(Session.stand == Stand.id))
        .switch(Session)
        .join(Site, on=(Session.site == Site.id))
        .switch(Session)
        .join(TariffVersion, on=(Session.tariff_version == TariffVersion.id))
        .join(Tariff, on=(TariffVersion.tariff == Tariff.id))
    )
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Session.site.in_(sorted(scope)))
    return query


def open_sessions(actor: User, site_id: int | None = None) -> list[Session]:
    """Sessions not yet ended at the actor's sites (optionally one site), oldest first."""
    query = _scoped(actor).where(Session.ended_at.is_null())
    if site_id is not None:
        query = query.where(Session.site == site_id)
    return list(query.order_by(Session.started_at, Session.id))


def get_session(actor: User, session_id: int) -> Session:
    """One session through the actor's scope; out of scope is the same as missing."""
    row = _scoped(actor).where(Session.id == session_id).first()
    if row is None:
        raise NotFound(_("Сессия не найдена"))
    return row


def plates_of(client_ids: list[int]) -> dict[int, str]:
    """Each client's linked car plates, joined with ", " (a corporate client may have several)."""
    if not client_ids:
        return {}
    plates: dict[int, list[str]] = {}
    query = (
        Credential.select(Credential.client, Credential.value)
        .where(
            Credential.client.in_(sorted(set(client_ids)))
            & (Credential.kind == "plate")
            & Credential.unlinked_at.is_null()
        )
        .order_by(Credential.id)
    )
    for row in query:
        plates.setdefault(row.client_id, []).append(row.value)
    return {client_id: ", ".join(values) for client_id, values in plates.items()}


def elapsed_seconds(session: Session, now: datetime) -> int:
    """Whole seconds since the session started; never negative (a stand clock may run ahead)."""
    return max(0, int((now - session.started_at).total_seconds()))


def running_cost(session: Session, now: datetime) -> int:
    """What the session would cost if it ended at ``now``, with its own tariff version and the
    client's personal discount."""
    client = session.client
    discount = Discount(client.discount_percent, client.discount_kopecks)
    elapsed = elapsed_seconds(session, now)
    return price(session.tariff_version.rates(), session.client_kind, elapsed, discount)


def _live(session: Session, now: datetime, plate: str) -> dict[str, Any]:
    client = session.client
    return {
        **session_to_dict(session),
        "elapsed_s": elapsed_seconds(session, now),
        "running_cost_kopecks": running_cost(session, now),
        "client_name": client.name or plate or _("Клиент №%(id)s", id=client.id),
        "client_full_name": client.name,
        "plate": plate,
        "site_name": session.site.name,
        "stand_name": session.stand.name,
        "tariff_name": session.tariff_version.tariff.name,
    }


def live_view(session: Session, now: datetime) -> dict[str, Any]:
    """An open session as the dashboard shows it: elapsed time, running cost, who and where.
    ``client_name`` is the client's full name, or the plate for a guest known only by it."""
    return _live(session, now, plates_of([session.client_id]).get(session.client_id, ""))


def live_views(sessions: list[Session], now: datetime) -> list[dict[str, Any]]:
    """``live_view`` of many sessions, reading the plates in one query."""
    plates = plates_of([row.client_id for row in sessions])
    return [_live(row, now, plates.get(row.client_id, "")) for row in sessions]


def list_sessions(
    actor: User,
    *,
    client_id: int | None = None,
    status: str | None = None,
    site_id: int | None = None,
    stand_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Session], int]:
    """A page of the actor's sessions, newest first, and how many match in all.
    ``since``/``until`` bound ``started_at`` (since inclusive, until exclusive)."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(_("status: open или ended"), "bad_status")
    query = _scoped(actor)
    if client_id is not None:
        query = query.where(Session.client == client_id)
    if status == "open":
        query = query.where(Session.ended_at.is_null())
    elif status == "ended":
        query = query.where(Session.ended_at.is_null(False))
    if site_id is not None:
        query = query.where(Session.site == site_id)
    if stand_id is not None:
        query = query.where(Session.stand == stand_id)
    if since is not None:
        query = query.where(Session.started_at >= since)
    if until is not None:
        query = query.where(Session.started_at < until)
    total = query.count()
    rows = list(
        query.order_by(Session.started_at.desc(), Session.id.desc()).limit(limit).offset(offset)
    )
    return rows, total


def session_to_dict(session: Session) -> dict[str, Any]:
    """The API form of a session (UTC ISO 8601 times); an open one has null ``ended_at``,
    ``duration_s`` and ``cost_kopecks``."""
    return {
        "id": session.id,
        "status": "open" if session.ended_at is None else "ended",
        "client_id": session.client_id,
        "stand_id": session.stand_id,
        "site_id": session.site_id,
        "tariff_id": session.tariff_version.tariff_id,
        "tariff_version_id": session.tariff_version_id,
        "client_kind": session.client_kind,
        "started_at": iso_utc(session.started_at),
        "ended_at": iso_utc(session.ended_at),
        "duration_s": session.duration_s,
        "cost_kopecks": session.cost_kopecks,
        "start_method": session.start_method,
        "end_method": session.end_method,
        "started_by_id": session.started_by_id,
        "ended_by_id": session.ended_by_id,
        "comment": session.comment,
        "credential_kind": session.credential_kind,
        "credential_value": session.credential_value,
        "over_daily_limit": session.over_daily_limit,
    }


# --- the sessions summary report --------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Calendar days ``first``..``last`` (inclusive) in the service's time zone."""

    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (midnight after ``last``), exclusive."""
        following = self.last + timedelta(days=1)
        return datetime.combine(following, time.min, ZoneInfo(self.timezone)).astimezone(UTC)


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            _("%(name)s: дата в виде ГГГГ-ММ-ДД, получено «%(text)s»", name=name, text=text[:20]),
            "bad_date",
        ) from None


def parse_period(from_text: str | None, to_text: str | None, timezone: str, today: date) -> Period:
    """The period of a report from ``YYYY-MM-DD`` texts; a missing end defaults to this month's."""
    month_first = today.replace(day=1)
    month_last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    first = parse_day(from_text, "from") if from_text else month_first
    last = parse_day(to_text, "to") if to_text else month_last
    if first > last:
        raise ValidationFailed(_("Начало периода позже его конца"), "bad_period")
    return Period(first, last, timezone)


def check_grouping(
    group_by: str | None, choices: tuple[str, ...] = GROUPINGS, default: str = "site"
) -> str:
    """The grouping asked for, one of ``choices``, or ``default`` when none was."""
    if not group_by:
        return default
    if group_by not in choices:
        raise ValidationFailed(
            _("group_by: одно из %(names)s", names=", ".join(choices)), "bad_group_by"
        )
    return group_by


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
    """Figures of a period per group (the sessions', or the top-ups' in cloud/topupreport.py),
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
        from cloud.clients import kind_labels

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
    """One row per bucket of the period, in time order, an empty bucket as zeros."""
    every = Bucketing(period, unit).fill({key[0]: sums[key] for key in sums}, (0, 0, 0))
    return [SummaryRow(start.isoformat(), label, *figures) for start, label, figures in every]


def summarise(actor: User, period: Period, group_by: str) -> Summary[SummaryRow]:
    """Sessions ended within ``period``: their number, time and revenue per group, summed by the
    database (GROUP BY on the session table; the few group names are read afterwards). A
    session counts in the period (and the day, week or month) its ``ended_at`` falls in,
    because its cost is only known, and charged, when it ends."""
    group_by = check_grouping(group_by)
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
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Session.site.in_(sorted(scope)))
    sums = {}
    for values in query.tuples():
        *key, n, d, r = values
        sums[tuple(key)] = (int(n), int(d), int(r))
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


def period_for(from_text: str | None, to_text: str | None, timezone: str, now: datetime) -> Period:
    """The period of a request's ``YYYY-MM-DD`` texts; missing days default to the current
    month in ``timezone``. Bad texts raise ValidationFailed."""
    return parse_period(from_text, to_text, timezone, now.astimezone(ZoneInfo(timezone)).date())


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
