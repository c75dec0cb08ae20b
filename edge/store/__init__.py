"""The stand's local database: a copy of the directory, the sessions and money taken here, and
the outbox of events for the central service (SQLite through peewee, WAL, synchronous=FULL).

:class:`Store` is the one owner of the tables: the engine, the screen, the sync agent
(through :class:`StoreAdapter`) and the command line read and write them only through its
methods. Each Store binds its own copy of the models to its own file (``edge.store.models``),
so two stores in one process never see each other's rows.

Every action writes its local effect and its event in one transaction (``Store.atomic``)
before any light or screen confirms it. Write transactions begin IMMEDIATE, so the engine,
the touchscreen and the sync agent (each on its own thread and connection) queue for the
write lock instead of failing half-way.

Event numbers: ``seq`` counts from 1 with no gaps and is never reset or reused. The next one
is kept in ``StoreMeta`` and moved in the same transaction as the event it numbers, so a
restart continues where the last commit left off and a rolled-back action leaves no hole.

Directory: a whole directory (a file, or the agent's walk from cursor 0) and a page of
changes go through one upsert path (``edge.store.directory``); the agent's cursor is stored
with the rows, in the same transaction.

Balances: ``balance_of(client)`` is the central balance the directory brought plus every
local entry (charge or top-up taken here) the central balance does not include yet; bonus
points (``points_of``) the same, from the directory's points balance and the points local
charges spent. A local entry is *settled* (no longer added) when a directory is loaded after
its event was acknowledged by the central service: the central service applies an event
before acknowledging it, so a directory fetched after the acknowledgment includes it. Until
then it counts, exactly once, whatever directories are loaded in between. A page carries
fresh balances only for the clients it upserts, so only their entries are settled.

Local clients: a guest or member registered at this stand is not in the directory until the
central service has applied its registration event. Until then it lives in ``LocalClient``
(with ``LocalCredential`` for its plates and cards), under a negative id that never collides
with a central one and a ``uuid`` its events name it by (``client_uuid``). ``client()`` and
``credential()`` find local clients after the directory's, and a directory load keeps them.
Once a directory brings the central client that one of the client's ``uuids`` names, the
local client is re-linked (``relink_local_clients``, in the transaction that stores the
directory): its sessions, entries and comments here move to the central id, its rows go,
and ``client()`` of its old negative id answers the central client (``RelinkedClient``).
Its events still waiting in the outbox keep naming it by uuid, which the central service
knows. One person is then one client at the stand, found by plate once.

Shifts: an attendant opens a shift with the cash in the drawer and closes it by counting it
(``LocalShift``, ``edge.store.shifts``); its report is computed from the outbox's top-ups.

Schema: tables are created if missing, and a column the models gained since the file was made
is added on open (``ALTER TABLE … ADD COLUMN`` with its default), keeping the rows, so a stand
upgraded in place opens its old file. ``schema_version`` 2 added the directory's client uuids,
3 where a client's session is open elsewhere (``DirClient.open_session_stand_id``): a copy
loaded before lacks them, so opening an older database forgets the directory cursor and the
next poll walks the whole directory again.
"""

from __future__ import annotations

from edge.store.agentstore import StoreAdapter
from edge.store.base import DIRECTORY_CURSOR_KEY, PRAGMAS, SCHEMA_VERSION
from edge.store.clients import LocalClients
from edge.store.directory import DirectoryCopy
from edge.store.fields import JsonField, UtcField
from edge.store.lookups import DirectoryLookups
from edge.store.models import (
    ALL_MODELS,
    DIRECTORY_MODELS,
    AddedCard,
    AnyClient,
    AnyCredential,
    BaseModel,
    DirClient,
    DirClientUuid,
    DirCredential,
    DirRevokedQr,
    DirStaff,
    DirTariff,
    DirTariffVersion,
    LocalClient,
    LocalComment,
    LocalCredential,
    LocalLedger,
    LocalSession,
    LocalShift,
    Outbox,
    RelinkedClient,
    StoreMeta,
    Tables,
)
from edge.store.outbox import OutboxEvents
from edge.store.search import ClientSearch
from edge.store.sessions import LEDGER_KINDS, Sessions
from edge.store.shifts import Shifts
from sync.pricing import rates_from_json, rates_to_json


class Store(
    DirectoryCopy, DirectoryLookups, LocalClients, ClientSearch, Sessions, Shifts, OutboxEvents
):
    """The stand's database file, with its own binding of the tables (``tables``): open as
    many as you like in one process, each sees only its own file.

        store = Store(Path("/var/lib/aquastand/stand.db"))
        store.balance_of(client_id)
    """


__all__ = [
    "ALL_MODELS",
    "DIRECTORY_CURSOR_KEY",
    "DIRECTORY_MODELS",
    "LEDGER_KINDS",
    "PRAGMAS",
    "SCHEMA_VERSION",
    "AddedCard",
    "AnyClient",
    "AnyCredential",
    "BaseModel",
    "DirClient",
    "DirClientUuid",
    "DirCredential",
    "DirRevokedQr",
    "DirStaff",
    "DirTariff",
    "DirTariffVersion",
    "JsonField",
    "LocalClient",
    "LocalComment",
    "LocalCredential",
    "LocalLedger",
    "LocalSession",
    "LocalShift",
    "Outbox",
    "RelinkedClient",
    "Store",
    "StoreAdapter",
    "StoreMeta",
    "Tables",
    "UtcField",
    "rates_from_json",
    "rates_to_json",
]
