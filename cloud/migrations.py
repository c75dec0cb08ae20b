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
    ClientDriver,
    Credential,
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


def _not_null_false(column: str) -> peewee.BooleanField:
    """A NOT NULL boolean column with a database default FALSE, added in one statement: SQLite
    would otherwise rebuild the table, which the foreign keys to it forbid."""
    return peewee.BooleanField(
        default=False, constraints=[peewee.SQL("DEFAULT FALSE")], column_name=column
    )


def _add_corporate_accounts(database: peewee.Database) -> None:
    """Version 8: corporate accounts (cloud/corporate.py): the corporate flag, drivers, a
    per-card daily limit, and the credential each session was started with."""
    database.create_tables([ClientDriver])
    migrator = SchemaMigrator.from_database(database)
    session = Session._meta.table_name
    migrate(
        migrator.add_column(
            Client._meta.table_name, "corporate", _not_null_false("corporate"), allow_not_null=True
        ),
        migrator.add_column(
            Credential._meta.table_name, "daily_limit_kopecks", Credential.daily_limit_kopecks
        ),
        migrator.add_column(session, "credential_kind", Session.credential_kind),
        migrator.add_column(session, "credential_value", Session.credential_value),
        migrator.add_column(
            session,
            "over_daily_limit",
            _not_null_false("over_daily_limit"),
            allow_not_null=True,
        ),
        migrator.add_index(session, ("credential_value", "started_at")),
    )


# Version 1 is the first released schema; nothing comes before it.
MIGRATIONS: list[tuple[int, Migration]] = [
    (2, _add_sync),
    (3, _add_directory_changes),
    (4, _add_commands_and_heartbeats),
    (8, _add_corporate_accounts),
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
