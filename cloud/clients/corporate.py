"""Corporate accounts (DESIGN.md, Domain: "one account, several cards and plates, one balance").

A corporate client is a ``Client`` with ``corporate`` set: its cards, plates and QR code are
ordinary credentials of that one client and spend its one balance. On top of that:

- authorised drivers (``ClientDriver``): people allowed to wash on the account, each optionally
  tied to one of its cards;
- a daily limit per card (``Credential.daily_limit_kopecks``, rules in ``sync.limits``): it
  travels down to the stands in the directory, and a stand refuses a start with the card once
  its sessions of the card today have reached it. The stand knows only its own sessions, so
  the central service flags every session whose end took the card's spend on that day over
  the limit, counting every stand (``flag_over_daily_limit``, called by cloud/standsync/ingest/);
- the account page: drivers, cards with their limits and today's spend, sessions grouped by
  the card or plate that started them (``Session.credential_kind``/``credential_value``).

The monthly statement is in ``cloud.clients.statements``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.clock import iso_utc
from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.ledger.service import MAX_AMOUNT_KOPECKS
from cloud.models import (
    Client,
    ClientDriver,
    Credential,
    Session,
    Site,
    Stand,
    StandEvent,
    User,
)
from cloud.permissions import site_scope
from sync.limits import local_day, went_over

MAX_DRIVER_NAME = 200
MAX_DRIVERS = 200
SESSIONS_PER_GROUP = 20
OVER_LIMIT_FLAG = "over_daily_limit"


# --- drivers ----------------------------------------------------------------------------------


def _require_corporate(client: Client) -> None:
    if not client.corporate:
        raise Conflict(_("Водители бывают только у корпоративного клиента"), "not_corporate")


def _card_of(client: Client, credential_id: int) -> Credential:
    card = Credential.get_or_none(
        (Credential.id == credential_id)
        & (Credential.client == client.id)
        & (Credential.kind == "card")
        & Credential.unlinked_at.is_null()
    )
    if card is None:
        raise NotFound(_("Карта не найдена"), "card_not_found")
    return card


def drivers_of(client: Client) -> list[ClientDriver]:
    """The account's drivers by name, with their card (if tied to a linked one)."""
    return list(
        ClientDriver.select(ClientDriver, Credential)
        .join(Credential, pw.JOIN.LEFT_OUTER, on=(ClientDriver.card == Credential.id))
        .where(ClientDriver.client == client.id)
        .order_by(ClientDriver.name, ClientDriver.id)
    )


def add_driver(
    actor: User | None, client: Client, name: str, card_id: int | None = None
) -> ClientDriver:
    """Authorise a driver on a corporate account, optionally tied to one of its cards."""
    _require_corporate(client)
    name = clean_driver_name(name)
    card = _card_of(client, card_id) if card_id is not None else None
    if ClientDriver.select().where(ClientDriver.client == client.id).count() >= MAX_DRIVERS:
        raise Conflict(_("Не больше %(n)s водителей у одного клиента", n=MAX_DRIVERS), "too_many")
    with db_proxy.atomic():
        driver = ClientDriver.create(client=client, name=name, card=card)
        after = {"driver_id": driver.id, "name": name, "card_id": driver.card_id}
        audit.record("driver.added", audit.client_target(client), None, after, actor=actor)
    return driver


def clean_driver_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(_("Укажите имя водителя"), "name_required")
    if len(name) > MAX_DRIVER_NAME:
        raise ValidationFailed(
            _("Имя водителя — не длиннее %(n)s символов", n=MAX_DRIVER_NAME), "name_too_long"
        )
    return name


def remove_driver(actor: User | None, client: Client, driver_id: int) -> None:
    with db_proxy.atomic():
        which = (ClientDriver.id == driver_id) & (ClientDriver.client == client.id)
        driver = ClientDriver.get_or_none(which)
        if driver is None or not ClientDriver.delete().where(which).execute():
            raise NotFound(_("Водитель не найден"), "driver_not_found")
        before = {"driver_id": driver.id, "name": driver.name, "card_id": driver.card_id}
        audit.record("driver.removed", audit.client_target(client), before, None, actor=actor)


def driver_to_dict(driver: ClientDriver) -> dict[str, Any]:
    card = driver.card if driver.card_id is not None else None
    live = card is not None and card.unlinked_at is None
    return {
        "id": driver.id,
        "name": driver.name,
        "card_id": driver.card_id if live else None,
        "card": card.value if live else None,
        "created_at": iso_utc(driver.created_at),
    }


# --- card limits and spend --------------------------------------------------------------------


def set_card_limit(
    actor: User | None, client: Client, credential_id: int, limit_kopecks: int | None
) -> Credential:
    """Set (or, with None, clear) a card's daily limit; stands get it with the directory."""
    card = _card_of(client, credential_id)
    check_limit(limit_kopecks)
    with db_proxy.atomic():
        before = audit.fields_of(card, "id", "value", "daily_limit_kopecks")
        card.daily_limit_kopecks = limit_kopecks
        card.save(only=[Credential.daily_limit_kopecks])
        after = audit.fields_of(card, "id", "value", "daily_limit_kopecks")
        audit.record("card.daily_limit", audit.client_target(client), before, after, actor=actor)
    return card


def check_limit(limit_kopecks: int | None) -> None:
    if limit_kopecks is not None and not 0 < limit_kopecks <= MAX_AMOUNT_KOPECKS:
        raise ValidationFailed(
            _("Дневной лимит — от 0,01 до 1 000 000 ₽ (пусто — без лимита)"), "bad_limit"
        )


def _day_spend(
    client: Client, values: Iterable[str], since: datetime, until: datetime
) -> pw.Select:
    return (
        Session.select(Session.credential_value, pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0))
        .where(
            (Session.client == client.id)
            & (Session.credential_kind == "card")
            & Session.credential_value.in_(sorted(set(values)))
            & (Session.started_at >= since)
            & (Session.started_at < until)
            & Session.ended_at.is_null(False)
        )
        .group_by(Session.credential_value)
        .tuples()
    )


def spend_today(
    client: Client, values: Iterable[str], now: datetime, timezone: str
) -> dict[str, int]:
    """What the client's ended sessions with each of these cards that started today cost,
    at every stand."""
    values = list(values)
    if not values:
        return {}
    since, until = local_day(now, timezone)
    spent = {value: 0 for value in values}
    spent.update({value: int(total) for value, total in _day_spend(client, values, since, until)})
    return spent


def _limits_of(values: set[str]) -> dict[str, tuple[int, int]]:
    """The daily limit and holder of each of these linked cards that has a limit."""
    rows = (
        Credential.select(Credential.value, Credential.daily_limit_kopecks, Credential.client)
        .where(
            (Credential.kind == "card")
            & Credential.value.in_(sorted(values))
            & Credential.unlinked_at.is_null()
            & Credential.daily_limit_kopecks.is_null(False)
        )
        .tuples()
    )
    return {value: (limit, client_id) for value, limit, client_id in rows}


def flag_over_daily_limit(session_uuids: list[str], timezone: str) -> list[int]:
    """Flag the sessions that took a card over its daily limit, on the days of these ended
    sessions (``sync.limits``): on each such card and day, the card's ended sessions at every
    stand in the order they ended, each flagged once the running sum of their costs exceeds
    the limit. The whole day is looked at again, so a session that reaches us late (a stand
    that was offline) flags the ones that ended after it. Returns the ids newly flagged.
    Called in the transaction that applied the ends (cloud/standsync/ingest/)."""
    if not session_uuids:
        return []
    ended = (
        Session.select(Session.credential_value, Session.started_at)
        .where(
            Session.uuid.in_(sorted(set(session_uuids)))
            & (Session.credential_kind == "card")
            & Session.ended_at.is_null(False)
        )
        .tuples()
    )
    days = {(value, local_day(started, timezone)) for value, started in ended}
    limits = _limits_of({value for value, _day in days}) if days else {}
    flagged: list[int] = []
    for value, (since, until) in sorted(days):
        if value in limits:
            limit, holder = limits[value]
            flagged += _flag_day(holder, value, (since, until), limit)
    return flagged


def _flag_day(holder: int, value: str, day: tuple[datetime, datetime], limit: int) -> list[int]:
    """Flag the card's sessions of its holder on ``day`` once their running cost exceeds
    ``limit`` (sessions of a former holder of the UID do not count)."""
    since, until = day
    sessions = (
        Session.select()
        .where(
            (Session.client == holder)
            & (Session.credential_kind == "card")
            & (Session.credential_value == value)
            & (Session.started_at >= since)
            & (Session.started_at < until)
            & Session.ended_at.is_null(False)
        )
        .order_by(Session.ended_at, Session.id)
    )
    spent = 0
    flagged: list[int] = []
    for session in sessions:
        spent += session.cost_kopecks or 0
        if went_over(spent, limit) and not session.over_daily_limit:
            _flag(session, limit, spent)
            flagged.append(session.id)
    return flagged


def _flag(session: Session, limit: int, spent: int) -> None:
    Session.update(over_daily_limit=True).where(Session.id == session.id).execute()
    note = _(
        "Карта %(card)s: за день %(spent)s коп. при лимите %(limit)s коп.",
        card=session.credential_value,
        spent=spent,
        limit=limit,
    )
    ended = StandEvent.get_or_none(
        (StandEvent.type == "session.ended") & (StandEvent.subject_uuid == session.uuid)
    )
    if ended is not None:
        ended.flag = ended.flag or OVER_LIMIT_FLAG
        ended.flag_note = f"{ended.flag_note}\n{note}".strip()
        ended.save(only=[StandEvent.flag, StandEvent.flag_note])


# --- the account page -------------------------------------------------------------------------


@dataclass
class CredentialGroup:
    """The sessions started with one card, plate or QR code (or with none: ``kind`` None)."""

    kind: str | None
    value: str | None
    sessions: int = 0
    duration_s: int = 0
    cost_kopecks: int = 0
    over_limit: int = 0
    recent: list[Session] = field(default_factory=list)


def _visible_sessions(actor: User | None, client: Client) -> pw.ModelSelect:
    query = (
        Session.select(Session, Site, Stand)
        .join(Site, on=(Session.site == Site.id))
        .switch(Session)
        .join(Stand, on=(Session.stand == Stand.id))
        .where(Session.client == client.id)
    )
    scope = None if actor is None else site_scope(actor)
    if scope is not None:
        query = query.where(Session.site.in_(sorted(scope)))
    return query


def session_groups(actor: User | None, client: Client) -> list[CredentialGroup]:
    """The client's sessions grouped by the credential that started them (the actor's sites
    only for an attendant): totals in SQL, and the latest few of each group."""
    base = _visible_sessions(actor, client)
    totals = (
        base.select(
            Session.credential_kind,
            Session.credential_value,
            pw.fn.COUNT(Session.id),
            pw.fn.COALESCE(pw.fn.SUM(Session.duration_s), 0),
            pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0),
            pw.fn.SUM(pw.Case(None, [(Session.over_daily_limit, 1)], 0)),
        )
        .group_by(Session.credential_kind, Session.credential_value)
        .tuples()
    )
    groups = [
        CredentialGroup(kind, value, int(n), int(duration), int(cost), int(over or 0))
        for kind, value, n, duration, cost, over in totals
    ]
    order = {"card": 0, "plate": 1, "qr": 2, None: 3}
    groups.sort(key=lambda g: (order.get(g.kind, 3), g.value or ""))
    for group in groups:
        same = (
            (Session.credential_kind == group.kind)
            if group.kind is not None
            else Session.credential_kind.is_null()
        )
        same &= (
            (Session.credential_value == group.value)
            if group.value is not None
            else Session.credential_value.is_null()
        )
        group.recent = list(
            base.where(same)
            .order_by(Session.started_at.desc(), Session.id.desc())
            .limit(SESSIONS_PER_GROUP)
        )
    return groups


@dataclass(frozen=True)
class CardRow:
    credential: Credential
    daily_limit_kopecks: int | None
    spent_today_kopecks: int
    drivers: list[str]

    @property
    def limit_reached(self) -> bool:
        limit = self.daily_limit_kopecks
        return limit is not None and self.spent_today_kopecks >= limit


def card_rows(client: Client, now: datetime, timezone: str) -> list[CardRow]:
    """The client's linked cards with their limits, today's spend and drivers."""
    cards = list(
        Credential.select()
        .where(
            (Credential.client == client.id)
            & (Credential.kind == "card")
            & Credential.unlinked_at.is_null()
        )
        .order_by(Credential.id)
    )
    spent = spend_today(client, [c.value for c in cards], now, timezone)
    names: dict[int, list[str]] = {}
    for driver in drivers_of(client):
        if driver.card_id is not None:
            names.setdefault(driver.card_id, []).append(driver.name)
    return [
        CardRow(c, c.daily_limit_kopecks, spent.get(c.value, 0), names.get(c.id, [])) for c in cards
    ]


def card_to_dict(row: CardRow) -> dict[str, Any]:
    return {
        "id": row.credential.id,
        "uid": row.credential.value,
        "lost": row.credential.lost,
        "daily_limit_kopecks": row.daily_limit_kopecks,
        "spent_today_kopecks": row.spent_today_kopecks,
        "limit_reached": row.limit_reached,
        "drivers": row.drivers,
    }


def group_to_dict(group: CredentialGroup) -> dict[str, Any]:
    return {
        "credential_kind": group.kind,
        "credential_value": group.value,
        "sessions": group.sessions,
        "duration_s": group.duration_s,
        "cost_kopecks": group.cost_kopecks,
        "over_daily_limit": group.over_limit,
        "recent_session_ids": [s.id for s in group.recent],
    }


def account_view(
    actor: User | None, client: Client, now: datetime, timezone: str
) -> dict[str, Any]:
    """The account as the API gives it: drivers, cards (with their spend on ``now``'s day in
    ``timezone``), sessions per card and plate."""
    return {
        "client_id": client.id,
        "corporate": client.corporate,
        "balance_kopecks": client.balance_kopecks,
        "drivers": [driver_to_dict(d) for d in drivers_of(client)],
        "cards": [card_to_dict(r) for r in card_rows(client, now, timezone)],
        "groups": [group_to_dict(g) for g in session_groups(actor, client)],
    }
