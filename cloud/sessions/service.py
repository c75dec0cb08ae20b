"""Wash sessions as the central service sees them: open ones with their live time and cost,
and lists for the API (the sessions summary report is ``cloud.reports.sessions``).

Sessions are written by the stands (through sync); here they are only read. Every query goes
through the acting user's site scope, so an attendant sees their own sites only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee as pw
from flask import current_app
from flask_babel import gettext as _

from cloud.clock import iso_utc
from cloud.errors import NotFound, ValidationFailed
from cloud.models import Client, Credential, Session, Site, Stand, Tariff, TariffVersion, User
from cloud.permissions import site_scope
from sync.pricing import Discount, price
from sync.schedule import Start

STATUSES = ("open", "ended")


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


def session_start(session: Session, timezone: str) -> Start:
    """Where a schedule of the session's rates is read (sync.schedule): its start, in the
    chain's time zone (the stands are configured with the same one)."""
    return Start(session.started_at, timezone)


def running_cost(session: Session, now: datetime) -> int:
    """What the session would cost if it ended at ``now``, with its own tariff version (its
    schedule read in the service's ``timezone``) and the client's personal discount."""
    client = session.client
    discount = Discount(client.discount_percent, client.discount_kopecks)
    elapsed = elapsed_seconds(session, now)
    start = session_start(session, current_app.config["AQ"].timezone)
    return price(session.tariff_version.rates(), session.client_kind, elapsed, discount, start)


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
        "force_closed": session.force_closed,
    }
