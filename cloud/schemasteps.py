"""Schema migration steps from version 22 on, and the helpers every step uses
(cloud/migrations.py runs them; append new steps here and name them in its ``MIGRATIONS``).
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from cloud import changes, changetriggers, rolluptriggers
from cloud.models import (
    REPLACED_BY_LOOKUPS,
    REPORT_LOOKUPS,
    VISIT_LOOKUP,
    AlertIncident,
    AlertSubscription,
    Credential,
    ForcedClose,
    LoyaltySetting,
    Receipt,
    Session,
    Site,
    Stand,
    StandCommand,
    TariffVersion,
    User,
)


def add_missing_column(database: peewee.Database, model: type[peewee.Model], name: str) -> None:
    """Add the column of ``model``'s field ``name`` unless the table has it already: a table
    that an earlier migration created from today's model (``create_tables``) has every column
    that later versions added to it."""
    table, field = model._meta.table_name, model._meta.fields[name]
    if field.column_name not in {column.name for column in database.get_columns(table)}:
        migrator = SchemaMigrator.from_database(database)
        migrate(migrator.add_column(table, field.column_name, field))


def with_default(field: peewee.Field, default: str) -> peewee.Field:
    """``field`` NOT NULL with a database default, added in one statement (SQLite would
    otherwise rebuild the table, which the ledger's foreign keys forbid)."""
    field.constraints = [peewee.SQL(f"DEFAULT {default}")]
    return field


def add_column_with_default(
    database: peewee.Database,
    model: type[peewee.Model],
    name: str,
    field: peewee.Field,
    default: str,
) -> None:
    """Add ``model``'s NOT NULL column ``name`` (``field``) with a database default in one
    statement (SQLite would otherwise rebuild the table), unless the table has it already."""
    table = model._meta.table_name
    if name not in {column.name for column in database.get_columns(table)}:
        column = with_default(field, default)
        migrate(
            SchemaMigrator.from_database(database).add_column(
                table, name, column, allow_not_null=True
            )
        )


def add_pricing(database: peewee.Database) -> None:
    """Version 22: a default tariff per site and per stand (cloud/catalog/defaults.py) and a
    tariff version's schedule of rates (sync.schedule), which the directory sends: the
    triggers learn the new column."""
    add_missing_column(database, Site, "default_tariff")
    add_missing_column(database, Stand, "default_tariff")
    add_tariff_schedule(database)
    changetriggers.install(database)


def add_tariff_schedule(database: peewee.Database) -> None:
    """The ``tariff_version.schedule`` column ("" for none), unless the table has it."""
    add_column_with_default(database, TariffVersion, "schedule", peewee.TextField(default=""), "''")


def add_foreign_plates_and_loyalty_settings(database: peewee.Database) -> None:
    """Version 23: a plate's "foreign" flag (one that matches no Russian format, sync.plates;
    the plates stored before stay valid, none foreign) and the owner's loyalty settings
    (cloud/loyalty/settings.py; none saved: the configuration's values apply)."""
    flag = peewee.BooleanField(default=False)
    add_column_with_default(database, Credential, "is_foreign", flag, "FALSE")
    database.create_tables([LoyaltySetting])


def add_forced_closes(database: peewee.Database) -> None:
    """Version 24: sessions force-closed centrally (cloud/sessions/forceclose.py) and the
    ``start_session`` command (cloud/standsync/commands.py): a command names a client and may
    have no session yet, and keeps what the stand answered. Each step only if missing (a
    table an earlier migration created from today's model has it already)."""
    database.create_tables([ForcedClose])
    forced = peewee.BooleanField(default=False)
    add_column_with_default(database, Session, "force_closed", forced, "FALSE")
    for name in ("outcome", "reason"):
        text = peewee.CharField(max_length=StandCommand._meta.fields[name].max_length, default="")
        add_column_with_default(database, StandCommand, name, text, "''")
    add_missing_column(database, StandCommand, "client")
    add_missing_column(database, StandCommand, "session_uuid")
    table = StandCommand._meta.table_name
    session = next(c for c in database.get_columns(table) if c.name == "session_id")
    if not session.null:
        migrate(SchemaMigrator.from_database(database).drop_not_null(table, "session_id"))


def add_alerts(database: peewee.Database) -> None:
    """Version 25: alerts to staff by e-mail (cloud/alerts/): a staff member's address, who gets
    which kinds of alert, and the incidents."""
    email = peewee.CharField(max_length=254, default="")
    add_column_with_default(database, User, "email", email, "''")
    database.create_tables([AlertSubscription, AlertIncident])


def add_rollups(database: peewee.Database) -> None:
    """Version 27: the report rollups (cloud/models/rollups.py), kept by triggers
    (cloud/rolluptriggers.py) and counted here from the sessions and top-ups already stored."""
    rolluptriggers.install(database)


def add_receipt_credit(database: peewee.Database) -> None:
    """Version 28: a receipt's part on credit (a charge into debt, a top-up paying one off)."""
    credit = peewee.BigIntegerField(default=0)
    add_column_with_default(database, Receipt, "credit_kopecks", credit, "0")


def add_report_lookups(database: peewee.Database) -> None:
    """Version 29: the indexes the stand health and debts reports look up by
    (``REPORT_LOOKUPS``, cloud/models/indexes.py), in place of the two they replace."""
    for name in REPLACED_BY_LOOKUPS:
        database.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    for _model, sql in REPORT_LOOKUPS:
        database.execute_sql(sql)


def record_changes_per_statement(database: peewee.Database) -> None:
    """Version 30: on PostgreSQL the directory changes are recorded by statement triggers over
    the rows each statement wrote (transition tables) instead of a trigger run per row
    (cloud/changetriggers.py; a stand's batch writes hundreds of rows in a few statements).
    SQLite keeps its row triggers, made again the same."""
    changetriggers.install(database)


def add_client_details_changes(database: peewee.Database) -> None:
    """Version 31: a second change stream per client, its details (every change but of the
    balance: protocol 3 sends balance-only changes compact, sync/balances.py), every client's
    first entry in it, and on PostgreSQL one position per entry per transaction
    (cloud/changetriggers.py; version 33 drops the column it was tracked by then); the index of a client's visits the
    triggers look a session's first visit up by, and the change log's by entity and position
    (a head reads the staff and details entries after a position)."""
    database.execute_sql(
        'CREATE INDEX IF NOT EXISTS "directory_change_entity_position" '
        'ON "directory_change" ("entity", "position")'
    )
    database.execute_sql(VISIT_LOOKUP[1])
    changetriggers.install(database)
    changes.adopt_unlogged()


def skip_home_site_visits(database: peewee.Database) -> None:
    """Version 32: a client's first visit to its home site moves no details entry (that
    site's stands have the details already; cloud/changetriggers.py)."""
    changetriggers.install(database)


def positions_at_commit(database: peewee.Database) -> None:
    """Version 33: on PostgreSQL a transaction's directory entries take their positions when it
    commits (cloud/changetriggers.py), so writers no longer wait for each other's counter from
    their first write; the column that tracked one position per transaction goes. The report
    rollups' upserts take their rows in key order, so writers no longer serialized by the
    counter do not deadlock on them."""
    changetriggers.install(database)  # first: the triggers before it wrote the column
    if "xact" in {column.name for column in database.get_columns("directory_change")}:
        database.execute_sql('ALTER TABLE "directory_change" DROP COLUMN "xact"')
    rolluptriggers.install(database)  # their upserts in key order (cloud/rolluptriggers.py)
