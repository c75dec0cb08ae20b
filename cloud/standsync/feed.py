"""Directory pages for stands: ``GET /sync/v1/directory?cursor=N&limit=M`` (the page is
``sync.directorypage.DirectoryPage``; the changes come from cloud/changes.py).

A page reads the change entries after the cursor, in order, at most ``limit`` of them, and
answers each with the row's current values: an upsert, or a tombstone when the row is gone from
the stand's view (a deleted client, an unlinked credential, staff who may no longer log in at
the stand's site). Everything is read in one snapshot (PostgreSQL: REPEATABLE READ; SQLite: one
read transaction), so a page is consistent in itself and the cursor it returns — the position of
its last entry — covers exactly what it holds. Positions commit in order (cloud/changes.py), so
nothing below the cursor can appear later.

A full walk (cursor 0) is the same read from position 0: every row has an entry, and a row that
changes during the walk moves to a later position, so it arrives again before the walk ends.
Its pages say ``reset``; their cursors carry ``WALK_MARK`` (2**62 + the position) so the next
request is known to continue the walk, and the last page's cursor is a plain position. A cursor
beyond the newest position (a restored database) is answered with an empty page, ``cursor`` 0,
``reset`` and ``more``: the stand starts a walk.

Every page also says ``acked_seq``, the last event of the stand this service holds, read in
the same snapshot: a stand that had more acknowledged learns that the central database was
restored from a backup and sends them again (sync/agent.py).

Cost: in a large chain every balance change goes to every stand, so each poll carries about as
many clients as there were sessions in the chain since the stand's last poll. Each process reads
and serialises a client once per change (``ClientEntryCache``) and splices the texts into the
pages; the window of a page is read by position, not by lists of ids.

Details: a client's name and phones go only to the stands of a site the client is of (registered
there or visited it, ``cloud.clients.scope``); the others' entries come ``without_details``. The
cache keeps both texts of an entry; which one a page carries is read with the page.

References: a credential's client and a client's default tariff are added to the page when
their entries come after the cursor (the stand would not have their current values yet);
otherwise the stand has them already. Credentials are keyed at the stand by kind and value: an
entry for a credential row stands for its key, upserted if some live client holds the key now
and tombstoned otherwise (a QR key then also counts as a revoked token id).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import peewee as pw
from flask import current_app

from cloud import changes
from cloud.clients.qrkeys import public_key
from cloud.clients.scope import of_site_among
from cloud.config import CloudConfig
from cloud.db import db_proxy, is_postgresql
from cloud.models import Credential, Stand, whole_setting
from cloud.standsync.commands import END_SESSION, directory_commands
from cloud.standsync.directory import (
    balance_entries,
    client_entries,
    credential_entries,
    default_tariff_of,
    staff_entries,
    tariff_entries,
)
from cloud.standsync.standfacts import StandFacts, stand_facts
from sync.balances import BalanceEntry
from sync.directory import (
    ClientEntry,
    CredentialEntry,
    TariffEntry,
    client_dict,
    without_details,
)
from sync.directorypage import CredentialKey, DirectoryPage, StandCommand, Tombstones

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
WALK_MARK = 1 << 62
MAX_CURSOR = (1 << 63) - 1


CACHED_CLIENTS = 20_000
# An entry, its JSON (UTF-8) and the JSON of the entry without details (the client's as the
# stands of other sites receive it).
Serialised = tuple[ClientEntry, bytes, bytes]


def _json(entry: ClientEntry) -> bytes:
    return json.dumps(client_dict(entry), ensure_ascii=False, separators=(",", ":")).encode()


def serialise(entry: ClientEntry) -> Serialised:
    return entry, _json(entry), _json(without_details(entry))


class ClientEntryCache:
    """Client entries as read and serialised at their change, shared by the pages one process
    serves.

    Each poll names the clients whose balance moved since the stand's cursor. In a chain of a
    thousand stands, each charging a member every half minute, that is about a thousand clients
    per poll, and the same ones for every stand. Reading and serialising each client once per
    process instead of once per poll made such a page five times cheaper to build (68 ms to 13 ms
    for 1,000 clients, bench/fleet.py).

    An entry read at a change stays right for that change: whatever changes a client's entry
    records a new change in the same transaction (cloud/changes.py), and a page reads its changes
    and the rows in one snapshot. The oldest entries are dropped beyond ``capacity``."""

    def __init__(self, capacity: int = CACHED_CLIENTS) -> None:
        self._capacity = capacity
        self._held: dict[int, tuple[tuple[int, str], Serialised]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def entries(
        self, window: list[changes.Change], rows: pw.SelectBase | list[int]
    ) -> list[Serialised]:
        """The live clients of these client changes, from the cache or read (``rows`` selects
        or lists all of the window's ids: one statement when most are not held)."""
        stamps = {c.entity_id: (c.position, c.changed_at) for c in window}
        found, missing = [], []
        for client_id, stamp in stamps.items():
            held = self._held.get(client_id)
            if held is not None and held[0] == stamp:
                found.append(held[1])
            else:
                missing.append(client_id)
        if 2 * len(missing) > len(stamps):
            found, read = [], client_entries(rows)
        else:
            read = client_entries(missing) if missing else ()
        serialised = [serialise(entry) for entry in read]
        with self._lock:
            for item in serialised:
                self._held.pop(item[0].id, None)  # to the end: dropped last
                self._held[item[0].id] = (stamps[item[0].id], item)
            while len(self._held) > self._capacity:
                del self._held[next(iter(self._held))]
        return found + serialised


def client_cache() -> ClientEntryCache:
    cache = current_app.extensions.get("aquastand_client_entries")
    if cache is None:
        cache = current_app.extensions["aquastand_client_entries"] = ClientEntryCache()
    return cache


class TariffCatalogue:
    """Every tariff's entry and the position of each one's entry, kept by a process while the
    tariff entries' newest position and count stay the same.

    A stand's head and page need them all to pick its default tariff, but tariffs change
    rarely, while their reads came with every poll. Whatever changes what an entry holds moves
    its entry to a new, higher position (cloud/changetriggers.py), and a new tariff adds one, so
    the same newest position and count (``StandFacts.tariffs_at``, read with the stand's other
    facts) mean the same entries at the same positions; the positions double as the "is it
    newer than the stand's cursor" answer."""

    def __init__(self) -> None:
        self._held: tuple[tuple[int, int], tuple[TariffEntry, ...], dict[int, int]] | None = None
        self._lock = threading.Lock()

    def read(self, at: tuple[int, int]) -> tuple[tuple[TariffEntry, ...], dict[int, int]]:
        """The tariffs' entries and their entries' positions, for the tariff entries' newest
        position and count ``at`` (in the caller's snapshot)."""
        with self._lock:
            held = self._held
        if held is not None and held[0] == at:
            return held[1], held[2]
        positions = changes.positions_of(changes.TARIFF)
        entries = tariff_entries()
        with self._lock:
            self._held = (at, entries, positions)
        return entries, positions


def tariff_catalogue() -> TariffCatalogue:
    catalogue = current_app.extensions.get("aquastand_tariffs")
    if catalogue is None:
        catalogue = current_app.extensions["aquastand_tariffs"] = TariffCatalogue()
    return catalogue


def credential_rows(
    ids: list[int],
) -> tuple[list[CredentialEntry], list[CredentialKey], list[str]]:
    """Upserts, tombstones and revoked QR ids for the keys of these credential rows."""
    keys: dict[tuple[str, str], None] = {}
    if not ids:
        return [], [], []
    for kind, value in (
        Credential.select(Credential.kind, Credential.value)
        .where(Credential.id.in_(ids))
        .order_by(Credential.id)
        .tuples()
    ):
        keys[(kind, value)] = None
    held = {(c.kind, c.value): c for c in credential_entries(keys)}
    upserts = [held[key] for key in keys if key in held]
    gone = [key for key in keys if key not in held]
    tombstones = [CredentialKey(kind, value) for kind, value in gone]  # type: ignore[arg-type]
    revoked = [value for kind, value in gone if kind == "qr"]
    return upserts, tombstones, revoked


def newer_than(entity: str, ids: set[int], start: int) -> set[int]:
    """Those of ``ids`` whose latest entry is after ``start`` (or who have none)."""
    positions = changes.positions_of(entity, ids)
    return {i for i in ids if positions.get(i, start + 1) > start}


@contextmanager
def snapshot() -> Iterator[None]:
    """One transaction that reads one snapshot (PostgreSQL: REPEATABLE READ; SQLite's read
    transaction is one already). Inside a transaction already open it is that one."""
    if is_postgresql() and not db_proxy.in_transaction():
        with db_proxy.atomic(isolation_level="REPEATABLE READ"):  # one BEGIN saying so
            yield
    else:
        with db_proxy.atomic():
            yield


def stand_page(
    stand: Stand,
    config: CloudConfig,
    now: datetime,
    facts: StandFacts,
    *,
    cursor: int,
    more: bool,
    reset: bool,
) -> DirectoryPage:
    """What every answer to the stand says of itself, in both protocols (a page or a head):
    its ids, the time, the QR key, the owner's point value and its acknowledged seq."""
    return DirectoryPage(
        cursor=cursor,
        more=more,
        reset=reset,
        site_id=stand.site_id,
        stand_id=stand.id,
        server_time=now,
        qr_public_key_pem=public_key(config).decode("ascii"),
        default_tariff_id=None,
        points_value_kopecks=whole_setting(facts.points_value, config.points_value_kopecks),
        acked_seq=facts.acked_seq,
    )


def stand_orders(
    stand: Stand,
    config: CloudConfig,
    now: datetime,
    all_tariffs: Sequence[TariffEntry],
    facts: StandFacts,
) -> tuple[int | None, tuple[StandCommand, ...]]:
    """The stand's own default tariff (its own, its site's, else the chain's) and its pending
    commands, for a page of protocol 1 and a head of protocol 2 alike."""
    defaults = (stand.default_tariff_id, facts.site_default_tariff_id)
    default_id = default_tariff_of(all_tariffs, now, defaults)
    if not facts.commands_pending:
        return default_id, ()
    commands = directory_commands(stand, now, timedelta(minutes=config.start_command_minutes))
    return default_id, commands


@dataclass(frozen=True)
class ChangesRead:
    """The rows a run of change entries ``(start, last]`` stands for, as a page (protocol 1)
    or a window (protocols 2 and 3) carries them, with the references it adds (see the
    module)."""

    clients: list[Serialised]  # by id
    client_ids: set[int]  # every client named: upserted or tombstoned
    changed_clients: bool  # whether a client entry lies in the run (not only references)
    referenced: set[int]
    window_ids: pw.SelectBase  # the ids of the run's client entries
    credentials: list[CredentialEntry]
    dead_keys: list[CredentialKey]
    revoked: list[str]
    tariffs: list[TariffEntry]
    tariff_ids: set[int]
    staff_ids: set[int]
    # Protocol 3: the compact balances of the clients whose entry lies in the run but not whole
    # (of those named in ``balance_ids``, the ones not deleted).
    balances: list[BalanceEntry] = field(default_factory=list)
    balance_ids: set[int] = field(default_factory=set)

    def tombstones(self) -> Tombstones:
        """Clients, credentials and tariffs named but gone (staff are the page's own)."""
        return Tombstones(
            clients=tuple(sorted(self.client_ids - {c.id for c, *_json in self.clients})),
            credentials=tuple(self.dead_keys),
            tariffs=tuple(sorted(self.tariff_ids - {t.id for t in self.tariffs})),
        )


_CLIENTS = (changes.CLIENT, changes.DETAILS)  # a client's two change streams


@dataclass(frozen=True)
class ClientsInRun:
    """Which clients a run carries whole (``changes``, the latest entry of each, and the query
    or ids to read them by) and which by their compact balance alone."""

    changes: list[changes.Change]
    rows: pw.SelectBase | list[int]
    ids: set[int]
    compact: set[int]


def _clients_in_run(
    entries: list[changes.Change], start: int, last: int, compact: bool, kept_whole: Set[int]
) -> ClientsInRun:
    """Protocols 1 and 2: every client entry whole. Protocol 3 (``compact``): a client whose
    details changed whole, and one whose balance changed and whom the window holds whole
    already (``kept_whole``: read again, its balance with it); the others compact."""
    if not compact:
        whole = [e for e in entries if e.entity == changes.CLIENT]
        rows = changes.ids_between(changes.CLIENT, start, last)
        return ClientsInRun(whole, rows, {e.entity_id for e in whole}, set())
    balance_ids = {e.entity_id for e in entries if e.entity == changes.CLIENT}
    detail_ids = {e.entity_id for e in entries if e.entity == changes.DETAILS}
    ids = detail_ids | (balance_ids & kept_whole)
    latest = {e.entity_id: e for e in entries if e.entity in _CLIENTS and e.entity_id in ids}
    rows = changes.ids_between(changes.DETAILS, start, last) if ids == detail_ids else sorted(ids)
    return ClientsInRun(list(latest.values()), rows, ids, balance_ids - ids)


def read_changes(
    entries: list[changes.Change],
    start: int,
    last: int,
    default_id: int | None = None,
    all_tariffs: Sequence[TariffEntry] | None = None,
    *,
    compact: bool = False,
    kept_whole: Set[int] = frozenset(),
) -> ChangesRead:
    """The current rows of ``entries`` (positions in ``(start, last]``), with a credential's
    client and the tariffs clients use (and ``default_id``) when their entries are after
    ``start``. Tariffs come from ``all_tariffs`` if the caller has them, else are read.
    ``compact``: protocol 3's window, balance-only changes compact (``_clients_in_run``)."""
    wanted: dict[str, list[int]] = {entity: [] for entity in changes.TABLES}
    for entry in entries:
        wanted[entry.entity].append(entry.entity_id)
    credentials, dead_keys, revoked = credential_rows(wanted[changes.CREDENTIAL])
    run = _clients_in_run(entries, start, last, compact, kept_whole)
    whole_entity = changes.DETAILS if compact else changes.CLIENT
    linked = {c.client_id for c in credentials} - run.ids
    referenced = newer_than(whole_entity, linked, start)
    clients = client_cache().entries(run.changes, run.rows)
    clients += [serialise(entry) for entry in client_entries(referenced)] if referenced else []
    clients.sort(key=lambda item: item[0].id)
    tariff_ids = set(wanted[changes.TARIFF])
    used = {c.default_tariff_id for c, *_json in clients if c.default_tariff_id is not None}
    if default_id is not None:
        used.add(default_id)
    tariff_ids |= newer_than(changes.TARIFF, used - tariff_ids, start)
    if all_tariffs is None:
        all_tariffs = tariff_entries(tariff_ids) if tariff_ids else ()
    return ChangesRead(
        clients=clients,
        client_ids=run.ids | referenced,
        changed_clients=bool(run.changes),
        referenced=referenced,
        window_ids=changes.ids_between(changes.CLIENT, start, last),
        credentials=credentials,
        dead_keys=dead_keys,
        revoked=revoked,
        tariffs=[t for t in all_tariffs if t.id in tariff_ids],
        tariff_ids=tariff_ids,
        staff_ids=set(wanted[changes.STAFF]),
        balances=balance_entries(sorted(run.compact - referenced)) if run.compact else [],
        balance_ids=run.compact,
    )


def _read_page(
    stand: Stand, start: int, limit: int, reset: bool, config: CloudConfig, now: datetime
) -> tuple[list[bytes], DirectoryPage]:
    """The JSON of the page's client upserts, and the rest of the page."""
    facts = stand_facts(stand.id, stand.site_id, start, changes.CLIENT, start)
    if start > facts.newest:
        return [], stand_page(stand, config, now, facts, cursor=0, more=True, reset=True)
    entries = changes.changes_after(start, limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    last = entries[-1].position if entries else start
    all_tariffs, _positions = tariff_catalogue().read(facts.tariffs_at)
    default_id, commands = stand_orders(stand, config, now, all_tariffs, facts)
    # A stand that asks for pages runs software from before protocol 2, which refuses a page
    # naming a command type it does not know: only ends go to it, starts wait for the head.
    commands = tuple(c for c in commands if c.type == END_SESSION)
    read = read_changes(entries, start, last, default_id, all_tariffs)
    # Details only of the site's own clients (cloud/standsync/directory.py).
    of_site = of_site_among(stand.site_id, read.window_ids) if read.changed_clients else set()
    of_site |= of_site_among(stand.site_id, read.referenced) if read.referenced else set()
    everywhere = config.manager_pins_at_every_site
    staff = staff_entries(stand.site_id, read.staff_ids, everywhere) if read.staff_ids else ()
    texts = [full if c.id in of_site else bare for c, full, bare in read.clients]
    base = stand_page(
        stand,
        config,
        now,
        facts,
        cursor=WALK_MARK + last if reset and more else last,
        more=more,
        reset=reset,
    )
    return texts, replace(
        base,
        default_tariff_id=default_id,
        credentials=tuple(read.credentials),
        tariffs=tuple(read.tariffs),
        staff=staff,
        revoked_qr_token_ids=tuple(read.revoked),
        tombstones=replace(
            read.tombstones(), staff=tuple(sorted(read.staff_ids - {s.id for s in staff}))
        ),
        commands=commands,
    )


def directory_page(
    stand: Stand, cursor: int, limit: int, config: CloudConfig, now: datetime
) -> bytes:
    """The JSON of the page answering ``cursor`` for ``stand`` at ``now`` (see the module)."""
    if not 0 <= cursor <= MAX_CURSOR or not 1 <= limit <= MAX_LIMIT:
        raise ValueError("cursor or limit out of range")
    reset = cursor == 0 or cursor >= WALK_MARK
    start = cursor - WALK_MARK if cursor >= WALK_MARK else cursor
    if cursor == 0:
        changes.adopt_unlogged()
    with snapshot():
        clients, page = _read_page(stand, start, limit, reset, config, now)
    return splice_clients(page.to_dict(), clients)


_CLIENTS_MARK = "\0clients\0"


def splice_clients(data: dict[str, object], clients: list[bytes]) -> bytes:
    """A page's (or window's) ``data`` as JSON, with the clients' JSON as it was cached. It
    goes where a marker stands in ``upserts.clients``; the first occurrence of the marker's JSON
    is that one, as nothing the page says before it (cursor, times, ids, the QR key) is text
    from a person. The clients are spliced in as bytes: a busy poll's clients are most of its
    300 kB."""
    data["upserts"]["clients"] = _CLIENTS_MARK  # type: ignore[index]
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head, _mark, tail = text.partition(json.dumps(_CLIENTS_MARK))
    return b"".join((head.encode(), b"[", b",".join(clients), b"]", tail.encode()))
