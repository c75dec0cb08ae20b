"""The typed payload of each event type (``sync.events``): what a stand says happened, as the
central service reads it.

``sync.events.validate_event`` builds them from the JSON (checking every field);
``to_dict()`` gives back the JSON form, key for key and in the same order, so the wire
format is the payload dictionaries of DESIGN.md's sync protocol. Lists of the JSON are
tuples here (a payload is immutable)::

    ended = SessionEnded(session_uuid=uuid, duration_s=630, cost_kopecks=11000,
                         method="card", auto=False, comment="")
    ended.to_dict()["cost_kopecks"]  # 11000

A client is referred to by ``client_id`` (known centrally) or ``client_uuid`` (registered at
the stand and not yet known centrally): exactly one of the two is set.
"""

from dataclasses import dataclass, fields

Payload = dict[str, object]  # the JSON form of a payload


def _json(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(kind: type) -> tuple[str, ...]:
    """A payload dataclass's field names in declaration order (read once: a stand's batch
    stores hundreds of payloads)."""
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


@dataclass(frozen=True)
class _Fields:
    """``to_dict`` of a payload dataclass: its fields in declaration order."""

    def to_dict(self) -> Payload:
        """The JSON form (``validate_event`` reads it back to an equal payload)."""
        return {name: _json(getattr(self, name)) for name in _names(type(self))}


@dataclass(frozen=True)
class SessionStarted(_Fields):
    """``session.started``: a session began at the stand. ``credential_kind`` and
    ``credential_value`` are the card UID, normalised plate or QR token id it was started
    with, both ``None`` when not known (a screen start, or an older stand)."""

    session_uuid: str
    client_id: int | None
    client_uuid: str | None
    tariff_version_id: int
    client_kind: str  # sync.events.CLIENT_KINDS
    method: str  # sync.events.START_METHODS
    credential_kind: str | None
    credential_value: str | None


@dataclass(frozen=True)
class SessionEnded(_Fields):
    """``session.ended``: the stand charged ``cost_kopecks`` for ``duration_s`` seconds.
    ``points_spent`` bonus points worth ``points_kopecks`` paid part of the cost (both 0, and
    left out of the JSON, when none did); the money charged is the rest."""

    session_uuid: str
    duration_s: int
    cost_kopecks: int
    method: str  # sync.events.END_METHODS
    auto: bool  # ended by the stand itself (method "auto")
    comment: str
    points_spent: int = 0
    points_kopecks: int = 0

    def to_dict(self) -> Payload:
        """The JSON form; the points keys only when points were spent."""
        answer = super().to_dict()
        if not self.points_spent:
            del answer["points_spent"], answer["points_kopecks"]
        return answer


@dataclass(frozen=True)
class TopupRecorded(_Fields):
    """``topup.recorded``: an attendant took ``amount_kopecks`` for the client's balance."""

    topup_uuid: str
    client_id: int | None
    client_uuid: str | None
    amount_kopecks: int
    method: str  # sync.events.PAYMENT_METHODS


@dataclass(frozen=True)
class CommentAdded(_Fields):
    """``comment.added``: a staff member's comment on a client, on one of their sessions if
    ``session_uuid`` is set."""

    comment_uuid: str
    client_id: int | None
    client_uuid: str | None
    session_uuid: str | None
    text: str


@dataclass(frozen=True)
class GuestRegistered(_Fields):
    """``guest.registered``: a car's plate (normalised) became a guest client."""

    client_uuid: str
    plate: str


@dataclass(frozen=True)
class ClientRegistered(_Fields):
    """``client.registered``: a member joined, with normalised phones and plates and card
    UIDs; ``guest_client_id`` or ``guest_client_uuid`` name the guest who became this
    member, if any (their history stays theirs)."""

    client_uuid: str
    name: str
    phones: tuple[str, ...]
    plates: tuple[str, ...]
    cards: tuple[str, ...]
    guest_client_id: int | None
    guest_client_uuid: str | None


@dataclass(frozen=True)
class CardLinked(_Fields):
    """``card.linked``: a card UID was given to a client."""

    client_id: int | None
    client_uuid: str | None
    uid: str


@dataclass(frozen=True)
class TapRefused(_Fields):
    """``tap.refused``: a card or QR code (or a plate) was refused for ``reason``
    (sync.events.REFUSALS); ``client_id`` is the client it belonged to, when known."""

    credential_kind: str  # sync.events.CREDENTIAL_KINDS
    credential_value: str
    reason: str
    client_id: int | None


@dataclass(frozen=True)
class ShiftOpened(_Fields):
    """``shift.opened``: an attendant (the event's actor) began a shift at the stand with
    ``cash_kopecks`` in the drawer. Their top-ups at the stand from this event on, until its
    ``shift.closed``, are the shift's (counted by ``seq``, whatever the clocks say)."""

    shift_uuid: str
    cash_kopecks: int


@dataclass(frozen=True)
class ShiftClosed(_Fields):
    """``shift.closed``: the attendant counted ``counted_kopecks`` in the drawer and closed
    the shift ``shift_uuid``."""

    shift_uuid: str
    counted_kopecks: int


@dataclass(frozen=True)
class CommandRefused(_Fields):
    """``command.refused``: the stand did not carry out the central service's command
    ``command_id`` (a ``start_session``: the session ``session_uuid`` was not started) for
    ``reason``, a code of sync.events.REFUSALS or "already_open"."""

    command_id: int
    session_uuid: str
    reason: str


EventPayload = (
    SessionStarted
    | SessionEnded
    | TopupRecorded
    | CommentAdded
    | GuestRegistered
    | ClientRegistered
    | CardLinked
    | TapRefused
    | ShiftOpened
    | ShiftClosed
    | CommandRefused
)
