"""Applying a stand's batch of events (DESIGN.md, sync protocol): exactly-once effect from
at-least-once delivery.

A batch is applied in one transaction, in the order sent, which must be ``seq`` order:

- an event already stored with the same stand, ``seq`` and id is a duplicate: acknowledged
  again, not reapplied;
- an event whose ``seq`` is past the next expected one is a gap: refused from there on;
- a stored ``seq`` with a different id (or a known id under another ``seq``) is a conflict the
  stand must not paper over: refused, nothing from it on applied;
- an event that does not validate, names another stand, or refers to what this service does
  not know (a client, tariff version or session) is refused with the reason.

Events before a refused one are applied and acknowledged (``acked_seq``); a refused one leaves
no trace. Every applied event is stored in ``StandEvent`` with its raw and corrected time.

How (for the rate, bench/sync_ingest.py): the whole batch is checked first (schema, stand,
duplicates, conflicts and gaps against one read of the stored seqs and ids of the batch).
Sessions, top-ups and refused taps, nearly all of a stand's events, are then worked out in
memory in runs (``_Run``) against what a few queries read for the whole run, and a run is
written with one insert per table, one update per ended session and one balance update for
all its clients; an event to refuse is found before anything of it is written. The rare kinds
(registrations, card links, comments) are applied one by one, each in its own savepoint.

What an event does when the state here says it should not (recorded, flagged, no effect):

- ``session.ended`` for a session that has already ended — e.g. an end resent with a new id and
  seq after an offline period and a reboot (libocpp #907) — charges nothing and changes nothing
  (flag ``session_already_ended``); a ``session.started`` for a known session uuid never
  reopens or changes it (lbbrhzn/ocpp #2135; flag ``session_exists``).
- The charge is what the stand told the customer (``cost_kopecks``): the stand acknowledged it
  to a person. The session is re-priced here with the shared pricing code; a difference is kept
  in ``Session.repriced_cost_kopecks`` with ``price_mismatch`` set, for a person to look at.
  A free session (cost 0) posts no ledger entry.
- A comment given with ``session.ended`` is kept on the session and, like ``comment.added``,
  in the client's comment history (``Comment``, with the stand and the staff member).
- ``topup.recorded`` and ``comment.added`` whose uuid was already applied (resent under a new
  id) have no second effect (flags ``duplicate_topup``, ``duplicate_comment``).
- ``guest.registered`` with a plate an existing guest holds (two stands registering one car
  offline) attaches the stand's client uuid to that guest (flag ``linked_existing_guest``); a
  plate held by a member leaves the new guest without the plate (flag ``plate_conflict``).
- ``client.registered`` and ``card.linked`` with a card or plate another client holds link
  everything else and skip that credential (flag ``credential_conflict``).
- A ledger entry made from an event references it (unique), so no event moves money twice.
- ``session.ended`` whose session, started with a card that has a daily limit, took that card's
  spend on the session's day over the limit is applied as usual (the stand let it finish) and
  flagged: ``Session.over_daily_limit`` and the event's flag ``over_daily_limit``
  (``cloud.clients.corporate``, ``sync.limits``).

Time (DESIGN.md, Time): ``occurred_at`` is stored as sent and corrected. An event of the
current boot with a sane clock (year ≥ 2020) gets the skew measured at this request added; of
the boot measured at the previous request, the skew measured then; a sane time from an older
boot is kept as sent. A time from before the clock was set (e.g. 1970, SteVe #136) is corrected
from the monotonic clock when the event is of the current boot: ``server now − (current
mono_ms − event mono_ms)``; otherwise the time of receipt stands in (``time_source``
``received``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud import changes
from cloud.clients import corporate
from cloud.db import db_proxy, insert_rows, is_postgresql, update_rows
from cloud.errors import DomainError
from cloud.ledger.service import MAX_AMOUNT_KOPECKS, Posting, post_entries
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import (
    Client,
    ClientPhone,
    Comment,
    Credential,
    Session,
    Stand,
    StandEvent,
    TariffVersion,
    User,
)
from cloud.standsync import commands
from cloud.standsync.standauth import record_contact
from sync.errors import RuleError
from sync.events import Event, validate_event
from sync.pricing import NO_DISCOUNT, Discount, price

MAX_BATCH = 500
SANE_YEAR = 2020
_BIG = 2**62  # seq, mono_ms and directory versions must fit a BIGINT
_MAX_DURATION_S = 7 * 24 * 3600
_REGISTRATIONS = ("guest.registered", "client.registered")
_SUBJECT_KEYS = {
    "session.started": "session_uuid",
    "session.ended": "session_uuid",
    "topup.recorded": "topup_uuid",
    "comment.added": "comment_uuid",
    "guest.registered": "client_uuid",
    "client.registered": "client_uuid",
}


class Refused(DomainError):
    """An event this service cannot apply; the batch stops at it."""

    status = 422
    code = "refused"


@dataclass(frozen=True)
class StandClock:
    """The stand's clocks as one request reported them, and what was known before it."""

    now: datetime  # server time of the request
    stand_time: datetime  # X-Stand-Clock
    boot_id: str | None = None  # X-Stand-Boot
    mono_ms: int | None = None  # X-Stand-Mono-Ms
    previous_boot_id: str | None = None  # the boot measured at the stand's previous request
    previous_skew_ms: int | None = None

    @property
    def skew(self) -> timedelta:
        return self.now - self.stand_time

    @property
    def sane(self) -> bool:
        return self.stand_time.year >= SANE_YEAR


@dataclass(frozen=True)
class Refusal:
    seq: int | None
    code: str
    message: str
    status: int
    expected_seq: int | None = None  # a gap: the seq this service waits for

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"seq": self.seq, "code": self.code, "message": self.message}
        if self.expected_seq is not None:
            answer["expected_seq"] = self.expected_seq
        return answer


@dataclass(frozen=True)
class BatchResult:
    acked_seq: int
    refused: Refusal | None = None


def corrected_time(event: Event, clock: StandClock) -> tuple[datetime, str]:
    """The event's time on the server's clock and how it was found (module docstring)."""
    try:
        if event.occurred_at.year >= SANE_YEAR:
            raw = event.occurred_at.astimezone(clock.now.tzinfo)
            if clock.sane and clock.boot_id in (None, event.boot_id):
                return raw + clock.skew, "clock"
            if event.boot_id == clock.previous_boot_id and clock.previous_skew_ms is not None:
                return raw + timedelta(milliseconds=clock.previous_skew_ms), "clock"
            return raw, "raw"
        if (
            event.boot_id == clock.boot_id
            and clock.mono_ms is not None
            and event.mono_ms <= clock.mono_ms
        ):
            return clock.now - timedelta(milliseconds=clock.mono_ms - event.mono_ms), "mono"
    except OverflowError:  # a clock centuries off: the time of receipt is the best there is
        return clock.now, "received"
    return clock.now, "received"


def _check_ranges(event: Event) -> None:
    """Numbers the schema allows but the database or common sense does not."""
    p = event.payload
    if max(event.seq, event.mono_ms, event.directory_version) >= _BIG:
        raise Refused(_("Событие: слишком большое число в seq, mono_ms или версии"), "bad_event")
    for key in ("cost_kopecks", "amount_kopecks"):
        value = p.get(key)
        if isinstance(value, int) and value > MAX_AMOUNT_KOPECKS:
            raise Refused(_("Событие: слишком большая сумма (%(key)s)", key=key), "bad_event")
    duration = p.get("duration_s")
    if isinstance(duration, int) and duration > _MAX_DURATION_S:
        raise Refused(_("Событие: слишком большая длительность сеанса"), "bad_event")


@dataclass
class _Applying:
    stand: Stand
    event: Event
    row: StandEvent
    at: datetime  # corrected time
    staff: User | None
    rules: PointsRules = bonus.OFF

    @property
    def p(self) -> dict[str, Any]:
        return self.event.payload

    def flag(self, flag: str, note: str) -> None:
        self.row.flag, self.row.flag_note = _with_flag(
            self.row.flag, self.row.flag_note, flag, note
        )


def _staff(actor: str) -> User | None:
    if not actor.isdigit() or int(actor) > 2**31 - 1:
        return None
    return User.get_or_none(User.id == int(actor))


def _clients_by_uuid(uuids: Iterable[str]) -> dict[str, int]:
    """The client id of each uuid a stand registered a client under (see ``client_by_uuid``);
    unknown uuids are left out."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    found: dict[str, int] = dict(
        Client.select(Client.uuid, Client.id).where(Client.uuid.in_(wanted)).tuples()
    )
    missing = [uuid for uuid in wanted if uuid not in found]
    if missing:
        registrations = (
            StandEvent.select(StandEvent.subject_uuid, StandEvent.client)
            .where(
                StandEvent.subject_uuid.in_(missing)
                & StandEvent.type.in_(_REGISTRATIONS)
                & StandEvent.client.is_null(False)
            )
            .order_by(StandEvent.id)
            .tuples()
        )
        for uuid, client_id in registrations:
            found.setdefault(uuid, client_id)
    return found


def client_by_uuid(uuid: str) -> Client | None:
    """The client a stand registered under ``uuid``: the one with that uuid, or the existing
    client the registration was attached to."""
    client_id = _clients_by_uuid([uuid]).get(uuid)
    return Client.get_by_id(client_id) if client_id is not None else None


def _client(a: _Applying) -> Client:
    client_id, client_uuid = a.p["client_id"], a.p["client_uuid"]
    if client_id is not None:
        client = Client.get_or_none(Client.id == client_id) if client_id < 2**31 else None
    else:
        client = client_by_uuid(client_uuid)
    if client is None:
        raise _unknown_client(a.p)
    a.row.client = client
    return client


def _unknown_client(p: dict[str, Any]) -> Refused:
    ref = p["client_id"] or p["client_uuid"]
    return Refused(_("Клиент %(ref)s неизвестен", ref=ref), "unknown_client")


def _with_flag(flag: str, notes: str, new_flag: str, note: str) -> tuple[str, str]:
    """An event's flag and note after flagging it ``new_flag``: the first flag stays."""
    return flag or new_flag, f"{notes}\n{note}".strip()


def _existing_ids(model: type[pw.Model], ids: set[int]) -> set[int]:
    if not ids:
        return set()
    query = model.select(model.id).where(model.id.in_(sorted(ids))).tuples()
    return {row_id for (row_id,) in query}


class _Run:
    """Events of the common kinds (``_RUN_KINDS``) in a row, applied together.

    ``plan`` works out each event's effect in memory, against what ``__init__`` read for the
    whole run and what the events before it in the run did, and stops at an event to refuse;
    ``write`` then stores the planned events with a few statements per table."""

    def __init__(
        self,
        stand: Stand,
        clock: StandClock,
        events: list[tuple[Event, Any]],
        rules: PointsRules = bonus.OFF,
    ) -> None:
        self.stand = stand
        self.clock = clock
        self.rules = rules
        # (row index, session uuid or None, what to do): bonus points, applied one by one in
        # event order after the money postings (cloud/bonus.py).
        self.points: list[tuple[int, str | None, dict[str, Any]]] = []
        self.rows: list[dict[str, Any]] = []  # StandEvent rows, in order
        self.new_sessions: dict[str, Session] = {}  # started in this run (not stored yet)
        self.ended: list[Session] = []  # stored sessions this run ends
        self.completed: list[tuple[Session, datetime]] = []  # their pending commands done
        # (row index, session uuid or None, posting without its event and session ids)
        self.postings: list[tuple[int, str | None, Posting]] = []
        # (session uuid, Comment row without its session id): comments given at an end
        self.comments: list[tuple[str, dict[str, Any]]] = []
        payloads = [(event.type, event.payload) for event, _raw in events]
        actors = {int(e.actor) for e, _r in events if e.actor.isdigit() and int(e.actor) < 2**31}
        self.staff_ids = _existing_ids(User, actors)
        self.client_ids = _existing_ids(
            Client,
            {p["client_id"] for _t, p in payloads if (p.get("client_id") or _BIG) < 2**31},
        )
        self.uuid_clients = _clients_by_uuid(
            p["client_uuid"] for _t, p in payloads if p.get("client_uuid") is not None
        )
        session_uuids = sorted({p["session_uuid"] for t, p in payloads if t in _SESSION_KINDS})
        self.sessions: dict[str, Session] = (
            {s.uuid: s for s in Session.select().where(Session.uuid.in_(session_uuids))}
            if session_uuids
            else {}
        )
        version_ids = {p["tariff_version_id"] for t, p in payloads if t == "session.started"}
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
        topups = sorted({p["topup_uuid"] for t, p in payloads if t == "topup.recorded"})
        self.applied_topups: set[str] = (
            {
                uuid
                for (uuid,) in StandEvent.select(StandEvent.subject_uuid)
                .where((StandEvent.type == "topup.recorded") & StandEvent.subject_uuid.in_(topups))
                .tuples()
            }
            if topups
            else set()
        )
        open_here = [
            s.id for s in self.sessions.values() if s.ended_at is None and s.stand_id == stand.id
        ]
        self.commanded = commands.pending_session_ids(open_here)
        self.discounts = _discounts(
            self.client_ids
            | set(self.uuid_clients.values())
            | {s.client_id for s in self.sessions.values()}
        )

    def plan(self, events: list[tuple[Event, Any]]) -> Refusal | None:
        """Plan the events in order; the refusal of the first that cannot be applied."""
        for event, raw in events:
            row = event_row(self.stand, event, raw, self.clock)
            try:
                _PLAN[event.type](self, event.payload, row)
            except (DomainError, RuleError) as error:
                return Refusal(event.seq, error.code, error.message, 422)
            self.rows.append(row)
        return None

    def _staff_id(self, actor: str) -> int | None:
        return int(actor) if actor.isdigit() and int(actor) in self.staff_ids else None

    def _client_id(self, p: dict[str, Any]) -> int:
        client_id = p["client_id"]
        found = (
            (client_id if client_id in self.client_ids else None)
            if client_id is not None
            else self.uuid_clients.get(p["client_uuid"])
        )
        if found is None:
            raise _unknown_client(p)
        return found

    def _session(self, uuid: str) -> Session | None:
        new = self.new_sessions.get(uuid)
        return new if new is not None else self.sessions.get(uuid)

    def session_started(self, p: dict[str, Any], row: dict[str, Any]) -> None:
        existing = self._session(p["session_uuid"])
        if existing is not None:
            row["client"] = existing.client_id
            state = _("завершён") if existing.ended_at is not None else _("идёт")
            note = _("Сеанс уже есть (%(state)s): не изменён", state=state)
            row["flag"], row["flag_note"] = _with_flag(
                row["flag"], row["flag_note"], "session_exists", note
            )
            return
        client_id = self._client_id(p)
        version_id = p["tariff_version_id"]
        if version_id not in self.versions:
            raise Refused(
                _("Версия тарифа %(id)s неизвестна", id=version_id), "unknown_tariff_version"
            )
        row["client"] = client_id
        self.new_sessions[p["session_uuid"]] = Session(
            uuid=p["session_uuid"],
            client=client_id,
            stand=self.stand.id,
            site=self.stand.site_id,
            tariff_version=version_id,
            client_kind=p["client_kind"],
            started_at=row["occurred_at"],
            ended_at=None,
            duration_s=None,
            cost_kopecks=None,
            start_method=p["method"],
            end_method=None,
            started_by=self._staff_id(row["actor"]),
            ended_by=None,
            comment="",
            repriced_cost_kopecks=None,
            price_mismatch=False,
            credential_kind=p["credential_kind"],
            credential_value=p["credential_value"],
            over_daily_limit=False,
        )

    def session_ended(self, p: dict[str, Any], row: dict[str, Any]) -> None:
        session = self._session(p["session_uuid"])
        if session is None or session.stand_id != self.stand.id:
            raise Refused(
                _("Сеанс %(uuid)s этого поста неизвестен", uuid=p["session_uuid"]),
                "unknown_session",
            )
        row["client"] = session.client_id
        cost = p["cost_kopecks"]
        if session.ended_at is not None:
            note = _(
                "Сеанс уже завершён (списано %(old)s коп.); повторное завершение на %(new)s коп. "
                "не списано",
                old=session.cost_kopecks,
                new=cost,
            )
            row["flag"], row["flag_note"] = _with_flag(
                row["flag"], row["flag_note"], "session_already_ended", note
            )
            return
        version = self.versions[session.tariff_version_id]
        discount = self.discounts.get(session.client_id, NO_DISCOUNT)
        repriced = price(version.rates(), session.client_kind, p["duration_s"], discount)
        at = row["occurred_at"]
        session.ended_at = at
        session.duration_s = p["duration_s"]
        session.cost_kopecks = cost
        session.end_method = p["method"]
        session.ended_by = self._staff_id(row["actor"])
        session.repriced_cost_kopecks = repriced
        session.price_mismatch = repriced != cost
        if p["comment"]:
            session.comment = p["comment"]
            self.comments.append((session.uuid, _end_comment(session, self.stand, at)))
        if session.uuid not in self.new_sessions:
            self.ended.append(session)
            if session.id in self.commanded:
                self.completed.append((session, at))
        if session.price_mismatch:
            note = _(
                "Пост списал %(cost)s коп., по тарифу %(repriced)s коп.",
                cost=cost,
                repriced=repriced,
            )
            row["flag"], row["flag_note"] = _with_flag(
                row["flag"], row["flag_note"], "price_mismatch", note
            )
        points = p.get("points_spent", 0)
        if points:  # the charge waits for the points' check (write)
            action = {"spend": points, "covered": p["points_kopecks"], "cost": cost, "at": at}
            self.points.append((len(self.rows), session.uuid, {**action, "session": session}))
            return
        if cost > 0:
            posting = Posting(
                client_id=session.client_id,
                kind="charge",
                amount_kopecks=-cost,
                site_id=self.stand.site_id,
                created_by_id=session.ended_by_id,
                created_at=at,
            )
            self.postings.append((len(self.rows), session.uuid, posting))
            if self.rules.accrual_on == "charge":
                self._accrue(session.client_id, cost, at)

    def _accrue(self, client_id: int, kopecks: int, at: datetime) -> None:
        if self.rules.accrual(kopecks):
            action = {"accrue": kopecks, "client_id": client_id, "at": at}
            self.points.append((len(self.rows), None, action))

    def topup_recorded(self, p: dict[str, Any], row: dict[str, Any]) -> None:
        client_id = self._client_id(p)
        row["client"] = client_id
        if p["topup_uuid"] in self.applied_topups:
            note = _("Это пополнение уже учтено: повторно не зачислено")
            row["flag"], row["flag_note"] = _with_flag(
                row["flag"], row["flag_note"], "duplicate_topup", note
            )
            return
        self.applied_topups.add(p["topup_uuid"])
        posting = Posting(
            client_id=client_id,
            kind="topup",
            amount_kopecks=p["amount_kopecks"],
            method=p["method"],
            site_id=self.stand.site_id,
            created_by_id=self._staff_id(row["actor"]),
            created_at=row["occurred_at"],
        )
        self.postings.append((len(self.rows), None, posting))
        if self.rules.accrual_on == "topup":
            self._accrue(client_id, p["amount_kopecks"], row["occurred_at"])

    def tap_refused(self, p: dict[str, Any], row: dict[str, Any]) -> None:
        """Stored only: the refusals are read from the events table."""

    def write(self) -> None:
        """Store the planned events and their effects."""
        if not self.rows:
            return
        new = list(self.new_sessions.values())
        session_ids = _inserted(
            Session, [{name: s.__data__[name] for name in _SESSION_COLUMNS} for s in new], "uuid"
        )
        update_rows(
            Session,
            [{name: s.__data__[name] for name in ("id", *_END_COLUMNS)} for s in self.ended],
        )
        for session, at in self.completed:
            commands.complete_for_session(session, at)
        event_ids = _inserted(StandEvent, self.rows, "event_uuid")
        ended = [s.uuid for s in [*self.ended, *new] if s.ended_at is not None]
        corporate.flag_over_daily_limit(ended)
        for session in self.sessions.values():
            session_ids.setdefault(session.uuid, session.id)
        if self.comments:
            insert_rows(
                Comment, [{**row, "session": session_ids[uuid]} for uuid, row in self.comments]
            )
        if self.postings:
            post_entries(
                [
                    replace(
                        posting,
                        event_id=event_ids[self.rows[index]["event_uuid"]],
                        session_id=session_ids[uuid] if uuid is not None else None,
                    )
                    for index, uuid, posting in self.postings
                ]
            )
        for index, uuid, action in self.points:
            event_id = event_ids[self.rows[index]["event_uuid"]]
            if "accrue" in action:
                bonus.accrue(
                    action["client_id"],
                    self.rules,
                    action["accrue"],
                    at=action["at"],
                    event_id=event_id,
                )
            else:
                assert uuid is not None
                self._spend_points(action, event_id, session_ids[uuid], index)

    def _spend_points(
        self, action: dict[str, Any], event_id: int, session_id: int, index: int
    ) -> None:
        """A session paid partly with points: the points the central balance covers, the rest
        of the cost in money (flagged ``points_short`` when the stand's points fell short)."""
        session: Session = action["session"]
        spent = bonus.spend_for_session(
            session.client_id,
            self.rules,
            wanted=action["spend"],
            wanted_kopecks=action["covered"],
            started_at=session.started_at,
            now=action["at"],
            event_id=event_id,
            session_id=session_id,
            site_id=self.stand.site_id,
        )
        money = action["cost"] - spent.kopecks
        if money > 0:
            post_entries(
                [
                    Posting(
                        client_id=session.client_id,
                        kind="charge",
                        amount_kopecks=-money,
                        site_id=self.stand.site_id,
                        created_by_id=session.ended_by_id,
                        created_at=action["at"],
                        event_id=event_id,
                        session_id=session_id,
                    )
                ]
            )
            if self.rules.accrual_on == "charge":
                bonus.accrue(
                    session.client_id, self.rules, money, at=action["at"], event_id=event_id
                )
        if spent.short_of(action["spend"]):
            note = _(
                "Баллов не хватило: списано %(spent)s из %(wanted)s, остаток %(money)s коп. — "
                "деньгами",
                spent=spent.points,
                wanted=action["spend"],
                money=action["covered"] - spent.kopecks,
            )
            row = StandEvent.get_by_id(event_id)
            row.flag, row.flag_note = _with_flag(row.flag, row.flag_note, "points_short", note)
            row.save()


def _discounts(client_ids: set[int]) -> dict[int, Discount]:
    """The personal discounts of those of these clients who have one."""
    ids = sorted(i for i in client_ids if i < 2**31)
    if not ids:
        return {}
    has_one = (Client.discount_percent != 0) | (Client.discount_kopecks != 0)
    rows = (
        Client.select(Client.id, Client.discount_percent, Client.discount_kopecks)
        .where(Client.id.in_(ids) & has_one)
        .tuples()
    )
    return {client_id: Discount(percent, fixed) for client_id, percent, fixed in rows}


def _end_comment(session: Session, stand: Stand, at: datetime) -> dict[str, Any]:
    """The ``Comment`` row (but its session id) of a comment given when a session ended at the
    stand or from the dashboard: the client's comment history shows it with its session."""
    return {
        "client": session.client_id,
        "author": session.ended_by_id,
        "stand": stand.id,
        "text": session.comment,
        "created_at": at,
    }


def _inserted(model: type[pw.Model], rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """Insert the rows; the id of each by its value of ``key`` (a unique field)."""
    if not rows:
        return {}
    returned = insert_rows(model, rows, returning=(key, "id"))
    if not returned:  # an SQLite without RETURNING: read them back
        field = model._meta.fields[key]
        query = model.select(field, model.id).where(field.in_([row[key] for row in rows]))
        returned = list(query.tuples())
    return dict(returned)


_PLAN: dict[str, Callable[[_Run, dict[str, Any], dict[str, Any]], None]] = {
    "session.started": _Run.session_started,
    "session.ended": _Run.session_ended,
    "topup.recorded": _Run.topup_recorded,
    "tap.refused": _Run.tap_refused,
}
_RUN_KINDS = frozenset(_PLAN)
_SESSION_KINDS = ("session.started", "session.ended")
_END_COLUMNS = (
    "ended_at",
    "duration_s",
    "cost_kopecks",
    "end_method",
    "ended_by",
    "repriced_cost_kopecks",
    "price_mismatch",
    "comment",
)
_SESSION_COLUMNS = (
    "uuid",
    "client",
    "stand",
    "site",
    "tariff_version",
    "client_kind",
    "started_at",
    "start_method",
    "started_by",
    "credential_kind",
    "credential_value",
    "over_daily_limit",
    *_END_COLUMNS,
)


def _already_applied(a: _Applying) -> bool:
    """Whether an earlier event of this type carried the same subject uuid."""
    return bool(
        StandEvent.select()
        .where(
            (StandEvent.type == a.event.type)
            & (StandEvent.subject_uuid == a.row.subject_uuid)
            & (StandEvent.id != a.row.id)
        )
        .exists()
    )


def _comment_added(a: _Applying) -> None:
    client = _client(a)
    if _already_applied(a):
        a.flag("duplicate_comment", _("Этот комментарий уже сохранён"))
        return
    session = None
    if a.p["session_uuid"] is not None:
        session = Session.get_or_none(Session.uuid == a.p["session_uuid"])
        if session is None or session.client_id != client.id:
            a.flag("unknown_session", _("Сеанс комментария не найден: комментарий к клиенту"))
            session = None
    Comment.create(
        client=client,
        session=session,
        author=a.staff,
        stand=a.stand,
        text=a.p["text"],
        created_at=a.at,
    )


def _active_credential(kind: str, value: str) -> Credential | None:
    return Credential.get_or_none(
        (Credential.kind == kind) & (Credential.value == value) & Credential.unlinked_at.is_null()
    )


def _link(a: _Applying, client: Client, kind: str, value: str) -> None:
    """Link a card or plate; one held by another client is skipped and flagged."""
    held = _active_credential(kind, value)
    if held is None:
        linked = Credential.create(client=client, kind=kind, value=value, created_at=a.at)
        changes.record_change(changes.CREDENTIAL, [linked.id])
    elif held.client_id != client.id:
        a.flag(
            "credential_conflict",
            _("%(value)s уже у клиента №%(id)s: не привязан", value=value, id=held.client_id),
        )


def _registered_before(a: _Applying) -> bool:
    existing = client_by_uuid(a.p["client_uuid"])
    if existing is None:
        return False
    a.row.client = existing
    a.flag("duplicate_registration", _("Клиент уже зарегистрирован: без изменений"))
    return True


def _guest_registered(a: _Applying) -> None:
    if _registered_before(a):
        return
    plate = a.p["plate"]
    held = _active_credential("plate", plate)
    holder = Client.get_by_id(held.client_id) if held is not None else None
    if holder is not None and holder.kind == "guest" and holder.deleted_at is None:
        if holder.uuid is None:
            Client.update(uuid=a.p["client_uuid"]).where(Client.id == holder.id).execute()
        a.row.client = holder
        changes.record_change(changes.CLIENT, [holder.id])  # its uuids now include this one
        a.flag("linked_existing_guest", _("Номер %(plate)s уже у гостя: это он", plate=plate))
        return
    guest = Client.create(
        kind="guest",
        uuid=a.p["client_uuid"],
        home_site=a.stand.site_id,
        created_by=a.staff,
        created_at=a.at,
    )
    a.row.client = guest
    changes.record_change(changes.CLIENT, [guest.id])
    if holder is not None:
        a.flag(
            "plate_conflict",
            _("Номер %(plate)s уже у клиента №%(id)s: гость без номера", plate=plate, id=holder.id),
        )
    else:
        linked = Credential.create(client=guest, kind="plate", value=plate, created_at=a.at)
        changes.record_change(changes.CREDENTIAL, [linked.id])


def _former_guest(a: _Applying) -> Client | None:
    guest_id, guest_uuid = a.p["guest_client_id"], a.p["guest_client_uuid"]
    if guest_id is not None:
        return Client.get_or_none(Client.id == guest_id) if guest_id < 2**31 else None
    if guest_uuid is not None:
        return client_by_uuid(guest_uuid)
    return None


def _client_registered(a: _Applying) -> None:
    if _registered_before(a):
        return
    client = _former_guest(a)
    if client is None and (a.p["guest_client_id"] or a.p["guest_client_uuid"]):
        a.flag("unknown_guest", _("Гость, ставший участником, не найден: новый клиент"))
    if client is None:
        client = Client.create(
            kind="member",
            uuid=a.p["client_uuid"],
            name=a.p["name"],
            home_site=a.stand.site_id,
            member_since=a.at,
            created_by=a.staff,
            created_at=a.at,
        )
    elif client.kind == "guest":
        client.kind = "member"
        client.name = a.p["name"]
        client.member_since = a.at
        client.updated_at = a.at
        client.uuid = client.uuid or a.p["client_uuid"]
        client.save()
    else:
        a.flag("already_member", _("Клиент №%(id)s уже участник клуба", id=client.id))
    a.row.client = client
    bonus.welcome(client, a.rules, at=a.at, event=a.row)
    changes.record_change(changes.CLIENT, [client.id])
    known = {row.phone for row in ClientPhone.select().where(ClientPhone.client == client.id)}
    for position, phone in enumerate(a.p["phones"], start=len(known)):
        if phone not in known:
            ClientPhone.create(client=client, phone=phone, position=position)
            known.add(phone)
    for plate in a.p["plates"]:
        _link(a, client, "plate", plate)
    for uid in a.p["cards"]:
        _link(a, client, "card", uid)


def _card_linked(a: _Applying) -> None:
    _link(a, _client(a), "card", a.p["uid"])


APPLY: dict[str, Callable[[_Applying], None]] = {
    "comment.added": _comment_added,
    "guest.registered": _guest_registered,
    "client.registered": _client_registered,
    "card.linked": _card_linked,
}


def event_row(stand: Stand, event: Event, raw: dict[str, Any], clock: StandClock) -> dict[str, Any]:
    """The ``StandEvent`` row of an event, not flagged and tied to no client yet."""
    at, source = corrected_time(event, clock)
    key = _SUBJECT_KEYS.get(event.type)
    return {
        "stand": stand.id,
        "seq": event.seq,
        "event_uuid": event.id,
        "type": event.type,
        "occurred_at_raw": str(raw["occurred_at"]),
        "occurred_at": at,
        "time_source": source,
        "boot_id": event.boot_id,
        "mono_ms": event.mono_ms,
        "actor": event.actor,
        "directory_version": event.directory_version,
        "payload": json.dumps(event.payload, ensure_ascii=False),
        "subject_uuid": event.payload.get(key) if key else None,
        "client": None,
        "flag": "",
        "flag_note": "",
        "received_at": clock.now,
    }


def _apply_one(
    stand: Stand, event: Event, raw: dict[str, Any], clock: StandClock, rules: PointsRules
) -> None:
    """Apply an event of a rare kind on its own (the caller's savepoint undoes a refused one)."""
    row = StandEvent.create(**event_row(stand, event, raw, clock))
    applying = _Applying(stand, event, row, row.occurred_at, _staff(event.actor), rules)
    APPLY[event.type](applying)
    if applying.row.is_dirty():
        applying.row.save()


def _apply_events(
    stand: Stand,
    fresh: list[tuple[Event, Any]],
    clock: StandClock,
    acked: int,
    rules: PointsRules,
) -> tuple[int, Refusal | None]:
    """Apply the checked new events in order: runs of the common kinds together, the others
    one by one. Returns the last seq applied and the refusal that stopped it, if any."""
    index = 0
    while index < len(fresh):
        event, raw = fresh[index]
        if event.type not in _RUN_KINDS:
            try:
                with db_proxy.atomic():
                    _apply_one(stand, event, raw, clock, rules)
            except (DomainError, RuleError) as error:
                return acked, Refusal(event.seq, error.code, error.message, 422)
            acked = event.seq
            index += 1
            continue
        end = index
        while end < len(fresh) and fresh[end][0].type in _RUN_KINDS:
            end += 1
        events = fresh[index:end]
        run = _Run(stand, clock, events, rules)
        refusal = run.plan(events)
        run.write()
        if run.rows:
            acked = run.rows[-1]["seq"]
        if refusal is not None:
            return acked, refusal
        index = end
    return acked, None


def last_seq(stand: Stand) -> int:
    """The highest seq applied from ``stand`` (0: none): everything up to it is acknowledged."""
    top = StandEvent.select(pw.fn.MAX(StandEvent.seq)).where(StandEvent.stand == stand.id).scalar()
    return int(top or 0)


def _raw_seq(raw: object) -> int | None:
    seq = raw.get("seq") if isinstance(raw, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _raw_id(raw: object) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _batch_transaction() -> Any:
    """One transaction per batch; batches of one stand never interleave (a stand retrying
    while its earlier request is still being applied waits for it)."""
    if is_postgresql():
        return db_proxy.atomic()
    return db_proxy.atomic(lock_type="IMMEDIATE")


def _apply_batch(
    stand: Stand, envelopes: list[Any], clock: StandClock, rules: PointsRules
) -> BatchResult:
    with _batch_transaction():
        # The contact first: it locks the stand's row (PostgreSQL) for the batch, and shares
        # the batch's commit (one commit a request, not two: bench/sync_ingest.py).
        try:
            record_contact(stand, clock.stand_time, clock.boot_id, clock.now)
        except OverflowError:
            raise Refused(_("X-Stand-Clock: время вне допустимого"), "bad_clock", 400) from None
        changes.hold_positions()  # before any write: the batch records directory changes
        acked, by_seq, known_ids = _stored(stand, envelopes)
        fresh, stop = _new_events(stand, envelopes, acked, by_seq, known_ids)
        acked, refusal = _apply_events(stand, fresh, clock, acked, rules)
        return BatchResult(acked, refusal or stop)


def _stored(stand: Stand, envelopes: list[Any]) -> tuple[int, dict[int, str], set[str]]:
    """What is stored of the batch, in one query: the stand's last seq (``last_seq``), the
    event id under each of the batch's seqs (this stand's), and which of its ids are stored
    under any seq or stand."""
    seqs = [s for s in map(_raw_seq, envelopes) if s is not None and 0 < s < _BIG]
    ids = [i for i in map(_raw_id, envelopes) if i is not None]
    if seqs and max(seqs) - min(seqs) < 2 * MAX_BATCH:  # the usual run of seqs: a range
        in_batch = StandEvent.seq.between(min(seqs), max(seqs))
    else:
        in_batch = StandEvent.seq.in_(seqs or [0])
    query = StandEvent.select(StandEvent.stand, StandEvent.seq, StandEvent.event_uuid).where(
        ((StandEvent.stand == stand.id) & in_batch) | StandEvent.event_uuid.in_(ids or [""])
    )
    # The last seq in the same round trip: the one row without an event id.
    top = StandEvent.select(
        pw.Value(stand.id), pw.fn.MAX(StandEvent.seq), pw.Value(None).cast("VARCHAR")
    ).where(StandEvent.stand == stand.id)
    last = 0
    by_seq: dict[int, str] = {}
    known_ids: set[str] = set()
    for stand_id, seq, event_uuid in (query + top).tuples():
        if event_uuid is None:
            last = int(seq or 0)
        elif stand_id == stand.id:
            by_seq[seq] = event_uuid
            known_ids.add(event_uuid)
        else:
            known_ids.add(event_uuid)
    return last, by_seq, known_ids


def _new_events(
    stand: Stand,
    envelopes: list[Any],
    acked: int,
    by_seq: dict[int, str],
    known_ids: set[str],
) -> tuple[list[tuple[Event, Any]], Refusal | None]:
    """The events to apply, in order, up to the first that is refused before applying (bad,
    another stand's, a conflict or a gap), and that refusal. Duplicates are left out."""
    fresh: list[tuple[Event, Any]] = []
    expected = acked + 1
    for raw in envelopes:
        try:
            event = validate_event(raw)
            _check_ranges(event)
        except (RuleError, Refused) as error:
            return fresh, Refusal(_raw_seq(raw), error.code, error.message, 422)
        if event.stand_id != stand.id:
            message = _("Событие другого поста (stand_id %(id)s)", id=event.stand_id)
            return fresh, Refusal(event.seq, "wrong_stand", message, 422)
        stored = by_seq.get(event.seq)
        if stored == event.id:
            continue
        if stored is not None:
            message = _(
                "Номер %(seq)s уже занят другим событием: пост не должен переиспользовать seq",
                seq=event.seq,
            )
            return fresh, Refusal(event.seq, "seq_conflict", message, 409)
        if event.id in known_ids:
            message = _("Событие %(id)s уже принято под другим номером", id=event.id)
            return fresh, Refusal(event.seq, "event_id_conflict", message, 409)
        if event.seq != expected:
            message = _(
                "Пропуск в номерах: ожидалось событие %(next)s, пришло %(seq)s",
                next=expected,
                seq=event.seq,
            )
            return fresh, Refusal(event.seq, "gap", message, 409, expected_seq=expected)
        fresh.append((event, raw))
        expected += 1
        by_seq[event.seq] = event.id
        known_ids.add(event.id)
    return fresh, None


def apply_batch(
    stand: Stand, envelopes: list[Any], clock: StandClock, rules: PointsRules = bonus.OFF
) -> BatchResult:
    """Apply ``envelopes`` (parsed JSON events) from the authenticated ``stand``.

    Two requests of one stand racing past the lock (a unique index catching the second) are
    resolved by applying the batch again: the events the first stored are duplicates then."""
    if len(envelopes) > MAX_BATCH:
        raise Refused(_("Не больше %(n)s событий в пакете", n=MAX_BATCH), "batch_too_large", 400)
    try:
        return _apply_batch(stand, envelopes, clock, rules)
    except pw.IntegrityError:
        return _apply_batch(stand, envelopes, clock, rules)
