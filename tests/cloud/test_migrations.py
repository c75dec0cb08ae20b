"""Schema versions: a fresh database gets the current schema, an older one upgrades in place
keeping its rows, running the upgrade again changes nothing, and a newer one is refused.

Each test works on an empty database of the engine under test (SQLite, PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SchemaMigrator, migrate

from cloud import migrations
from cloud.migrations import MIGRATIONS, current_version, latest_version, upgrade
from cloud.models import (
    ALL_MODELS,
    REPORT_INDEXES,
    Client,
    Credential,
    LoyaltySetting,
    SchemaVersion,
    Site,
    Stand,
    StandHeartbeatLog,
)
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
    assert {"session_client_id", "ledger_entry_client_id", "ledger_entry_event_id"} <= fresh


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
    entries = [(c.entity, c.entity_id) for c in changes_after(0, 10)]
    assert entries == [("client", before.id), ("client", after.id)]
    # adopted, moved again by migration 21 (details by site), then blocked, then the new one
    assert current_position() == 4


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
