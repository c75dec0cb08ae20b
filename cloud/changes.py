"""Directory change tracking: which clients, credentials, tariffs and staff changed, in an order
a stand can follow with one number, its cursor (issue 4, "Directory down").

Database triggers record the changes (cloud/changetriggers.py): whatever writes a row the
directory reads, in the same transaction, takes new positions from the one ``DirectoryCounter``
row and moves the changed rows' ``DirectoryChange`` entries to them (one entry per row: the
latest change; the page builder reads the row's current values). ``record_change`` does the same
from Python, for rows the triggers did not see (``adopt_unlogged``).

Why no change is missed: positions become visible in the order they were handed out, so a
reader that sees position ``p`` sees every change below ``p`` too, and a stand whose cursor is
``p`` has had every change up to it. Taking a position updates the counter row, which stays
locked until the taking transaction commits; the next taker waits for that commit.

On PostgreSQL a transaction takes its positions at its commit (since version 33): until then
its entries wait at negative positions, below every cursor (``pending_sql``), and a deferred
trigger gives them their places at commit (cloud/changetriggers.py). The counter is held for
the commit only, never while a writer reads, plans or waits for another row, so writers of
directory rows no longer queue behind each other's whole transactions (before, a stand's batch
held it from its first statement: about 100 batches a second for a whole chain,
docs/deploy-central.md), and the counter can take no part in a deadlock. What a transaction
reads and then writes on is held by the rows it reads (``cloud.db.lock_rows``: a stand's batch
holds its stand and its clients). On SQLite one writer at a time holds the database, and
positions are taken at once.

One entry per row rather than a growing log: the table stays as large as the directory, a
cursor never falls "too old", and a full walk is the same read from position 0. Entries carry
no site: which staff a stand sees is decided when its page is read (cloud/standsync/feed.py), so
a staff member leaving a site's view is a tombstone there.

Rows written while the triggers did not exist (databases before migration 12) are picked up by
``adopt_unlogged``, which the first page of every full walk and migrations 3 and 12 call: every
row then has an entry, at a new position.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import peewee as pw

from cloud.db import db_proxy, is_postgresql, utcnow
from cloud.models import (
    BaseModel,
    Client,
    Credential,
    DirectoryChange,
    DirectoryCounter,
    Tariff,
    User,
)

CLIENT = "client"  # any change of what a stand holds of a client (protocols 1 and 2 read it)
DETAILS = "details"  # a change of a client but their balance (protocol 3, cloud/changetriggers.py)
CREDENTIAL = "credential"
TARIFF = "tariff"
STAFF = "staff"
TABLES: dict[str, type[BaseModel]] = {
    CLIENT: Client,
    DETAILS: Client,
    CREDENTIAL: Credential,
    TARIFF: Tariff,
    STAFF: User,
}
_COUNTER_ID = 1
_CHUNK = 1000


class Change(NamedTuple):
    position: int
    entity: str
    entity_id: int
    # As text: with the position it names one change, even when a database restored from a
    # backup hands out a position a second time.
    changed_at: str


# PostgreSQL: an entry moved by a transaction not yet committed waits at a negative position
# (minus a number of this sequence: more negative, moved later) until the transaction's commit
# gives it its place (cloud/changetriggers.py). Readers ask for positions above a cursor, never below 0.
PENDING_SEQUENCE = "directory_pending"
PG_NOW = "(now() AT TIME ZONE 'UTC')"  # as naive UTC, as the models store times


def pending_sql(source: str) -> str:
    """One statement moving the entries that ``source`` selects (SQL giving ``entity`` and
    ``id``, in the order they are to take their positions) to pending positions, unless this
    transaction moved them already (they wait at a negative position: see the module), and,
    if it moved any, putting the transaction's row in ``directory_flush``."""
    # Names and SQL from this module and cloud/changetriggers.py only, never from input.
    return (
        'WITH moved AS (INSERT INTO "directory_change" '  # noqa: S608
        '("position", "entity", "entity_id", "changed_at") '
        f"SELECT -nextval('{PENDING_SEQUENCE}'), s.entity, s.id, {PG_NOW} "
        f"FROM ({source}) AS s "
        'ON CONFLICT ("entity", "entity_id") DO UPDATE SET "position" = excluded."position", '
        '"changed_at" = excluded."changed_at" WHERE "directory_change"."position" > 0 '
        'RETURNING 1) INSERT INTO "directory_flush" ("xact") SELECT txid_current() '
        "WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT DO NOTHING"
    )


def _ensure_counter() -> None:
    DirectoryCounter.insert(id=_COUNTER_ID, position=0).on_conflict_ignore().execute()


def _take_positions(count: int) -> int:
    """Reserve ``count`` positions at once (SQLite); returns the last."""
    bump = DirectoryCounter.update(position=DirectoryCounter.position + count).where(
        DirectoryCounter.id == _COUNTER_ID
    )
    if not bump.execute():
        _ensure_counter()
        bump.execute()
    return int(
        DirectoryCounter.select(DirectoryCounter.position)
        .where(DirectoryCounter.id == _COUNTER_ID)
        .scalar()
    )


def record_change(entity: str, ids: Iterable[int]) -> None:
    """Record that these rows of ``entity`` changed; call it inside the transaction that changes
    them. On PostgreSQL they take their positions when it commits; on SQLite at once."""
    if entity not in TABLES:
        raise ValueError(f"unknown directory entity {entity!r}")
    if not db_proxy.in_transaction():
        raise RuntimeError("record_change runs inside the writing transaction")
    unique = sorted({int(i) for i in ids})
    if not unique:
        return
    if is_postgresql():  # pending until the commit, as the triggers do (cloud/changetriggers.py)
        ordered = "SELECT %s AS entity, u.id FROM unnest(%s::bigint[]) AS u(id) ORDER BY u.id"
        db_proxy.execute_sql(pending_sql(ordered), (entity, unique))
        return
    last = _take_positions(len(unique))
    first = last - len(unique) + 1
    now = utcnow()
    rows = [
        {"position": first + n, "entity": entity, "entity_id": row_id, "changed_at": now}
        for n, row_id in enumerate(unique)
    ]
    for start in range(0, len(rows), _CHUNK):
        DirectoryChange.insert_many(rows[start : start + _CHUNK]).on_conflict(
            conflict_target=[DirectoryChange.entity, DirectoryChange.entity_id],
            update={
                DirectoryChange.position: pw.EXCLUDED.position,
                DirectoryChange.changed_at: pw.EXCLUDED.changed_at,
            },
        ).execute()


def position_query() -> pw.SelectQuery:
    """A query of the last position handed out (a row, or none before the first)."""
    return DirectoryCounter.select(DirectoryCounter.position).where(
        DirectoryCounter.id == _COUNTER_ID
    )


def current_position() -> int:
    """The last position handed out (0: none)."""
    return int(position_query().scalar() or 0)


def changes_after(position: int, limit: int) -> list[Change]:
    """The entries after ``position`` in order, at most ``limit``."""
    query = (
        DirectoryChange.select(
            DirectoryChange.position,
            DirectoryChange.entity,
            DirectoryChange.entity_id,
            pw.Cast(DirectoryChange.changed_at, "text"),
        )
        .where(DirectoryChange.position > position)
        .order_by(DirectoryChange.position)
        .limit(limit)
    )
    # The cursor's rows as they are: a page reads up to thousands, on every poll of every stand.
    rows = db_proxy.execute(query).fetchall()
    return [Change._make(row) for row in rows]


def ids_between(entity: str, after: int, upto: int) -> pw.SelectQuery:
    """A query selecting the ids of ``entity`` rows whose entry is in (``after``, ``upto``]."""
    return DirectoryChange.select(DirectoryChange.entity_id).where(
        (DirectoryChange.entity == entity)
        & (DirectoryChange.position > after)
        & (DirectoryChange.position <= upto)
    )


def positions_of(entity: str, ids: Iterable[int] | None = None) -> dict[int, int]:
    """The position of each of these rows' latest change (None: of every row of ``entity``;
    rows with no entry are left out)."""
    where = DirectoryChange.entity == entity
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        where &= DirectoryChange.entity_id.in_(wanted)
    query = DirectoryChange.select(DirectoryChange.entity_id, DirectoryChange.position).where(where)
    return {int(i): int(p) for i, p in query.tuples()}


def _unlogged_ids(entity: str) -> list[int]:
    model = TABLES[entity]
    logged = DirectoryChange.select(DirectoryChange.entity_id).where(
        (DirectoryChange.entity == entity) & (DirectoryChange.entity_id == model.id)
    )
    query = model.select(model.id).where(~pw.fn.EXISTS(logged)).order_by(model.id).tuples()
    return [int(row_id) for (row_id,) in query]


def adopt_unlogged() -> int:
    """Give an entry to every row that has none (written where no trigger saw it); returns
    how many. Cheap when there are none: the counter is only taken if some are missing."""
    missing = {entity: _unlogged_ids(entity) for entity in TABLES}
    if not any(missing.values()):
        return 0
    with db_proxy.atomic():
        # Clients (their details first) before their credentials, tariffs before the clients
        # that use them.
        for entity in (TARIFF, STAFF, DETAILS, CLIENT, CREDENTIAL):
            record_change(entity, _unlogged_ids(entity))
    return sum(len(ids) for ids in missing.values())
