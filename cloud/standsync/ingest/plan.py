"""A run's plan: events of the common kinds (sessions, top-ups, refused taps) worked out in
memory against what a few queries read for the whole run, then written together (``run``).

The appliers of those kinds (``appliers``) read the plan's state (``session``, ``client_id``,
``versions``, ...) and add to it: ``StandEvent`` rows, sessions started or ended, postings,
comments and bonus-point effects. Nothing is written while planning, so an event to refuse
is found before anything of it is stored."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from functools import reduce
from typing import Any

from cloud.config import CloudConfig
from cloud.db import any_of, is_postgresql
from cloud.ledger.service import Posting
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import Client, Session, Stand, StandEvent, TariffVersion
from cloud.standsync import commands
from cloud.standsync.ingest.limits import DEFAULT_LIMITS, Limits, credited_on
from cloud.standsync.ingest.lookups import (
    ClientRef,
    clients_by_uuid,
    deleted_note,
    site_staff,
    tuples,
    unknown_actor,
    unknown_client,
)
from cloud.standsync.ingest.outcomes import flag_row
from sync.events import Event
from sync.limits import local_day
from sync.payloads import SessionEnded, SessionStarted, TopupRecorded
from sync.pricing import Discount, Rates

Row = dict[str, Any]  # a StandEvent row (``rows.event_row``)
# Done after the money postings, in event order, given the event's id and its session's id
# (None when it has none): bonus points (cloud/loyalty/bonus.py).
Deferred = Callable[[int, int | None], None]


class Plan:
    """What a run of events reads once and what its events will write (module docstring)."""

    def __init__(
        self,
        stand: Stand,
        events: list[Event],
        rules: PointsRules = bonus.OFF,
        limits: Limits = DEFAULT_LIMITS,
        timezone: str = CloudConfig.timezone,
    ) -> None:
        self.stand = stand
        self.rules = rules
        self.limits = limits
        self.timezone = timezone
        # The stand's top-ups credited on each local day (its start) so far, this run's included.
        self.credited: dict[datetime, int] = {}
        self.rows: list[Row] = []  # StandEvent rows, in order
        self.new_sessions: dict[str, Session] = {}  # started in this run (not stored yet)
        self.ended: list[Session] = []  # stored sessions this run ends
        self.completed: list[tuple[Session, datetime]] = []  # their pending commands done
        self.reconciled: set[str] = set()  # force-closed sessions whose stand's end came now
        # (row index, session uuid or None, posting without its event and session ids)
        self.postings: list[tuple[int, str | None, Posting]] = []
        # (session uuid, Comment row without its session id): comments given at an end
        self.comments: list[tuple[str, Row]] = []
        # (row index, session uuid or None, what to do once the row and session are stored)
        self.deferred: list[tuple[int, str | None, Deferred]] = []
        # (row index, client id, posting, reason): top-ups held for review (ingest.held)
        self.holds: list[tuple[int, int, Posting, str]] = []
        self._read(events)

    def _read(self, events: list[Event]) -> None:
        """What the run's events refer to, a query (or none) per table."""
        stand = self.stand
        data = [event.data for event in events]
        self.staff_ids = site_staff(
            stand.site_id, {e.actor for e in events}, self.limits.managers_everywhere
        )
        refs = [d for d in data if isinstance(d, SessionStarted | TopupRecorded)]
        self.uuid_clients = clients_by_uuid(
            r.client_uuid for r in refs if r.client_uuid is not None
        )
        session_uuids = sorted(
            {d.session_uuid for d in data if isinstance(d, SessionStarted | SessionEnded)}
        )
        self.sessions: dict[str, Session] = (
            {
                s.uuid: s
                for s in Session.select().where(any_of(Session.uuid, session_uuids))
                if s.uuid is not None  # always, found by it: says so to mypy
            }
            if session_uuids
            else {}
        )
        # Every client the run names, in one read: by id in a payload, by uuid, by session.
        payload_ids = {r.client_id for r in refs if r.client_id is not None}
        named = _clients(
            payload_ids
            | set(self.uuid_clients.values())
            | {s.client_id for s in self.sessions.values()}
        )
        self.client_ids = payload_ids & set(named)
        self.deleted = {client_id for client_id, (deleted, _d) in named.items() if deleted}
        self.discounts = {client_id: d for client_id, (_x, d) in named.items() if d is not None}
        version_ids = {d.tariff_version_id for d in data if isinstance(d, SessionStarted)}
        version_ids = {v for v in version_ids if v < 2**31}
        version_ids |= {s.tariff_version_id for s in self.sessions.values()}
        self.versions: dict[int, TariffVersion] = (
            {
                v.id: v
                for v in TariffVersion.select().where(TariffVersion.id.in_(sorted(version_ids)))
            }
            if version_ids
            else {}
        )
        open_here = [
            s for s in self.sessions.values() if s.ended_at is None and s.stand_id == stand.id
        ]
        self.commanded = commands.pending_session_ids([s.id for s in open_here])
        topups = {d.topup_uuid for d in data if isinstance(d, TopupRecorded)}
        # Top-ups applied already, and each open session's start as the stand's clock read it
        # (``session_ended``): stored, and as planned in this run (the run's own wins).
        self.applied_topups, self.stored_starts = _subjects(
            stand.id, topups, {s.uuid for s in open_here if s.uuid}
        )
        self.planned_starts: dict[str, str] = {}
        self._rates: dict[int, Rates] = {}

    def rates(self, version_id: int) -> Rates:
        """The rates of a tariff version the run read (``versions``), made once a run."""
        rates = self._rates.get(version_id)
        if rates is None:
            rates = self._rates[version_id] = self.versions[version_id].rates()
        return rates

    def add(self, row: Row) -> None:
        """The event being planned is planned: its row is written with the run."""
        if row["type"] == "session.started":
            self.planned_starts.setdefault(row["subject_uuid"], row["occurred_at_raw"])
        self.rows.append(row)

    def start_sent(self, session_uuid: str) -> str | None:
        """The time the session's ``session.started`` was sent with (as received), the first
        planned in this run or else the stored one (this stand's open sessions only)."""
        planned = self.planned_starts.get(session_uuid)
        return planned if planned is not None else self.stored_starts.get(session_uuid)

    def staff_id(self, actor: str) -> int | None:
        """The staff member behind ``actor``, if accepted at the stand's site (``lookups``)."""
        return int(actor) if actor.isdigit() and int(actor) in self.staff_ids else None

    def check_actor(self, row: Row) -> None:
        """Flag the planned event ``unknown_actor`` when its actor is a staff id not accepted
        at the stand's site: it is applied with no staff member (``staff_id`` gives None)."""
        actor = row["actor"]
        note = unknown_actor(actor)
        if note is not None and self.staff_id(actor) is None:
            flag_row(row, "unknown_actor", note)

    def client_id(self, p: ClientRef) -> int:
        """The client the payload names; refused when unknown."""
        client_id = p.client_id
        found = (
            (client_id if client_id in self.client_ids else None)
            if client_id is not None
            else self.uuid_clients.get(p.client_uuid or "")
        )
        if found is None:
            raise unknown_client(p)
        return found

    def over_ceiling(self, kopecks: int, at: datetime) -> str | None:
        """Why a top-up of ``kopecks`` at ``at`` is to be held (``models.HELD_REASONS``), or
        None: it is credited, and counts towards its day from now on (``limits``)."""
        limits = self.limits
        if limits.topup_kopecks and kopecks > limits.topup_kopecks:
            return "topup"
        day = local_day(at, self.timezone)
        if day[0] not in self.credited:
            self.credited[day[0]] = credited_on(self.stand.id, day)
        if limits.stand_day_kopecks and self.credited[day[0]] + kopecks > limits.stand_day_kopecks:
            return "stand_day"
        self.credited[day[0]] += kopecks
        return None

    def deleted_client(self, client_id: int, row: Row) -> bool:
        """Whether the client is deleted; if so the planned event is flagged
        ``deleted_client``, and its applier leaves the client's money as it is."""
        if client_id not in self.deleted:
            return False
        flag_row(row, "deleted_client", deleted_note(client_id))
        return True

    def session(self, uuid: str) -> Session | None:
        """The session, started in this run or stored."""
        new = self.new_sessions.get(uuid)
        return new if new is not None else self.sessions.get(uuid)

    def defer(self, session_uuid: str | None, action: Deferred) -> None:
        """Do ``action`` for the event being planned once it is stored (``Deferred``)."""
        self.deferred.append((len(self.rows), session_uuid, action))

    def hold(self, client_id: int, posting: Posting, reason: str) -> None:
        """Hold the top-up ``posting`` of the event being planned for review, not posted."""
        self.holds.append((len(self.rows), client_id, posting, reason))

    def posting(self, session_uuid: str | None, posting: Posting) -> None:
        """Post ``posting`` for the event being planned (and its session) when written."""
        self.postings.append((len(self.rows), session_uuid, posting))

    def accrue(self, client_id: int, kopecks: int, at: datetime) -> None:
        """Accrue bonus points for ``kopecks`` paid or topped up, if the rules give any."""
        rules = self.rules
        if rules.accrual(kopecks):

            def accrue(event_id: int, _session_id: int | None) -> None:
                bonus.accrue(client_id, rules, kopecks, at=at, event_id=event_id)

            self.defer(None, accrue)


def _clients(client_ids: set[int]) -> dict[int, tuple[bool, Discount | None]]:
    """Which of these clients exist: whether each is deleted, and its personal discount if it
    has one. Their rows stay locked for the batch: what it reads of their money and points is
    what it writes on (another stand's batch naming one of them waits)."""
    ids = sorted(i for i in client_ids if i < 2**31)
    if not ids:
        return {}
    rows = Client.select(
        Client.id, Client.deleted_at, Client.discount_percent, Client.discount_kopecks
    ).where(any_of(Client.id, ids))
    if is_postgresql():  # held to the commit, in id order (``cloud.db.lock_rows``)
        rows = rows.order_by(Client.id).for_update()
    return {
        client_id: (deleted_at is not None, Discount(percent, fixed) if percent or fixed else None)
        for client_id, deleted_at, percent, fixed in tuples(rows)
    }


def _subjects(
    stand_id: int, topups: set[str], sessions: set[str]
) -> tuple[set[str], dict[str, str]]:
    """In one read: which of these top-ups are stored (from any stand), and the time each of
    these sessions' ``session.started`` from ``stand_id`` was sent with (the first stored)."""
    if not topups and not sessions:
        return set(), {}
    columns = (StandEvent.id, StandEvent.type, StandEvent.subject_uuid, StandEvent.occurred_at_raw)
    # A select per kind, each read by its index (an OR of them is a scan of the whole table).
    wanted = []
    if topups:
        wanted.append(
            StandEvent.select(*columns).where(
                (StandEvent.type == "topup.recorded") & any_of(StandEvent.subject_uuid, topups)
            )
        )
    if sessions:
        wanted.append(
            StandEvent.select(*columns).where(
                (StandEvent.type == "session.started")
                & (StandEvent.stand == stand_id)
                & any_of(StandEvent.subject_uuid, sessions)
            )
        )
    query: Any = reduce(operator.add, wanted)  # UNION ALL
    rows: list[tuple[int, str, str, str]] = sorted(query.tuples())
    applied: set[str] = set()
    starts: dict[str, str] = {}
    for _id, kind, uuid, raw in rows:
        if kind == "topup.recorded":
            applied.add(uuid)
        else:
            starts.setdefault(uuid, raw)
    return applied, starts
