"""Events: what a stand tells the central service happened at it (DESIGN.md, sync protocol).

Every event has the same envelope and a payload typed by ``type``::

    {"id": "<uuid>", "stand_id": 3, "seq": 17, "type": "session.ended",
     "occurred_at": "2024-06-10T06:13:20.123456Z", "boot_id": "<uuid>", "mono_ms": 5230114,
     "actor": "card", "directory_version": 1718000000000,
     "payload": {"session_uuid": "<uuid>", "duration_s": 630, "cost_kopecks": 11000,
                 "method": "card", "auto": false, "comment": "",
                 "points_spent": 50, "points_kopecks": 5000}}

``points_spent``/``points_kopecks`` (optional, both or neither) are the bonus points that paid
part of ``cost_kopecks``; the money charged is the rest.

``seq`` counts a stand's events from 1 with no gaps; ``occurred_at`` is the stand's wall
clock, ``boot_id`` and ``mono_ms`` its monotonic clock within one boot (for correcting a wrong
wall clock); ``actor`` is a staff id (digits), ``card`` or ``qr`` (a customer's tap) or
``auto`` (the stand itself, e.g. a forgotten session ended); ``directory_version`` is the
directory the decision was made with (0: none loaded).

A client is referred to by ``client_id`` (known centrally) or ``client_uuid`` (registered at
this stand and not yet known centrally): exactly one of the two is set. The payload of each
type is listed in :data:`PAYLOAD_READERS`, which reads it into its dataclass of
``sync.payloads`` (``Event.data``); unknown keys are dropped. ``Event.payload`` is the JSON
form, as the stand built it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sync.cards import CARD_UID
from sync.directory import QR_TOKEN_ID
from sync.document import Fields, format_utc
from sync.errors import RuleError
from sync.lengths import MAX_COMMENT, MAX_NAME
from sync.payloads import (
    CardLinked,
    ClientRegistered,
    CommandRefused,
    CommentAdded,
    EventPayload,
    GuestRegistered,
    SessionEnded,
    SessionStarted,
    ShiftClosed,
    ShiftOpened,
    TapRefused,
    TopupRecorded,
)
from sync.payloads import Payload as Payload  # the edge builds payloads in this JSON form
from sync.phones import normalise_phone
from sync.plates import normalise_plate
from sync.shifts import MAX_DRAWER_KOPECKS

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ACTOR = re.compile(r"[1-9][0-9]{0,17}|card|qr|auto")
# "dashboard": started by the central service's start_session command (sync.directorypage).
START_METHODS = ("card", "qr", "screen", "dashboard")
END_METHODS = ("card", "qr", "screen", "dashboard", "auto")
CLIENT_KINDS = ("member", "guest")
PAYMENT_METHODS = ("cash", "card", "transfer")
CREDENTIAL_KINDS = ("card", "plate", "qr")
# Why a tap or scan was refused.
REFUSALS = (
    "unknown",
    "lost",
    "blocked",
    "forged",
    "revoked",
    "overdraft",
    "insufficient_funds",
    "open_elsewhere",
    "stale_directory",
    "no_tariff",
    "daily_limit",
    "post_busy",
    "too_soon_to_end",
)
# Codes older stands send and today's no longer do, accepted all the same: "overdraft" (a member
# without money, before "insufficient_funds" and sync.funds).
RETIRED_REFUSALS = ("overdraft",)
# Why a command was not carried out: a refusal, or the client's session already open here.
COMMAND_REFUSALS = (*REFUSALS, "already_open")
MAX_CREDENTIAL_TEXT = 512  # a scanned QR text is kept whole up to the token size limit
_DOCUMENT = "Событие"


@dataclass(frozen=True)
class Event:
    """A checked event: the envelope's fields and the typed payload ``data`` (one of
    ``sync.payloads``); ``payload`` is its JSON form."""

    id: str
    stand_id: int
    seq: int
    type: str
    occurred_at: datetime
    boot_id: str
    mono_ms: int
    actor: str
    directory_version: int
    data: EventPayload

    @property
    def payload(self) -> Payload:
        """The payload's JSON form, as sent (a fresh dictionary at each call)."""
        return self.data.to_dict()

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``validate_event`` reads it back to an equal Event)."""
        return {
            "id": self.id,
            "stand_id": self.stand_id,
            "seq": self.seq,
            "type": self.type,
            "occurred_at": format_utc(self.occurred_at),
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "actor": self.actor,
            "directory_version": self.directory_version,
            "payload": self.payload,
        }


def _client_ref(f: Fields) -> tuple[int | None, str | None]:
    """``client_id`` and ``client_uuid``: exactly one of them set."""
    client_id = f.optional_integer("client_id", 1)
    client_uuid = f.optional_text("client_uuid", 36, UUID)
    if (client_id is None) == (client_uuid is None):
        raise f.fail("client_id", "нужен ровно один из client_id и client_uuid")
    return client_id, client_uuid


def _started_with(f: Fields) -> tuple[str | None, str | None]:
    """The credential a session was started with: a card UID, a normalised plate or a QR
    token id, or both null (not known: a screen start, or a stand older than these keys)."""
    if not f.has("credential_kind") and not f.has("credential_value"):
        return None, None
    kind = f.choice("credential_kind", CREDENTIAL_KINDS)
    if kind == "card":
        value = f.text("credential_value", 64, CARD_UID)
    elif kind == "qr":
        value = f.text("credential_value", 32, QR_TOKEN_ID)
    else:
        value = f.text("credential_value", 20)
        _normalised(f, "credential_value", [value], normalise_plate)
    return kind, value


def _session_started(f: Fields) -> SessionStarted:
    session_uuid = f.text("session_uuid", 36, UUID)
    client_id, client_uuid = _client_ref(f)
    tariff_version_id = f.integer("tariff_version_id", 1)
    client_kind = f.choice("client_kind", CLIENT_KINDS)
    method = f.choice("method", START_METHODS)
    credential_kind, credential_value = _started_with(f)
    return SessionStarted(
        session_uuid=session_uuid,
        client_id=client_id,
        client_uuid=client_uuid,
        tariff_version_id=tariff_version_id,
        client_kind=client_kind,
        method=method,
        credential_kind=credential_kind,
        credential_value=credential_value,
    )


def _session_ended(f: Fields) -> SessionEnded:
    method = f.choice("method", END_METHODS)
    auto = f.flag("auto")
    if auto != (method == "auto"):
        raise f.fail("auto", "true тогда и только тогда, когда method = auto")
    session_uuid = f.text("session_uuid", 36, UUID)
    duration_s = f.integer("duration_s", 0)
    cost_kopecks = f.integer("cost_kopecks", 0)
    comment = f.text("comment", MAX_COMMENT)
    points_spent, points_kopecks = _points_spent(f, cost_kopecks)
    return SessionEnded(
        session_uuid=session_uuid,
        duration_s=duration_s,
        cost_kopecks=cost_kopecks,
        method=method,
        auto=auto,
        comment=comment,
        points_spent=points_spent,
        points_kopecks=points_kopecks,
    )


def _points_spent(f: Fields, cost: int) -> tuple[int, int]:
    """The optional bonus points paid towards the cost (``sync.bonus``): ``points_spent``
    points worth ``points_kopecks`` of it; both absent (older stands) or both positive."""
    points = f.integer("points_spent", 0) if f.has("points_spent") else 0
    covered = f.integer("points_kopecks", 0) if f.has("points_kopecks") else 0
    if (points == 0) != (covered == 0):
        raise f.fail("points_kopecks", "задаётся вместе с points_spent")
    if covered > cost:
        raise f.fail("points_kopecks", "не больше cost_kopecks")
    return points, covered


def _topup_recorded(f: Fields) -> TopupRecorded:
    topup_uuid = f.text("topup_uuid", 36, UUID)
    client_id, client_uuid = _client_ref(f)
    return TopupRecorded(
        topup_uuid=topup_uuid,
        client_id=client_id,
        client_uuid=client_uuid,
        amount_kopecks=f.integer("amount_kopecks", 1),
        method=f.choice("method", PAYMENT_METHODS),
    )


def _comment_added(f: Fields) -> CommentAdded:
    comment_uuid = f.text("comment_uuid", 36, UUID)
    client_id, client_uuid = _client_ref(f)
    return CommentAdded(
        comment_uuid=comment_uuid,
        client_id=client_id,
        client_uuid=client_uuid,
        session_uuid=f.optional_text("session_uuid", 36, UUID),
        text=f.text("text", MAX_COMMENT, empty=False),
    )


def _normalised(f: Fields, key: str, values: list[str], normalise: Callable[[str], str]) -> None:
    for value in values:
        try:
            normal = normalise(value)
        except RuleError:
            normal = ""
        if normal != value:
            raise f.fail(key, f"«{value}» не в нормальной форме")


def _guest_registered(f: Fields) -> GuestRegistered:
    plate = f.text("plate", 20)
    _normalised(f, "plate", [plate], normalise_plate)
    return GuestRegistered(client_uuid=f.text("client_uuid", 36, UUID), plate=plate)


def _client_registered(f: Fields) -> ClientRegistered:
    phones = f.texts("phones", 20)
    plates = f.texts("plates", 20)
    _normalised(f, "phones", phones, normalise_phone)
    _normalised(f, "plates", plates, normalise_plate)
    return ClientRegistered(
        client_uuid=f.text("client_uuid", 36, UUID),
        name=f.text("name", MAX_NAME, empty=False),
        phones=tuple(phones),
        plates=tuple(plates),
        cards=tuple(f.texts("cards", 64, CARD_UID)),
        guest_client_id=f.optional_integer("guest_client_id", 1),
        guest_client_uuid=f.optional_text("guest_client_uuid", 36, UUID),
    )


def _card_linked(f: Fields) -> CardLinked:
    client_id, client_uuid = _client_ref(f)
    return CardLinked(client_id=client_id, client_uuid=client_uuid, uid=f.text("uid", 64, CARD_UID))


def _tap_refused(f: Fields) -> TapRefused:
    return TapRefused(
        credential_kind=f.choice("credential_kind", CREDENTIAL_KINDS),
        credential_value=f.text("credential_value", MAX_CREDENTIAL_TEXT),
        reason=f.choice("reason", REFUSALS),
        client_id=f.optional_integer("client_id", 1),
    )


def _drawer(f: Fields, key: str) -> int:
    """Cash in a drawer: whole kopecks, 0 to ``sync.shifts.MAX_DRAWER_KOPECKS``."""
    kopecks = f.integer(key, 0)
    if kopecks > MAX_DRAWER_KOPECKS:
        raise f.fail(key, f"не больше {MAX_DRAWER_KOPECKS}")
    return kopecks


def _shift_opened(f: Fields) -> ShiftOpened:
    return ShiftOpened(
        shift_uuid=f.text("shift_uuid", 36, UUID), cash_kopecks=_drawer(f, "cash_kopecks")
    )


def _shift_closed(f: Fields) -> ShiftClosed:
    return ShiftClosed(
        shift_uuid=f.text("shift_uuid", 36, UUID), counted_kopecks=_drawer(f, "counted_kopecks")
    )


def _command_refused(f: Fields) -> CommandRefused:
    return CommandRefused(
        command_id=f.integer("command_id", 1),
        session_uuid=f.text("session_uuid", 36, UUID),
        reason=f.choice("reason", COMMAND_REFUSALS),
    )


# The event types, each with the reader that checks its payload and builds its typed form:
# the one registry of event types (the central service has an applier for each, a test
# walks both).
PAYLOAD_READERS: dict[str, Callable[[Fields], EventPayload]] = {
    "session.started": _session_started,
    "session.ended": _session_ended,
    "topup.recorded": _topup_recorded,
    "comment.added": _comment_added,
    "guest.registered": _guest_registered,
    "client.registered": _client_registered,
    "card.linked": _card_linked,
    "tap.refused": _tap_refused,
    # Newer stands only: an older stand never sends them, so adding them breaks none.
    "shift.opened": _shift_opened,
    "shift.closed": _shift_closed,
    "command.refused": _command_refused,
}
EVENT_TYPES = tuple(PAYLOAD_READERS)


def validate_event(obj: object) -> Event:
    """Check a parsed JSON event and return it typed, its payload reduced to the known keys;
    RuleError(code "bad_event") naming the first bad field otherwise."""
    f = Fields(obj, _DOCUMENT, code="bad_event")
    event_type = f.choice("type", EVENT_TYPES)
    return Event(
        id=f.text("id", 36, UUID),
        stand_id=f.integer("stand_id", 1),
        seq=f.integer("seq", 1),
        type=event_type,
        occurred_at=f.moment("occurred_at"),
        boot_id=f.text("boot_id", 36, UUID),
        mono_ms=f.integer("mono_ms", 0),
        actor=f.text("actor", 18, ACTOR),
        directory_version=f.integer("directory_version", 0),
        data=PAYLOAD_READERS[event_type](f.nested("payload")),
    )
