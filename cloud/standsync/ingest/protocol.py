"""The sync protocol's central half (DESIGN.md, sync protocol): a stand's batch of events
applied in one transaction, in the order sent, which must be ``seq`` order.

- an event already stored with the same stand, ``seq`` and id is a duplicate: acknowledged
  again, not reapplied;
- an event whose ``seq`` is past the next expected one is a gap: refused from there on;
- a stored ``seq`` with a different id (or a known id under another ``seq``) is a conflict the
  stand must not paper over: refused, nothing from it on applied;
- an event that does not validate, names another stand, or refers to what this service does
  not know (a client, tariff version or session) is refused with the reason.

Events before a refused one are applied and acknowledged (``acked_seq``); a refused one leaves
no trace. Every applied event is stored in ``StandEvent`` with its raw and corrected time
(``clock``). What each type does is its applier's (``appliers``); a ledger entry made from an
event references it (unique), so no event moves money twice.

How (for the rate, bench/sync_ingest.py): the whole batch is checked first (schema, stand,
duplicates, conflicts and gaps against one read of the stored seqs and ids of the batch).
Sessions, top-ups and refused taps, nearly all of a stand's events, are then applied in runs
(``run``); the rare kinds (registrations, card links, comments) one by one, each in its own
savepoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.config import CloudConfig
from cloud.db import any_of, db_proxy, is_postgresql, lock_rows
from cloud.errors import DomainError
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import Stand, StandEvent
from cloud.standsync.ingest.appliers import APPLIERS, RUN_KINDS
from cloud.standsync.ingest.clock import StandClock
from cloud.standsync.ingest.context import Applying
from cloud.standsync.ingest.limits import DEFAULT_LIMITS, Limits
from cloud.standsync.ingest.lookups import staff, unknown_actor
from cloud.standsync.ingest.outcomes import Refusal, Refused
from cloud.standsync.ingest.rows import event_row
from cloud.standsync.ingest.run import apply_run
from cloud.standsync.standauth import record_contact
from sync.errors import RuleError
from sync.events import Event, validate_event

MAX_BATCH = 500
_BIG = 2**62  # seq, mono_ms and directory versions must fit a BIGINT


@dataclass(frozen=True)
class BatchResult:
    """The highest seq applied (everything up to it is acknowledged) and the refusal that
    stopped the batch, if any."""

    acked_seq: int
    refused: Refusal | None = None


def apply_batch(
    stand: Stand,
    envelopes: list[Any],
    clock: StandClock,
    rules: PointsRules = bonus.OFF,
    timezone: str = CloudConfig.timezone,
    limits: Limits = DEFAULT_LIMITS,
) -> BatchResult:
    """Apply ``envelopes`` (parsed JSON events) from the authenticated ``stand``; ``timezone``
    is the service's (a card's daily limit and a stand's top-up ceiling count its calendar
    days), ``limits`` what the stand is trusted with (``limits.Limits``).

    Two requests of one stand racing past the lock (a unique index catching the second) are
    resolved by applying the batch again: the events the first stored are duplicates then."""
    if len(envelopes) > MAX_BATCH:
        raise Refused(_("Не больше %(n)s событий в пакете", n=MAX_BATCH), "batch_too_large", 400)
    try:
        return _apply_batch(stand, envelopes, clock, rules, timezone, limits)
    except pw.IntegrityError:
        return _apply_batch(stand, envelopes, clock, rules, timezone, limits)


def last_seq(stand: Stand) -> int:
    """The highest seq applied from ``stand`` (0: none): everything up to it is acknowledged."""
    top = StandEvent.select(pw.fn.MAX(StandEvent.seq)).where(StandEvent.stand == stand.id).scalar()
    return int(top or 0)


def _batch_transaction() -> Any:
    """One transaction per batch; batches of one stand never interleave (a stand retrying
    while its earlier request is still being applied waits for it)."""
    if is_postgresql():
        return db_proxy.atomic()
    return db_proxy.atomic(lock_type="IMMEDIATE")


def _apply_batch(
    stand: Stand,
    envelopes: list[Any],
    clock: StandClock,
    rules: PointsRules,
    timezone: str,
    limits: Limits,
) -> BatchResult:
    with _batch_transaction():
        # The stand's batches, a retry beside its original and a force-close of its sessions
        # (cloud/sessions/forceclose.py) take turns on its row, each reading what the one
        # before it wrote. The contact shares the batch's commit (one commit a request).
        lock_rows(Stand, [stand.id])
        try:
            record_contact(stand, clock.stand_time, clock.boot_id, clock.now)
        except OverflowError:
            raise Refused(_("X-Stand-Clock: время вне допустимого"), "bad_clock", 400) from None
        acked, by_seq, known_ids = _stored(stand, envelopes)
        fresh, stop = _new_events(stand, envelopes, acked, by_seq, known_ids)
        acked, refusal = _apply_events(stand, fresh, clock, acked, rules, (timezone, limits))
        return BatchResult(acked, refusal or stop)


def _raw_seq(raw: object) -> int | None:
    seq = raw.get("seq") if isinstance(raw, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _raw_id(raw: object) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


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
    columns = (StandEvent.stand, StandEvent.seq, StandEvent.event_uuid)
    # Each condition its own select, so each reads its own index (an OR of them is read by a
    # scan of the whole table); a row both find comes twice, which changes nothing below.
    here = StandEvent.select(*columns).where((StandEvent.stand == stand.id) & in_batch)
    anywhere = StandEvent.select(*columns).where(any_of(StandEvent.event_uuid, ids or [""]))
    # The last seq in the same round trip: the one row without an event id.
    top = StandEvent.select(
        pw.Value(stand.id), pw.fn.MAX(StandEvent.seq), pw.Value(None).cast("VARCHAR")
    ).where(StandEvent.stand == stand.id)
    last = 0
    by_seq: dict[int, str] = {}
    known_ids: set[str] = set()
    for stand_id, seq, event_uuid in (here + anywhere + top).tuples():
        if event_uuid is None:
            last = int(seq or 0)
        elif stand_id == stand.id:
            by_seq[seq] = event_uuid
            known_ids.add(event_uuid)
        else:
            known_ids.add(event_uuid)
    return last, by_seq, known_ids


def _check_ranges(event: Event) -> None:
    """Numbers the schema allows but the database or common sense does not."""
    if max(event.seq, event.mono_ms, event.directory_version) >= _BIG:
        raise Refused(_("Событие: слишком большое число в seq, mono_ms или версии"), "bad_event")
    check = APPLIERS[event.type].check
    if check is not None:
        check(event.data)


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


def _apply_events(
    stand: Stand,
    fresh: list[tuple[Event, Any]],
    clock: StandClock,
    acked: int,
    rules: PointsRules,
    trust: tuple[str, Limits],
) -> tuple[int, Refusal | None]:
    """Apply the checked new events in order: runs of the common kinds together, the others
    one by one. Returns the last seq applied and the refusal that stopped it, if any."""
    index = 0
    while index < len(fresh):
        event, raw = fresh[index]
        if event.type not in RUN_KINDS:
            try:
                with db_proxy.atomic():
                    _apply_one(stand, event, raw, clock, rules, trust[1])
            except (DomainError, RuleError) as error:
                return acked, Refusal(event.seq, error.code, error.message, 422)
            acked = event.seq
            index += 1
            continue
        end = index
        while end < len(fresh) and fresh[end][0].type in RUN_KINDS:
            end += 1
        rows, refusal = apply_run(stand, clock, fresh[index:end], rules, *trust)
        if rows:
            acked = rows[-1]["seq"]
        if refusal is not None:
            return acked, refusal
        index = end
    return acked, None


def _apply_one(
    stand: Stand,
    event: Event,
    raw: dict[str, Any],
    clock: StandClock,
    rules: PointsRules,
    limits: Limits,
) -> None:
    """Apply an event of a rare kind on its own (the caller's savepoint undoes a refused one)."""
    row = StandEvent.create(**event_row(stand, event, raw, clock, limits))
    applying = Applying(
        stand,
        event,
        row,
        row.occurred_at,
        staff(stand.site_id, event.actor, limits.managers_everywhere),
        rules,
    )
    note = unknown_actor(event.actor)
    if note is not None and applying.staff is None:
        applying.flag("unknown_actor", note)
    apply = APPLIERS[event.type].apply
    assert apply is not None  # the rare kinds are applied one by one
    apply(applying, event.data)
    if applying.row.is_dirty():
        applying.row.save()
