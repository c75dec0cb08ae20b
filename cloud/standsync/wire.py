"""What the stands' API (``/sync/v1``, cloud/standsync/api.py) takes and answers, as pydantic
models: the API checks each request with them before anything else, and its OpenAPI document
(cloud/standsync/apidoc.py) is generated from them, so the document states exactly what the
code refuses (as cloud/fields.py does for ``/api/v1``).

An event's envelope is checked here; its ``payload`` by its type's reader in the shared contract
(``sync.events.validate_event``), which the stand runs too: a payload that breaks its type's
rules is the event refused (422 with ``refused``), as is an event of another stand or out of
sequence (409). The document says so in words; a schema of every payload would be a second
copy of the contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.fields import Moment, whole
from cloud.standsync.ingest import MAX_BATCH
from sync.events import ACTOR, EVENT_TYPES, UUID

# Numbers the database stores as 64-bit integers; seq, mono_ms and directory versions below
# 2**62 (cloud/standsync/ingest/protocol.py).
MAX_BIGINT = 2**63 - 1
MAX_SEQ = 2**62 - 1

UuidText = Annotated[str, Field(pattern=f"^{UUID.pattern}$", max_length=36)]
ActorText = Annotated[
    str,
    Field(
        pattern=f"^(?:{ACTOR.pattern})$",
        max_length=18,
        description="a staff id, or card, qr, auto",
    ),
]
EventType = Literal[EVENT_TYPES]  # the types sync/events.py reads
RowId = whole(1, MAX_BIGINT)
Seq = whole(1, MAX_SEQ)
Count = whole(0, MAX_SEQ)


class Strict(BaseModel):
    """Unknown keys are ignored (a newer stand may send more); a known one is checked."""

    model_config = ConfigDict(extra="ignore")


class EnrolBody(Strict):
    code: Annotated[str, Field(min_length=1, max_length=100, description="the enrolment code")]


class EnrolAnswer(Strict):
    stand_id: int
    site_id: int
    token: str


class StatusAnswer(Strict):
    stand_id: int
    site_id: int
    acked_seq: int
    server_time: Moment


class EventEnvelope(Strict):
    """One event as the stand wrote it (DESIGN.md, sync protocol)."""

    id: UuidText
    stand_id: RowId
    seq: Seq
    type: EventType
    occurred_at: Moment
    boot_id: UuidText
    mono_ms: Count
    actor: ActorText
    directory_version: Count
    payload: dict[str, Any] = Field(
        description="typed by ``type`` (sync/events.py); one that breaks its type's rules is "
        "the event refused (422)"
    )


class EventBatch(Strict):
    events: list[EventEnvelope] = Field(max_length=MAX_BATCH)


class Refused(Strict):
    seq: int | None
    code: str
    message: str
    expected_seq: int | None = None


class EventsAnswer(Strict):
    acked_seq: int
    server_time: Moment
    refused: Refused | None = None


class ServerTime(Strict):
    server_time: Moment


class DirectoryPageAnswer(Strict):
    """A directory page (sync/directorypage.py ``DirectoryPage``, whose validator the stand
    runs): its header here, its rows as the contract describes them."""

    cursor: int
    more: bool
    reset: bool
    site_id: int
    stand_id: int
    server_time: Moment
    qr_public_key_pem: str
    default_tariff_id: int | None
    points_value_kopecks: int
    upserts: dict[str, list[Any]]
    tombstones: dict[str, list[Any]]
    commands: list[dict[str, Any]]
    acked_seq: int | None = None


class WindowPageAnswer(Strict):
    """A window of protocol 2 or 3 (sync/directorywindow.py ``WindowPage``): the same for
    every stand; final once ``closed``; ``end`` below ``start``: beyond the newest position.
    Protocol 3's ``balances``: the compact balance-only changes, each ``[id, balance_kopecks,
    ledger_position, points_balance, open_session_stand_id]`` (sync/balances.py)."""

    protocol: Literal[2, 3]
    start: int
    end: int
    closed: bool
    upserts: dict[str, list[Any]]
    tombstones: dict[str, list[Any]]
    balances: list[Annotated[list[int | None], Field(min_length=5, max_length=5)]] | None = None


class DirectoryHeadAnswer(DirectoryPageAnswer):
    """A stand's head in protocol 2 or 3: a page with no shared rows, its site's clients'
    details."""

    protocol: Literal[2, 3]
    details: list[dict[str, Any]]
