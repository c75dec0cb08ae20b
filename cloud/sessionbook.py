"""Wash sessions as the central service sees them: open ones with their live time and cost,
lists for the API, and the sessions summary (count, time, revenue) grouped by site, stand or
tariff for a period.

Sessions are written by the stands (through sync); here they are only read. Every query goes
through the acting user's site scope, so an attendant sees their own sites only."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import gettext as _

from cloud.errors import NotFound, ValidationFailed
from cloud.models import Client, Credential, Session, Site, Stand, Tariff, TariffVersion, User
from cloud.permissions import site_scope
from sync.pricing import Discount, price

STATUSES = ("open", "ended")
GROUPINGS = ("site", "stand", "tariff")


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


def _parse_day(text: str, name: str) -> date:
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
    first = _parse_day(from_text, "from") if from_text else month_first
    last = _parse_day(to_text, "to") if to_text else month_last
    if first > last:
        raise ValidationFailed(_("Начало периода позже его конца"), "bad_period")
    return Period(first, last, timezone)


def check_grouping(group_by: str | None) -> str:
    if not group_by:
        return "site"
    if group_by not in GROUPINGS:
        raise ValidationFailed(_("group_by: site, stand или tariff"), "bad_group_by")
    return group_by


@dataclass(frozen=True)
class SummaryRow:
    key: int | None  # the site, stand or tariff id; None in the totals row
    label: str
    sessions: int
    duration_s: int
    revenue_kopecks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "sessions": self.sessions,
            "duration_s": self.duration_s,
            "revenue_kopecks": self.revenue_kopecks,
        }


@dataclass(frozen=True)
class Summary:
    period: Period
    group_by: str
    rows: list[SummaryRow]
    total: SummaryRow

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "group_by": self.group_by,
            "rows": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
        }


def _group_columns(group_by: str) -> tuple[Any, list[Any]]:
    """The key column and the label columns of a grouping."""
    if group_by == "site":
        return Site.id, [Site.name]
    if group_by == "stand":
        return Stand.id, [Site.name, Stand.name]
    return Tariff.id, [Tariff.name]


def summarise(actor: User, period: Period, group_by: str) -> Summary:
    """Sessions ended within ``period``: their number, time and revenue per group, summed by the
    database (GROUP BY). A session counts in the period its ``ended_at`` falls in, because its
    cost is only known, and charged, when it ends."""
    group_by = check_grouping(group_by)
    key, labels = _group_columns(group_by)
    count = pw.fn.COUNT(Session.id)
    duration = pw.fn.COALESCE(pw.fn.SUM(Session.duration_s), 0)
    revenue = pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0)
    query = (
        Session.select(
            key.alias("key"), *labels, count.alias("n"), duration.alias("d"), revenue.alias("r")
        )
        .join(Stand, on=(Session.stand == Stand.id))
        .switch(Session)
        .join(Site, on=(Session.site == Site.id))
        .switch(Session)
        .join(TariffVersion, on=(Session.tariff_version == TariffVersion.id))
        .join(Tariff, on=(TariffVersion.tariff == Tariff.id))
        .where(
            Session.ended_at.is_null(False)
            & (Session.ended_at >= period.start)
            & (Session.ended_at < period.end)
        )
        .group_by(key, *labels)
        .order_by(*labels, key)
        .tuples()
    )
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Session.site.in_(sorted(scope)))
    rows = []
    for values in query:
        key_value, *label_values, n, d, r = values
        rows.append(SummaryRow(key_value, " · ".join(label_values), int(n), int(d), int(r)))
    total = SummaryRow(
        None,
        _("Итого"),
        sum(row.sessions for row in rows),
        sum(row.duration_s for row in rows),
        sum(row.revenue_kopecks for row in rows),
    )
    return Summary(period, group_by, rows, total)


def summary_for(
    actor: User,
    from_text: str | None,
    to_text: str | None,
    group_by: str | None,
    timezone: str,
    now: datetime,
) -> Summary:
    """``summarise`` for the texts of a request (``YYYY-MM-DD`` days, a grouping name);
    missing days default to the current month in ``timezone``. Bad texts raise ValidationFailed."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return summarise(
        actor, parse_period(from_text, to_text, timezone, today), check_grouping(group_by)
    )
