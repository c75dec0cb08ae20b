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

Events before a refused one are applied and acknowledged (``acked_seq``); each event is applied
inside its own savepoint so a refused one leaves no trace. Every applied event is stored in
``StandEvent`` with its raw and corrected time.

What an event does when the state here says it should not (recorded, flagged, no effect):

- ``session.ended`` for a session that has already ended — e.g. an end resent with a new id and
  seq after an offline period and a reboot (libocpp #907) — charges nothing and changes nothing
  (flag ``session_already_ended``); a ``session.started`` for a known session uuid never
  reopens or changes it (lbbrhzn/ocpp #2135; flag ``session_exists``).
- The charge is what the stand told the customer (``cost_kopecks``): the stand acknowledged it
  to a person. The session is re-priced here with the shared pricing code; a difference is kept
  in ``Session.repriced_cost_kopecks`` with ``price_mismatch`` set, for a person to look at.
  A free session (cost 0) posts no ledger entry.
- ``topup.recorded`` and ``comment.added`` whose uuid was already applied (resent under a new
  id) have no second effect (flags ``duplicate_topup``, ``duplicate_comment``).
- ``guest.registered`` with a plate an existing guest holds (two stands registering one car
  offline) attaches the stand's client uuid to that guest (flag ``linked_existing_guest``); a
  plate held by a member leaves the new guest without the plate (flag ``plate_conflict``).
- ``client.registered`` and ``card.linked`` with a card or plate another client holds link
  everything else and skip that credential (flag ``credential_conflict``).
- A ledger entry made from an event references it (unique), so no event moves money twice.

Time (DESIGN.md, Time): ``occurred_at`` is stored as sent and corrected. An event of the
current boot with a sane clock (year ≥ 2020) gets the skew measured at this request added; of
the boot measured at the previous request, the skew measured then; a sane time from an older
boot is kept as sent. A time from before the clock was set (e.g. 1970, SteVe #136) is corrected
from the monotonic clock when the event is of the current boot: ``server now − (current
mono_ms − event mono_ms)``; otherwise the time of receipt stands in (``time_source``
``received``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud import changes, commands
from cloud.db import db_proxy, is_postgresql
from cloud.errors import DomainError
from cloud.ledger import MAX_AMOUNT_KOPECKS, post_entry
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
from sync.errors import RuleError
from sync.events import Event, validate_event
from sync.pricing import price

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

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "code": self.code, "message": self.message}


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

    @property
    def p(self) -> dict[str, Any]:
        return self.event.payload

    def flag(self, flag: str, note: str) -> None:
        if not self.row.flag:
            self.row.flag = flag
        self.row.flag_note = f"{self.row.flag_note}\n{note}".strip()


def _staff(actor: str) -> User | None:
    if not actor.isdigit() or int(actor) > 2**31 - 1:
        return None
    return User.get_or_none(User.id == int(actor))


def client_by_uuid(uuid: str) -> Client | None:
    """The client a stand registered under ``uuid``: the one with that uuid, or the existing
    client the registration was attached to."""
    client = Client.get_or_none(Client.uuid == uuid)
    if client is not None:
        return client
    registration = (
        StandEvent.select(StandEvent.client)
        .where(
            (StandEvent.subject_uuid == uuid)
            & StandEvent.type.in_(_REGISTRATIONS)
            & StandEvent.client.is_null(False)
        )
        .first()
    )
    return Client.get_by_id(registration.client_id) if registration else None


def _client(a: _Applying) -> Client:
    client_id, client_uuid = a.p["client_id"], a.p["client_uuid"]
    if client_id is not None:
        client = Client.get_or_none(Client.id == client_id) if client_id < 2**31 else None
    else:
        client = client_by_uuid(client_uuid)
    if client is None:
        raise Refused(
            _("Клиент %(ref)s неизвестен", ref=client_id or client_uuid), "unknown_client"
        )
    a.row.client = client
    return client


def _session_started(a: _Applying) -> None:
    existing = Session.get_or_none(Session.uuid == a.p["session_uuid"])
    if existing is not None:
        a.row.client = existing.client_id
        state = _("завершён") if existing.ended_at is not None else _("идёт")
        a.flag("session_exists", _("Сеанс уже есть (%(state)s): не изменён", state=state))
        return
    client = _client(a)
    version_id = a.p["tariff_version_id"]
    version = (
        TariffVersion.get_or_none(TariffVersion.id == version_id) if version_id < 2**31 else None
    )
    if version is None:
        raise Refused(_("Версия тарифа %(id)s неизвестна", id=version_id), "unknown_tariff_version")
    Session.create(
        uuid=a.p["session_uuid"],
        client=client,
        stand=a.stand,
        site=a.stand.site_id,
        tariff_version=version,
        client_kind=a.p["client_kind"],
        started_at=a.at,
        start_method=a.p["method"],
        started_by=a.staff,
    )


def _session_ended(a: _Applying) -> None:
    session = Session.get_or_none(
        (Session.uuid == a.p["session_uuid"]) & (Session.stand == a.stand.id)
    )
    if session is None:
        raise Refused(
            _("Сеанс %(uuid)s этого поста неизвестен", uuid=a.p["session_uuid"]),
            "unknown_session",
        )
    a.row.client = session.client_id
    cost = a.p["cost_kopecks"]
    if session.ended_at is not None:
        a.flag(
            "session_already_ended",
            _(
                "Сеанс уже завершён (списано %(old)s коп.); повторное завершение на %(new)s коп. "
                "не списано",
                old=session.cost_kopecks,
                new=cost,
            ),
        )
        return
    version = TariffVersion.get_by_id(session.tariff_version_id)
    repriced = price(version.rates(), session.client_kind, a.p["duration_s"])
    session.ended_at = a.at
    session.duration_s = a.p["duration_s"]
    session.cost_kopecks = cost
    session.end_method = a.p["method"]
    session.ended_by = a.staff
    session.repriced_cost_kopecks = repriced
    session.price_mismatch = repriced != cost
    if a.p["comment"]:
        session.comment = a.p["comment"]
    session.save()
    commands.complete_for_session(session, a.at)
    if session.price_mismatch:
        a.flag(
            "price_mismatch",
            _(
                "Пост списал %(cost)s коп., по тарифу %(repriced)s коп.",
                cost=cost,
                repriced=repriced,
            ),
        )
    if cost > 0:
        post_entry(
            Client.get_by_id(session.client_id),
            "charge",
            -cost,
            session=session,
            site=a.stand.site_id,
            created_by=a.staff,
            event=a.row,
            created_at=a.at,
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


def _topup_recorded(a: _Applying) -> None:
    client = _client(a)
    if _already_applied(a):
        a.flag("duplicate_topup", _("Это пополнение уже учтено: повторно не зачислено"))
        return
    post_entry(
        client,
        "topup",
        a.p["amount_kopecks"],
        method=a.p["method"],
        site=a.stand.site_id,
        created_by=a.staff,
        event=a.row,
        created_at=a.at,
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
        client=client, session=session, author=a.staff, text=a.p["text"], created_at=a.at
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


def _tap_refused(a: _Applying) -> None:
    """Stored only: the refusals are read from the events table."""


APPLY: dict[str, Callable[[_Applying], None]] = {
    "session.started": _session_started,
    "session.ended": _session_ended,
    "topup.recorded": _topup_recorded,
    "comment.added": _comment_added,
    "guest.registered": _guest_registered,
    "client.registered": _client_registered,
    "card.linked": _card_linked,
    "tap.refused": _tap_refused,
}


def _apply(stand: Stand, event: Event, raw: dict[str, Any], clock: StandClock) -> None:
    at, source = corrected_time(event, clock)
    key = _SUBJECT_KEYS.get(event.type)
    row = StandEvent.create(
        stand=stand,
        seq=event.seq,
        event_uuid=event.id,
        type=event.type,
        occurred_at_raw=str(raw["occurred_at"]),
        occurred_at=at,
        time_source=source,
        boot_id=event.boot_id,
        mono_ms=event.mono_ms,
        actor=event.actor,
        directory_version=event.directory_version,
        payload=json.dumps(event.payload, ensure_ascii=False),
        subject_uuid=event.payload.get(key) if key else None,
        received_at=clock.now,
    )
    applying = _Applying(stand, event, row, at, _staff(event.actor))
    APPLY[event.type](applying)
    if applying.row.is_dirty():
        applying.row.save()


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


def _apply_batch(stand: Stand, envelopes: list[Any], clock: StandClock) -> BatchResult:
    with _batch_transaction():
        if is_postgresql():
            Stand.select(Stand.id).where(Stand.id == stand.id).for_update().execute()
        changes.hold_positions()  # before any write: the batch records directory changes
        acked = last_seq(stand)
        seqs = [s for s in map(_raw_seq, envelopes) if s is not None and s < _BIG]
        ids = [i for i in map(_raw_id, envelopes) if i is not None]
        by_seq = {
            row.seq: row.event_uuid
            for row in StandEvent.select(StandEvent.seq, StandEvent.event_uuid).where(
                (StandEvent.stand == stand.id) & StandEvent.seq.in_(seqs or [0])
            )
        }
        known_ids = {
            row.event_uuid
            for row in StandEvent.select(StandEvent.event_uuid).where(
                StandEvent.event_uuid.in_(ids or [""])
            )
        }
        for raw in envelopes:
            try:
                event = validate_event(raw)
                _check_ranges(event)
            except (RuleError, Refused) as error:
                return BatchResult(acked, Refusal(_raw_seq(raw), error.code, error.message, 422))
            if event.stand_id != stand.id:
                message = _("Событие другого поста (stand_id %(id)s)", id=event.stand_id)
                return BatchResult(acked, Refusal(event.seq, "wrong_stand", message, 422))
            stored = by_seq.get(event.seq)
            if stored == event.id:
                continue
            if stored is not None:
                message = _(
                    "Номер %(seq)s уже занят другим событием: пост не должен переиспользовать seq",
                    seq=event.seq,
                )
                return BatchResult(acked, Refusal(event.seq, "seq_conflict", message, 409))
            if event.id in known_ids:
                message = _("Событие %(id)s уже принято под другим номером", id=event.id)
                return BatchResult(acked, Refusal(event.seq, "event_id_conflict", message, 409))
            if event.seq != acked + 1:
                message = _(
                    "Пропуск в номерах: ожидалось событие %(next)s, пришло %(seq)s",
                    next=acked + 1,
                    seq=event.seq,
                )
                return BatchResult(acked, Refusal(event.seq, "gap", message, 409))
            try:
                with db_proxy.atomic():
                    _apply(stand, event, raw, clock)
            except (DomainError, RuleError) as error:
                return BatchResult(acked, Refusal(event.seq, error.code, error.message, 422))
            acked = event.seq
            by_seq[event.seq] = event.id
            known_ids.add(event.id)
        return BatchResult(acked)


def apply_batch(stand: Stand, envelopes: list[Any], clock: StandClock) -> BatchResult:
    """Apply ``envelopes`` (parsed JSON events) from the authenticated ``stand``.

    Two requests of one stand racing past the lock (a unique index catching the second) are
    resolved by applying the batch again: the events the first stored are duplicates then."""
    if len(envelopes) > MAX_BATCH:
        raise Refused(_("Не больше %(n)s событий в пакете", n=MAX_BATCH), "batch_too_large", 400)
    try:
        return _apply_batch(stand, envelopes, clock)
    except pw.IntegrityError:
        return _apply_batch(stand, envelopes, clock)
