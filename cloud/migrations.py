"""Schema versions. A fresh database gets the current schema and the latest version stamp;
an older one gets each later migration in order, in place, keeping its data.

To change the schema: change ``cloud/models.py`` and append ``(N, function)`` to
``MIGRATIONS`` where the function brings a version ``N-1`` database to version ``N``
(``playhouse.migrate`` for columns, ``create_tables`` for new tables).
"""

from __future__ import annotations

from collections.abc import Callable

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from cloud.changes import adopt_unlogged
from cloud.models import (
    ALL_MODELS,
    Client,
    DirectoryChange,
    DirectoryCounter,
    LedgerEntry,
    SchemaVersion,
    Session,
    Stand,
    StandCommand,
    StandEvent,
    StandHeartbeat,
    StandHeartbeatLog,
)

Migration = Callable[[peewee.Database], None]


def _add_sync(database: peewee.Database) -> None:
    """Version 2: stand enrolment and clocks, the events stands send, and the uuids and
    re-pricing columns that applying them needs (cloud/standauth.py, cloud/ingest.py)."""
    database.create_tables([StandEvent])
    migrator = SchemaMigrator.from_database(database)
    stand_fields = (
        "token_hash",
        "enrol_code_hash",
        "enrol_code_expires_at",
        "enrol_code_used_at",
        "enrolled_at",
        "revoked_at",
        "last_seen_at",
        "clock_skew_ms",
        "boot_id",
    )
    stand = Stand._meta.table_name
    session = Session._meta.table_name
    steps = [migrator.add_column(stand, name, Stand._meta.fields[name]) for name in stand_fields]
    steps += [
        migrator.add_column(Client._meta.table_name, "uuid", Client.uuid),
        migrator.add_column(session, "uuid", Session.uuid),
        migrator.add_column(session, "repriced_cost_kopecks", Session.repriced_cost_kopecks),
        # NOT NULL with a database default in one statement: SQLite would otherwise rebuild
        # the session table, which the ledger's foreign keys forbid.
        migrator.add_column(
            session,
            "price_mismatch",
            peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")]),
            allow_not_null=True,
        ),
        migrator.add_column(LedgerEntry._meta.table_name, "event_id", LedgerEntry.event),
    ]
    migrate(*steps)


def _add_commands_and_heartbeats(database: peewee.Database) -> None:
    """Version 4: commands to stands (remote end of a session) and their heartbeats, latest
    and over time (cloud/commands.py, cloud/heartbeat.py)."""
    database.create_tables([StandCommand, StandHeartbeat, StandHeartbeatLog])


def _add_directory_changes(database: peewee.Database) -> None:
    """Version 3: directory change tracking (cloud/changes.py); every existing client,
    credential, tariff and staff member gets an entry, so cursors start after them."""
    database.create_tables([DirectoryCounter, DirectoryChange])
    adopt_unlogged()


# Indexes no lookup uses, dropped for the ingest rate (bench/sync_ingest.py): every session
# and ledger entry a stand sends paid for each of them.
UNUSED_INDEXES = (
    "session_tariff_version_id",
    "session_started_by_id",
    "session_ended_by_id",
    "ledger_entry_kind",
    "ledger_entry_created_by_id",
)


def _sync_repairs(database: peewee.Database) -> None:
    """Version 11: a stand's alarm in its latest heartbeat (cloud/heartbeat.py; version 4
    creates the table from today's model, with the column already), and ``UNUSED_INDEXES``
    dropped."""
    for index in UNUSED_INDEXES:
        database.execute_sql(f'DROP INDEX IF EXISTS "{index}"')
    table = StandHeartbeat._meta.table_name
    if "alarm" in {column.name for column in database.get_columns(table)}:
        return
    migrator = SchemaMigrator.from_database(database)
    # NOT NULL with a database default in one statement (no table rebuild on SQLite).
    alarm = peewee.TextField(default="", constraints=[peewee.SQL("DEFAULT ''")])
    migrate(migrator.add_column(table, "alarm", alarm, allow_not_null=True))


# Version 1 is the first released schema; nothing comes before it.
MIGRATIONS: list[tuple[int, Migration]] = [
    (2, _add_sync),
    (3, _add_directory_changes),
    (4, _add_commands_and_heartbeats),
    (11, _sync_repairs),
]
BASE_VERSION = 1


def latest_version(migrations: list[tuple[int, Migration]] | None = None) -> int:
    steps = MIGRATIONS if migrations is None else migrations
    return max([BASE_VERSION, *(number for number, _ in steps)])


def current_version(database: peewee.Database) -> int | None:
    if not database.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def upgrade(
    database: peewee.Database, migrations: list[tuple[int, Migration]] | None = None
) -> tuple[int | None, int]:
    """Create or upgrade the schema; safe to run any number of times. Returns (before, after)."""
    steps = sorted(MIGRATIONS if migrations is None else migrations, key=lambda step: step[0])
    target = latest_version(steps)
    with database.atomic():
        before = current_version(database)
        if before is None:
            database.create_tables(ALL_MODELS)
            SchemaVersion.create(version=target)
            return None, target
        if before > target:
            raise RuntimeError(f"database schema {before} is newer than this program ({target})")
        for number, migrate in steps:
            if number > before:
                migrate(database)
                SchemaVersion.create(version=number)
    return before, target
