"""Schema versions: a fresh database gets the current schema, an older one upgrades in place
keeping its rows, running the upgrade again changes nothing, and a newer one is refused.

Each test works on an empty database of the engine under test (SQLite, PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SchemaMigrator, migrate

from cloud import migrations, rolluptriggers
from cloud.config import CloudConfig
from cloud.ledger.service import post_entry
from cloud.migrations import MIGRATIONS, current_version, latest_version, upgrade
from cloud.models import (
    ALL_MODELS,
    REPLACED_BY_LOOKUPS,
    REPORT_INDEXES,
    Client,
    Credential,
    ForcedClose,
    LedgerEntry,
    LoyaltySetting,
    RollupZone,
    SchemaVersion,
    Session,
    SessionRollup,
    Site,
    Stand,
    StandHeartbeatLog,
    Tariff,
    TariffVersion,
    TopupRollup,
    User,
)
from cloud.periods import GROUPINGS, Period
from cloud.reports import rollups, topups
from cloud.reports.sessions import raw_sums, rollup_sums
from tests.cloud.freshdb import bound, empty_database_url


@pytest.fixture
def empty(database_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        yield database


def add_site_city(database: peewee.Database) -> None:
    """A real version-2 migration: a new column with a default for the existing rows."""
    migrator = SchemaMigrator.from_database(database)
    migrate(migrator.add_column("site", "city", peewee.CharField(max_length=100, default="")))


def column_names(database: peewee.Database, table: str) -> set[str]:
    return {column.name for column in database.get_columns(table)}


def test_init_on_an_empty_database_creates_every_table_and_stamps_the_latest_version(
    empty: peewee.Database,
) -> None:
    assert current_version(empty) is None

    assert upgrade(empty) == (None, latest_version())

    for model in ALL_MODELS:
        assert empty.table_exists(model._meta.table_name), model._meta.table_name
    assert current_version(empty) == latest_version()


def test_upgrading_twice_changes_nothing_and_keeps_the_data(empty: peewee.Database) -> None:
    upgrade(empty)
    Site.create(name="Аквастенд на Ленина")

    assert upgrade(empty) == (latest_version(), latest_version())

    assert [site.name for site in Site.select()] == ["Аквастенд на Ленина"]
    assert SchemaVersion.select().count() == 1


def test_a_database_of_an_earlier_version_upgrades_in_place_and_keeps_its_rows(
    empty: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty)
    Site.create(name="Аквастенд на Ленина")
    now = latest_version()
    assert current_version(empty) == now
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (now + 1, add_site_city)]
    )

    assert upgrade(empty) == (now, now + 1)

    assert "city" in column_names(empty, "site")
    assert empty.execute_sql("SELECT name, city FROM site").fetchall() == [
        ("Аквастенд на Ленина", "")
    ]
    assert current_version(empty) == now + 1
    assert upgrade(empty) == (now + 1, now + 1)
    assert SchemaVersion.select().count() == 2


def test_a_version_10_database_gets_the_heartbeat_alarm_column_keeping_its_rows(
    empty: peewee.Database,
) -> None:
    from cloud.db import utcnow
    from cloud.models import Stand, StandHeartbeat

    upgrade(empty)
    site = Site.create(name="Аквастенд на Ленина")
    stand = Stand.create(site=site, name="Пост 1")
    migrate(SchemaMigrator.from_database(empty).drop_column("stand_heartbeat", "alarm"))
    mark = "%s" if isinstance(empty, peewee.PostgresqlDatabase) else "?"
    empty.execute_sql(
        "INSERT INTO stand_heartbeat (stand_id, received_at, version, uptime_s, outbox, cursor,"  # noqa: S608
        f" reader, camera) VALUES ({mark}, {mark}, '0.4', 5, 0, 1, '{{}}', '{{}}')",
        (stand.id, StandHeartbeat.received_at.db_value(utcnow())),
    )
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=10)  # the version before the alarm (11)

    assert upgrade(empty) == (10, latest_version())

    assert "alarm" in column_names(empty, "stand_heartbeat")
    assert [(b.version, b.alarm) for b in StandHeartbeat.select()] == [("0.4", "")]


def test_indexes_no_lookup_uses_are_dropped_by_version_11_and_never_made(
    empty: peewee.Database,
) -> None:
    upgrade(empty)
    fresh = index_names(empty)
    for index in migrations.UNUSED_INDEXES:
        table = "session" if index.startswith("session") else "ledger_entry"
        empty.execute_sql(f'CREATE INDEX "{index}" ON "{table}" ("{index[len(table) + 1 :]}")')
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=10)  # the version before the drop (11)

    upgrade(empty)

    assert index_names(empty) == fresh
    assert not set(migrations.UNUSED_INDEXES) & fresh
    assert {
        "session_client_id_ended_at",
        "ledger_entry_client_id",
        "ledger_entry_event_id",
    } <= fresh


def index_names(database: peewee.Database) -> set[str]:
    return {i.name for table in ("session", "ledger_entry") for i in database.get_indexes(table)}


def test_a_failing_migration_leaves_the_database_at_its_version(
    empty: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_done(database: peewee.Database) -> None:
        add_site_city(database)
        raise RuntimeError("disk full")

    upgrade(empty)
    Site.create(name="Аквастенд на Ленина")
    now = latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (now + 1, half_done)])

    with pytest.raises(RuntimeError, match="disk full"):
        upgrade(empty)

    assert current_version(empty) == now
    assert "city" not in column_names(empty, "site")
    assert Site.select().count() == 1


def test_a_database_newer_than_the_program_is_refused_and_left_alone(
    empty: peewee.Database,
) -> None:
    upgrade(empty)
    SchemaVersion.create(version=latest_version() + 1)
    Site.create(name="Аквастенд на Ленина")

    with pytest.raises(RuntimeError, match="newer than this program"):
        upgrade(empty)

    assert current_version(empty) == latest_version() + 1
    assert Site.select().count() == 1


def test_version_6_adds_heartbeat_silences_from_the_log_and_the_report_indexes(
    empty: peewee.Database,
) -> None:
    up_to_6 = [step for step in MIGRATIONS if step[0] <= 6]
    upgrade(empty)
    names = [re.search(r'EXISTS "(\w+)"', sql).group(1) for _m, sql in REPORT_INDEXES]  # type: ignore[union-attr]
    # Back to version 5: no silences, none of the report indexes.
    for name in names:
        empty.execute_sql(f'DROP INDEX "{name}"')
    empty.execute_sql("ALTER TABLE stand_heartbeat_log DROP COLUMN silence_s")
    SchemaVersion.update(version=5).execute()
    stand = Stand.create(site=Site.create(name="Аквастенд на Ленина"), name="Пост 1")
    start = datetime(2024, 3, 1, tzinfo=UTC)
    seconds = [0, 60, 125, 425, 490]  # a log row a minute, then five minutes silent
    for offset in seconds:
        StandHeartbeatLog.insert(
            stand=stand.id,
            received_at=start + timedelta(seconds=offset),
            version="1",
            uptime_s=1,
            outbox=0,
            cursor=1,
        ).execute()

    assert upgrade(empty, up_to_6) == (5, 6)

    log = StandHeartbeatLog.select().order_by(StandHeartbeatLog.received_at)
    # Only a gap longer than a minute and the online threshold is a silence: its length
    # less the minute the log may skip.
    assert [row.silence_s for row in log] == [None, None, None, 300 - 60, None]
    indexes = {
        index.name
        for model, _sql in REPORT_INDEXES
        for index in empty.get_indexes(model._meta.table_name)
    }
    assert set(names) <= indexes


def drop_change_triggers(database: peewee.Database) -> None:
    """Back to version 11: no triggers record directory changes."""
    if isinstance(database, peewee.PostgresqlDatabase):
        rows = database.execute_sql(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgname LIKE 'directory%%'"
            " AND c.relnamespace = current_schema()::regnamespace"
        ).fetchall()
        for name, table in rows:
            database.execute_sql(f'DROP TRIGGER "{name}" ON "{table}"')
    else:
        rows = database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'directory%'"
        ).fetchall()
        for (name,) in rows:
            database.execute_sql(f'DROP TRIGGER "{name}"')
    assert rows, "the schema had no change triggers"


def test_version_12_records_directory_changes_by_triggers_and_adopts_the_rows_before_them(
    empty: peewee.Database,
) -> None:
    from cloud.changes import changes_after, current_position
    from cloud.models import Client

    upgrade(empty)
    drop_change_triggers(empty)
    SchemaVersion.update(version=11).execute()
    before = Client.create(kind="member", name="Иван")  # written while nothing records it
    assert current_position() == 0

    assert upgrade(empty) == (11, latest_version())

    Client.update(blocked=True).where(Client.id == before.id).execute()
    after = Client.create(kind="guest")
    entries = [(c.entity, c.entity_id) for c in changes_after(0, 20)]
    assert [e for e in entries if e[0] == "client"] == [("client", before.id), ("client", after.id)]
    assert [e for e in entries if e[0] == "details"] == [
        ("details", before.id),
        ("details", after.id),
    ]
    # the client adopted, then blocked, then the new one; its details adopted, then blocked,
    # then the new one's; and on SQLite the client moved again by migration 21 (details by
    # site) in the upgrade's transaction (on PostgreSQL an entry moves once a transaction)
    assert current_position() == (6 if isinstance(empty, peewee.PostgresqlDatabase) else 7)


def test_version_27_counts_the_rollups_of_the_sessions_and_top_ups_already_stored(
    empty: peewee.Database,
) -> None:
    """A database of version 21 with a month of sessions and top-ups: the migration makes the
    rollups, cut in the configured zone, and every report read from them equals the rows'."""
    upgrade(empty)
    rolluptriggers.drop_triggers(empty)
    empty.drop_tables([SessionRollup, TopupRollup, RollupZone])
    SchemaVersion.update(version=21).execute()
    site = Site.create(name="Аквастенд на Ленина")
    stand = Stand.create(site=site, name="Пост 1")
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
    )
    client = Client.create(kind="member", name="Иван")
    owner = User.create(full_name="Владелец", phone="+79000000004", role="owner")
    start = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)
    for number in range(40):
        ended = start + timedelta(hours=19 * number)
        Session.create(
            client=client,
            stand=stand,
            site=site,
            tariff_version=version,
            client_kind="member",
            started_at=ended - timedelta(minutes=10),
            ended_at=ended,
            duration_s=600,
            cost_kopecks=10_000 + number,
            start_method="card" if number % 3 else "qr",
        )
        entry = post_entry(client, "topup", 5_000 + number, method="cash", site=site)
        LedgerEntry.update(created_at=ended).where(LedgerEntry.id == entry.id).execute()

    assert upgrade(empty) == (21, latest_version())

    assert empty.table_exists("session_rollup") and rollups.usable(CloudConfig.timezone)
    for first, last in (
        (date(2024, 3, 1), date(2024, 3, 31)),
        (date(2024, 3, 5), date(2024, 4, 2)),
    ):
        period = Period(first, last, CloudConfig.timezone)
        for group_by in GROUPINGS:
            expected = raw_sums(period, group_by, None)
            assert expected and rollup_sums(period, group_by, None) == expected
        for group_by in topups.GROUPINGS:
            expected = topups.raw_topup_sums(owner, period, group_by)
            assert topups.rollup_topup_sums(period, group_by, None) == expected
    # and the triggers keep them from now on
    Session.update(cost_kopecks=1).where(Session.id == 1).execute()
    period = Period(date(2024, 3, 1), date(2024, 3, 31), CloudConfig.timezone)
    assert rollup_sums(period, "site", None) == raw_sums(period, "site", None)


def test_version_24_adds_forced_closes_and_start_commands_keeping_the_commands(
    empty: peewee.Database,
) -> None:
    from cloud.models import Client, Session, StandCommand, Tariff, TariffVersion

    upgrade(empty)
    site = Site.create(name="Аквастенд на Ленина")
    stand = Stand.create(site=site, name="Пост 1")
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
    )
    client = Client.create(kind="member", name="Иван")
    session = Session.create(
        uuid="11111111-1111-4111-8111-111111111111",
        client=client,
        stand=stand,
        site=site,
        tariff_version=version,
        client_kind="member",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        start_method="card",
    )
    # The version-21 shape: no force-close table or column, a command always of a session.
    empty.drop_tables([ForcedClose, StandCommand])
    old = _version_21_command()
    empty.create_tables([old])
    old.create(stand=stand, type="end_session", session=session, comment="старая")
    migrate(SchemaMigrator.from_database(empty).drop_column("session", "force_closed"))
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=21)

    assert upgrade(empty) == (21, latest_version())

    assert {"force_closed"} <= column_names(empty, "session")
    assert {"client_id", "session_uuid", "outcome", "reason"} <= column_names(
        empty, "stand_command"
    )
    assert empty.table_exists("forced_close")
    assert [(c.comment, c.outcome, c.session_id) for c in StandCommand.select()] == [
        ("старая", "", session.id)
    ]
    assert Session.get_by_id(session.id).force_closed is False
    StandCommand.create(stand=stand, type="start_session", client=client, session_uuid="x")


def _version_21_command() -> type[peewee.Model]:
    """The stand_command table as version 21 made it."""
    from cloud.db import UtcDateTimeField, utcnow
    from cloud.models import BaseModel, Session, User

    class OldCommand(BaseModel):
        stand = peewee.ForeignKeyField(Stand, on_delete="CASCADE")
        type = peewee.CharField(max_length=20)
        session = peewee.ForeignKeyField(Session, on_delete="CASCADE")
        comment = peewee.TextField(default="")
        issued_by = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = UtcDateTimeField(default=utcnow)
        done_at = UtcDateTimeField(null=True)

        class Meta:
            table_name = "stand_command"

    return OldCommand


def test_version_23_adds_the_foreign_plate_flag_and_the_loyalty_settings(
    empty: peewee.Database,
) -> None:
    upgrade(empty)
    # Back to version 22: no flag, no settings table; a plate stored then stays valid.
    empty.execute_sql(f'DROP TABLE "{LoyaltySetting._meta.table_name}"')
    empty.execute_sql('ALTER TABLE "credential" DROP COLUMN "is_foreign"')
    SchemaVersion.update(version=22).execute()
    client = Client.create(kind="guest")
    columns = 'INSERT INTO "credential" (client_id, kind, value, lost, created_at) VALUES '
    values = "(" + ", ".join([empty.param] * 5) + ")"  # the driver's placeholders
    empty.execute_sql(
        columns + values, (client.id, "plate", "ХУZ1", False, datetime(2024, 3, 1, tzinfo=UTC))
    )

    assert upgrade(empty) == (22, latest_version())

    assert "is_foreign" in column_names(empty, "credential")
    assert Credential.get(Credential.value == "ХУZ1").is_foreign is False
    assert empty.table_exists(LoyaltySetting._meta.table_name)


def test_version_29_puts_the_report_lookups_in_place_of_the_indexes_they_replace(
    empty: peewee.Database,
) -> None:
    """A version 28 database (the heartbeat log's outbox index by time, the sessions' index by
    client alone) gets the indexes of ``REPORT_LOOKUPS`` instead: the same as a fresh one."""
    upgrade(empty)
    tables = ("session", "stand_heartbeat_log")

    def indexes() -> set[str]:
        return {index.name for table in tables for index in empty.get_indexes(table)}

    fresh = indexes()
    for name in ("session_client_id_ended_at", "stand_heartbeat_log_peak"):
        empty.execute_sql(f'DROP INDEX "{name}"')
    empty.execute_sql('CREATE INDEX "session_client_id" ON "session" ("client_id")')
    empty.execute_sql(
        'CREATE INDEX "stand_heartbeat_log_outbox" ON "stand_heartbeat_log" '
        '("received_at", "stand_id", "outbox") WHERE "outbox" > 0'
    )
    SchemaVersion.update(version=28).execute()

    assert upgrade(empty) == (28, latest_version())

    assert indexes() == fresh
    assert {"session_client_id_ended_at", "stand_heartbeat_log_peak"} <= fresh
    assert not set(REPLACED_BY_LOOKUPS) & fresh


def directory_triggers(database: peewee.Database) -> dict[str, str]:
    """Each directory change trigger (but the flush of a transaction's pending entries, on
    PostgreSQL) and what it runs for: ``row`` or ``statement``."""
    if isinstance(database, peewee.PostgresqlDatabase):
        rows = database.execute_sql(
            "SELECT c.relname || '.' || t.tgname, t.tgtype & 1 FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            " AND t.tgname LIKE 'directory%%' AND t.tgname <> 'directory_flush'"
            " AND c.relnamespace = current_schema()::regnamespace"
        ).fetchall()
        return {name: "row" if each_row else "statement" for name, each_row in rows}
    rows = database.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'directory%'"
    ).fetchall()
    return {name: "row" if "FOR EACH ROW" in sql else "statement" for name, sql in rows}


def test_version_30_records_directory_changes_per_statement_on_postgresql(
    empty: peewee.Database,
) -> None:
    """A version 28 database on PostgreSQL had a row trigger per table and operation, running
    one function per table: they become statement triggers over the rows each statement wrote,
    and changes are recorded as before. SQLite keeps its row triggers."""
    from cloud.changes import current_position
    from cloud.changetriggers import SOURCES

    postgresql = isinstance(empty, peewee.PostgresqlDatabase)
    upgrade(empty)
    SchemaVersion.update(version=28).execute()
    if postgresql:  # as version 28 made them
        empty.execute_sql(
            'CREATE FUNCTION "directory_client"() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN RETURN NULL; END $$"
        )
        for operation in ("insert", "delete", "update"):
            empty.execute_sql(f'DROP TRIGGER "directory_client_{operation}" ON "client"')
            empty.execute_sql(
                f'CREATE TRIGGER "directory_client_{operation}" AFTER {operation.upper()} '
                'ON "client" FOR EACH ROW EXECUTE FUNCTION "directory_client"()'
            )
    assert ("row" in directory_triggers(empty).values()) is True

    assert upgrade(empty) == (28, latest_version())

    kinds = directory_triggers(empty)
    tables = {source.model._meta.table_name for source in SOURCES}
    assert set(kinds.values()) == {"statement" if postgresql else "row"}
    assert len(kinds) == 3 * len(tables)
    if postgresql:
        old = empty.execute_sql(
            "SELECT 1 FROM pg_proc WHERE proname = 'directory_client'"
            " AND pronamespace = current_schema()::regnamespace"
        )
        assert old.fetchall() == []
    top = current_position()
    Client.insert_many([{"kind": "guest"}, {"kind": "guest"}]).execute()
    assert current_position() == top + 4  # each guest's entry and its details' entry


def test_version_31_gives_every_client_a_details_entry_and_the_visit_index(
    empty: peewee.Database,
) -> None:
    """A version 30 database (no details stream, no visit index): every client
    gets its details entry, after its client entry, and the rest is as a fresh database's."""
    from cloud.changes import CLIENT, DETAILS, positions_of
    from cloud.models import Client, DirectoryChange

    upgrade(empty)
    fresh_columns = column_names(empty, "directory_change")
    tables = ("session", "directory_change")
    fresh_indexes = {index.name for table in tables for index in empty.get_indexes(table)}
    ivan = Client.create(kind="member", name="Иван")
    DirectoryChange.delete().where(DirectoryChange.entity == DETAILS).execute()
    empty.execute_sql('DROP INDEX "session_client_visit"')
    empty.execute_sql('DROP INDEX "directory_change_entity_position"')
    SchemaVersion.update(version=30).execute()

    assert upgrade(empty) == (30, latest_version())

    assert positions_of(DETAILS, [ivan.id])[ivan.id] > positions_of(CLIENT, [ivan.id])[ivan.id]
    assert column_names(empty, "directory_change") == fresh_columns
    assert {index.name for t in tables for index in empty.get_indexes(t)} == fresh_indexes
    assert {"session_client_visit", "directory_change_entity_position"} <= fresh_indexes


def test_version_33_takes_directory_positions_at_commit(empty: peewee.Database) -> None:
    """A version 32 database (the ``xact`` column; on PostgreSQL a trigger on every tracked
    table locking the counter before each write): the column goes, so do the lock takers, the
    flush is made, and a change written after the upgrade takes its position at its commit."""
    from cloud.changes import current_position, positions_of
    from cloud.models import Client, DirectoryChange

    postgresql = isinstance(empty, peewee.PostgresqlDatabase)
    upgrade(empty)
    fresh_columns = column_names(empty, "directory_change")
    empty.execute_sql('ALTER TABLE "directory_change" ADD COLUMN "xact" BIGINT')
    if postgresql:  # as version 32 had them (the lock taker on one table is enough here)
        empty.execute_sql('DROP TRIGGER "directory_flush" ON "directory_flush"')
        empty.execute_sql(
            'CREATE FUNCTION "directory_hold"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
            'PERFORM 1 FROM "directory_counter" WHERE "id" = 1 FOR UPDATE; RETURN NULL; END $$'
        )
        empty.execute_sql(
            'CREATE TRIGGER "directory_hold" BEFORE INSERT ON "client" '
            'FOR EACH STATEMENT EXECUTE FUNCTION "directory_hold"()'
        )
    SchemaVersion.update(version=32).execute()

    assert upgrade(empty) == (32, latest_version())

    assert column_names(empty, "directory_change") == fresh_columns
    if postgresql:
        triggers = empty.execute_sql(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgname IN ('directory_hold', 'directory_flush')"
            " AND c.relnamespace = current_schema()::regnamespace"
        ).fetchall()
        assert triggers == [("directory_flush",)]
    top = current_position()
    ivan = Client.create(kind="member", name="Иван")
    assert top < positions_of("client", [ivan.id])[ivan.id] <= current_position()
    assert DirectoryChange.select().where(DirectoryChange.position < 0).count() == 0
