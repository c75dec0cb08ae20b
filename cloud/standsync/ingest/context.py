"""The shape of an applier (``Applier``) and what an event of a rare kind is applied with
(``Applying``). The table of appliers, one per event type, is ``appliers.APPLIERS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import Client, Stand, StandEvent, User
from cloud.standsync.ingest.lookups import (
    ClientRef,
    client_by_uuid,
    deleted_note,
    unknown_client,
)
from cloud.standsync.ingest.outcomes import with_flag
from cloud.standsync.ingest.plan import Plan, Row
from sync.events import Event

P = TypeVar("P")


@dataclass
class Applying:
    """An event of a rare kind being applied on its own: its ``StandEvent`` row is stored
    already, the applier sets its client and flags and writes the effect."""

    stand: Stand
    event: Event
    row: StandEvent
    at: datetime  # corrected time
    staff: User | None
    rules: PointsRules = bonus.OFF

    def flag(self, flag: str, note: str) -> None:
        self.row.flag, self.row.flag_note = with_flag(self.row.flag, self.row.flag_note, flag, note)

    def live_client(self, p: ClientRef) -> Client | None:
        """``client``, or None for a deleted one: the event is flagged ``deleted_client`` and
        its applier does nothing more."""
        client = self.client(p)
        if client.deleted_at is None:
            return client
        self.flag("deleted_client", deleted_note(client.id))
        return None

    def client(self, p: ClientRef) -> Client:
        """The client the payload names (now the event's client); refused when unknown."""
        if p.client_id is not None:
            client = Client.get_or_none(Client.id == p.client_id) if p.client_id < 2**31 else None
        else:
            client = client_by_uuid(p.client_uuid or "")
        if client is None:
            raise unknown_client(p)
        self.row.client = client
        return client


@dataclass(frozen=True)
class Applier(Generic[P]):
    """What the central service does with events of one type whose payload is a ``P``.

    Exactly one of ``plan`` and ``apply`` is set. ``plan`` (the common kinds: sessions,
    top-ups, refused taps) works the event out into a ``Plan`` and its planned row, written
    with the rest of the run; it raises ``Refused`` before planning anything of an event to
    refuse. ``apply`` (the rare kinds) applies the event on its own, in a savepoint."""

    subject: Callable[[P], str | None] | None = None  # StandEvent.subject_uuid
    check: Callable[[P], None] | None = None  # limits the schema allows; raises Refused
    plan: Callable[[Plan, P, Row], None] | None = None
    apply: Callable[[Applying, P], None] | None = None


AnyApplier = Applier[Any]
