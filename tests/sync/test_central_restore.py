"""A central database restored from a backup that holds fewer of a stand's events than the
stand had acknowledged: the stand sends them again from where the central service stands, or,
when it no longer keeps them, raises an alarm and keeps the rest queued (the central service on
SQLite and on PostgreSQL over HTTP, a real stand store and agent)."""

# ruff: noqa: F401, F811 - the central fixtures are imported by name and requested by name

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import peewee
import pytest
from flask import Flask

from cloud.db import is_postgresql
from cloud.ledger.service import post_entry
from cloud.models import (
    ALL_MODELS,
    AuditEntry,
    Client,
    DirectoryChange,
    DirectoryCounter,
    LedgerEntry,
    SessionRollup,
    StandEvent,
    StandHeartbeat,
    TopupRollup,
)
from cloud.standsync.heartbeat import stands_health
from edge.store import LocalLedger, Outbox, Store
from tests.integration.conftest import (
    Central,
    DirectStand,
    _truncate_all,
    app,
    central,
    clock,
    database_url,
    direct_stand,
    fast_password_hashing,
    postgres_schema_url,
    provision,
    world,
)

MEMBER_CARD = "04A1B2C3D4E5F6"
Backup = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def backup(app: Flask) -> Backup:
    """Every table's rows, as a data-only dump would hold them."""
    database = app.extensions["aquastand_db"]
    saved: Backup = {}
    with database.atomic():
        for model in peewee.sort_models(ALL_MODELS):
            table = model._meta.table_name
            cursor = database.execute_sql(f'SELECT * FROM "{table}"')  # noqa: S608
            saved[table] = ([c[0] for c in cursor.description], list(cursor.fetchall()))
    return saved


# What a process keeps of the directory between requests: a restore hands positions out again,
# so docs/directory-protocol.md has the instances restarted after one, which empties these.
PROCESS_CACHES = (
    "aquastand_windows",
    "aquastand_window_rows",
    "aquastand_client_entries",
    "aquastand_tariffs",
)


def restore(app: Flask, saved: Backup) -> None:
    """Replace every table's rows with the backup's (and move the id sequences back), and
    restart the service as the restore procedure says (its directory caches emptied)."""
    for cache in PROCESS_CACHES:
        app.extensions.pop(cache, None)
    database = app.extensions["aquastand_db"]
    # The audit log refuses DELETE (its triggers): a real restore replaces the file or the
    # schema, triggers and all; here it is left as it is (none of these tests reads it).
    models = [model for model in ALL_MODELS if model is not AuditEntry]
    with database.atomic():
        for model in reversed(peewee.sort_models(models)):
            database.execute_sql(f'DELETE FROM "{model._meta.table_name}"')  # noqa: S608
        # The change log and the report rollups last, as saved: the triggers record the other
        # rows as they go in (a real restore makes the triggers after the data).
        log = [DirectoryChange, DirectoryCounter, SessionRollup, TopupRollup]
        for model in [m for m in peewee.sort_models(models) if m not in log] + log:
            if model in log:
                database.execute_sql(f'DELETE FROM "{model._meta.table_name}"')  # noqa: S608
            table = model._meta.table_name
            columns, rows = saved[table]
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join(["%s" if is_postgresql() else "?"] * len(columns))
            for row in rows:
                database.execute_sql(
                    f'INSERT INTO "{table}" ({names}) VALUES ({marks})',  # noqa: S608
                    row,
                )
            if is_postgresql() and "id" in columns:
                sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                top = max((row[columns.index("id")] for row in rows), default=0)
                database.execute_sql(f"SELECT setval({sequence}, {top + 1}, false)")


def central_ledger() -> list[tuple[int, str, int, str]]:
    """The ledger entries stand events made: client, kind, amount and the event's id."""
    rows = (
        LedgerEntry.select(LedgerEntry, StandEvent)
        .join(StandEvent, on=(LedgerEntry.event == StandEvent.id))
        .order_by(StandEvent.seq)
    )
    return [(e.client_id, e.kind, e.amount_kopecks, e.event.event_uuid) for e in rows]


def stand_ledger(store: Store) -> list[tuple[int, str, int, str]]:
    ledger = store.tables.LocalLedger
    rows = ledger.select().order_by(ledger.id)
    return [(r.client_id, r.kind, r.amount_kopecks, r.event_id) for r in rows]


@pytest.fixture
def stand(central: Central, world: Any, direct_stand: Any) -> DirectStand:
    """A stand that took a session and a top-up, acknowledged: seq 1 to 3."""
    post_entry(world.member, "topup", 100_000, method="cash")
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.sync("the first sync")
    wash_and_top_up(made, world)
    made.sync()
    return made


def wash_and_top_up(stand: DirectStand, world: Any) -> None:
    stand.engine.on_uid(MEMBER_CARD)
    stand.clock.advance(130)
    stand.engine.on_uid(MEMBER_CARD)
    stand.clock.advance(5)
    stand.engine.record_topup(world.member.id, 25_000, "cash", world.users["attendant"].id)


def restored_after_more_events(app: Flask, stand: DirectStand, world: Any) -> Callable[[], None]:
    """Back the central database up now (seq 1 to 3), acknowledge seq 4 to 6, and return what
    restores the backup."""
    saved = backup(app)
    wash_and_top_up(stand, world)
    stand.sync()
    assert stand.store.acked_up_to() == 6
    return lambda: restore(app, saved)


def test_a_gap_after_a_restore_is_repaired_by_sending_again_from_the_expected_seq(
    app: Flask, stand: DirectStand, world: Any
) -> None:
    restore_now = restored_after_more_events(app, stand, world)
    restore_now()
    assert StandEvent.select().count() == 3
    stand.engine.record_topup(world.member.id, 7_000, "card", world.users["attendant"].id)

    stand.sync()

    assert [e.seq for e in StandEvent.select().order_by(StandEvent.seq)] == list(range(1, 8))
    assert central_ledger() == [
        (c, k, a, e) for c, k, a, e in stand_ledger(stand.store)
    ]  # the stand's every entry, once
    member = Client.get_by_id(world.member.id)
    assert stand.store.balance_of(world.member.id) == member.balance_kopecks
    assert stand.agent.status.alarm == "" and stand.agent.status.refused == ""


def test_a_stand_with_nothing_new_to_send_learns_of_the_restore_from_the_directory(
    app: Flask, stand: DirectStand, world: Any
) -> None:
    restore_now = restored_after_more_events(app, stand, world)
    before = central_ledger()
    restore_now()
    assert len(central_ledger()) < len(before)

    assert stand.agent.run_once(force=True)

    assert central_ledger() == before
    member = Client.get_by_id(world.member.id)
    assert stand.store.balance_of(world.member.id) == member.balance_kopecks
    assert stand.store.outbox_size() == 0


def test_events_no_longer_kept_raise_an_alarm_and_later_ones_stay_queued(
    app: Flask, stand: DirectStand, world: Any
) -> None:
    restore_now = restored_after_more_events(app, stand, world)
    assert stand.store.prune_acknowledged(datetime.now(UTC), keep_max=1) == 5
    restore_now()
    stand.engine.record_topup(world.member.id, 7_000, "card", world.users["attendant"].id)

    stand.agent.run_once(force=True)
    stand.agent._heartbeat()

    assert "№ 4" in stand.agent.status.alarm
    assert [e.seq for e in stand.store.pending_events(10)] == [7]  # kept, never dropped
    assert StandEvent.select().count() == 3
    assert "№ 4" in StandHeartbeat.get().alarm
    [health] = [h for h in stands_health(world.users["owner"], datetime.now(UTC)) if h.alarm]
    assert health.stand_name == "Пост 7"


def test_acknowledged_events_are_pruned_by_age_and_by_count(stand: DirectStand, world: Any) -> None:
    wash_and_top_up(stand, world)
    stand.sync()
    stand.engine.record_topup(world.member.id, 1_000, "cash", world.users["attendant"].id)
    times = {row.seq: row.occurred_at for row in stand.store.tables.Outbox.select()}

    assert stand.store.prune_acknowledged(times[3], keep_max=100) == 2  # seq 1 and 2: older
    assert stand.store.prune_acknowledged(times[1], keep_max=2) == 2  # beyond the newest two
    assert [
        row.seq
        for row in stand.store.tables.Outbox.select().order_by(stand.store.tables.Outbox.seq)
    ] == [5, 6, 7]
    assert stand.store.outbox_size() == 1  # the one not acknowledged is never pruned
    assert stand.store.acked_up_to() == 6
