"""The stand's local database: durable settings, the directory copy replaced as a whole,
balances that count local money exactly once, and event numbers that are never reused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import Store
from sync.directory import validate_directory
from sync.errors import RuleError
from tests.edge.conftest import (
    ATTENDANT_ID,
    IVAN,
    IVAN_CARD,
    PETR,
    REVOKED_QR_ID,
    SITE_ID,
    STAND_ID,
    VERSION,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    with_client,
)


def load(store: Store, clock: FakeClock, doc: dict[str, Any], **kwargs: Any) -> dict[str, int]:
    return store.load_directory(validate_directory(doc), clock.now(), **kwargs)


def charge_ivan(engine: Engine, clock: FakeClock, minutes: int = 11) -> None:
    """One finished session of Ivan's costing ``minutes`` × 10 ₽."""
    engine.on_uid(IVAN_CARD)
    clock.advance(minutes * 60)
    engine.on_uid(IVAN_CARD)
    clock.advance(3)


def append(store: Store, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        store.append_event(
            str(uuid.uuid4()),
            "tap.refused",
            {
                "credential_kind": "card",
                "credential_value": "AA",
                "reason": "unknown",
                "client_id": None,
            },
            stand_id=STAND_ID,
            occurred_at=clock.now(),
            boot_id=clock.boot_id,
            mono_ms=1,
            actor="card",
        )


def test_every_commit_is_durable_and_checked(store: Store) -> None:
    pragma = store.database.execute_sql
    assert pragma("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pragma("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert pragma("PRAGMA foreign_keys").fetchone()[0] == 1
    assert pragma("PRAGMA busy_timeout").fetchone()[0] > 0


def test_loading_a_directory_replaces_the_copy(store: Store, clock: FakeClock) -> None:
    doc = directory_doc(version=VERSION + 1)
    doc["credentials"] = [c for c in doc["credentials"] if c["value"] != IVAN_CARD]
    doc["clients"] = [c for c in doc["clients"] if c["id"] != PETR]
    doc["credentials"] = [c for c in doc["credentials"] if c["client_id"] != PETR]

    counts = load(store, clock, doc)

    assert counts == {"tariffs": 3, "clients": 4, "credentials": 6, "revoked_qr": 1, "staff": 1}
    assert store.credential("card", IVAN_CARD) is None
    assert store.client(PETR) is None
    assert (
        store.tables.DirClient.select().count() == 4
        and store.tables.DirCredential.select().count() == 6
    )
    assert store.directory_version() == VERSION + 1
    assert store.directory_loaded_at() == clock.now()


def test_unacknowledged_local_charges_count_once_whatever_directory_comes(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    charge_ivan(engine, clock)
    assert store.balance_of(IVAN) == 100_000 - 11_000

    # A top-up at the central office; the central service has not seen our charge yet.
    load(
        store, clock, with_client(directory_doc(version=VERSION + 1), IVAN, balance_kopecks=150_000)
    )
    assert store.balance_of(IVAN) == 150_000 - 11_000
    load(
        store, clock, with_client(directory_doc(version=VERSION + 2), IVAN, balance_kopecks=150_000)
    )
    assert store.balance_of(IVAN) == 150_000 - 11_000


def test_an_acknowledged_charge_is_settled_by_the_next_directory(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    charge_ivan(engine, clock)
    store.mark_acked(store.next_seq() - 1)
    assert store.balance_of(IVAN) == 89_000  # the directory held does not include it yet
    charge_ivan(engine, clock, minutes=6)  # sent later, not acknowledged

    load(
        store, clock, with_client(directory_doc(version=VERSION + 1), IVAN, balance_kopecks=89_000)
    )

    assert store.balance_of(IVAN) == 89_000 - 6_000


def test_an_older_directory_is_refused_unless_forced(store: Store, clock: FakeClock) -> None:
    older = with_client(directory_doc(version=VERSION - 1), IVAN, balance_kopecks=1)

    with pytest.raises(RuleError) as info:
        load(store, clock, older)

    assert info.value.code == "older_directory"
    assert store.balance_of(IVAN) == 100_000
    load(store, clock, older, allow_older=True)
    assert store.balance_of(IVAN) == 1
    load(store, clock, directory_doc(version=VERSION - 1))  # the same version again is fine


def test_a_directory_of_another_site_is_refused(store: Store, clock: FakeClock) -> None:
    with pytest.raises(RuleError) as remembered:
        load(store, clock, directory_doc(version=VERSION + 1, site_id=SITE_ID + 1))
    with pytest.raises(RuleError) as configured:
        load(store, clock, directory_doc(version=VERSION + 1), site_id=SITE_ID + 1)

    assert remembered.value.code == configured.value.code == "wrong_site"
    assert store.directory_version() == VERSION


def test_a_failed_load_keeps_the_previous_copy(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_upsert", broken)
    with pytest.raises(OSError):
        load(store, clock, directory_doc(version=VERSION + 1))

    assert store.directory_version() == VERSION
    assert store.credential("card", IVAN_CARD) is not None
    assert store.tables.DirClient.select().count() == 5


def test_a_reload_keeps_open_sessions_and_their_price(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    doc = directory_doc(version=VERSION + 1)
    doc["tariffs"][0]["versions"][0]["rates"]["member_per_minute"] = 5
    load(store, clock, doc)
    clock.advance(10 * 60)

    engine.on_uid(IVAN_CARD)

    assert store.tables.LocalSession.get().cost_kopecks == 10 * 1000  # the rates it started with


def test_event_numbers_are_never_reused_even_after_acknowledged_events_are_removed(
    store: Store, clock: FakeClock, config: EdgeConfig
) -> None:
    append(store, clock, 3)
    store.mark_acked(3)
    store.tables.Outbox.delete().execute()  # the agent may prune acknowledged events
    store.close()

    reopened = Store(config.database_path)
    append(reopened, clock, 1)

    assert [e.seq for e in events(reopened)] == [4]
    reopened.close()


def test_pending_events_come_in_order_until_acknowledged(store: Store, clock: FakeClock) -> None:
    append(store, clock, 3)

    assert [e.seq for e in store.pending_events()] == [1, 2, 3]
    assert store.mark_acked(2) == 2
    assert [e.seq for e in store.pending_events()] == [3]
    assert store.outbox_size() == 1


def test_an_invalid_event_is_never_stored(store: Store, clock: FakeClock) -> None:
    with pytest.raises(RuleError):
        store.append_event(
            "not-a-uuid",
            "session.started",
            {},
            stand_id=STAND_ID,
            occurred_at=clock.now(),
            boot_id=clock.boot_id,
            mono_ms=0,
            actor="card",
        )

    assert store.tables.Outbox.select().count() == 0
    assert store.next_seq() == 1


def test_opening_a_schema_1_database_walks_the_directory_again(
    store: Store, config: EdgeConfig
) -> None:
    store.tables.StoreMeta.insert(
        key="directory_cursor", value="41"
    ).on_conflict_replace().execute()
    store.tables.StoreMeta.update(value="1").where(
        store.tables.StoreMeta.key == "schema_version"
    ).execute()
    store.close()

    reopened = Store(config.database_path)

    assert (
        reopened.tables.StoreMeta.get_by_id("directory_cursor").value == "0"
    )  # no client uuids held yet
    assert reopened.tables.StoreMeta.get_by_id("schema_version").value == "3"
    reopened.close()
    again = Store(config.database_path)
    assert again.tables.StoreMeta.get_by_id("directory_cursor").value == "0"
    again.close()


def test_a_stand_upgraded_in_place_gains_the_open_session_column_and_walks_again(
    store: Store, config: EdgeConfig, clock: FakeClock
) -> None:
    """A schema-2 file (no ``open_session_stand_id``) opens: the column is added, the rows
    kept, and the cursor forgotten so the next poll brings where sessions are open."""
    store.database.execute_sql('ALTER TABLE "dir_client" DROP COLUMN "open_session_stand_id"')
    store.tables.StoreMeta.insert(
        key="directory_cursor", value="41"
    ).on_conflict_replace().execute()
    store.tables.StoreMeta.update(value="2").where(
        store.tables.StoreMeta.key == "schema_version"
    ).execute()
    store.close()

    reopened = Store(config.database_path)
    try:
        ivan = reopened.client(IVAN)
        assert ivan is not None and ivan.name == "Иван Петров"
        assert ivan.open_session_stand_id is None
        assert reopened.directory_cursor() == 0
        load(
            reopened,
            clock,
            with_client(directory_doc(version=VERSION + 1), IVAN, open_session_stand_id=9),
        )
        ivan = reopened.client(IVAN)
        assert ivan is not None and ivan.open_session_stand_id == 9
    finally:
        reopened.close()


def test_a_local_client_is_re_linked_once_it_has_a_session_open_under_one_id_only(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    local, session = engine.register_guest("К555МР197", None, actor=7)
    # A directory already holding the guest under id 60 (its uuid not yet sent down), and a
    # session started for that row meanwhile: two open sessions, one person.
    doc = directory_doc(version=VERSION + 1)
    doc["clients"].append({**doc["clients"][2], "id": 60})
    load(store, clock, doc)
    engine.start_session(60, None, actor=7)
    doc = directory_doc(version=VERSION + 2)
    doc["clients"].append({**doc["clients"][2], "id": 60, "uuids": [local.uuid]})

    load(store, clock, doc)

    assert store.client(local.id) == local  # waits: both sessions stay as they are
    assert store.open_session_of(int(local.id)) is not None
    engine.end_session(str(session.uuid), actor=7)
    load(store, clock, {**doc, "version": VERSION + 3})
    assert store.tables.LocalClient.select().count() == 0
    assert [s.uuid for s in store.sessions_of(60)][-1] == session.uuid
    assert len(store.sessions_of(60)) == 2


def test_two_stores_in_one_process_each_see_only_their_own_rows(
    tmp_path: Path, clock: FakeClock
) -> None:
    first = Store(tmp_path / "a" / "stand.sqlite3")
    second = Store(tmp_path / "b" / "stand.sqlite3")  # opened after the first, used alongside
    try:
        load(first, clock, directory_doc())
        load(second, clock, directory_doc(staff=[], revoked_qr_token_ids=[]))
        for store, name, plate in ((first, "Первый", "А111АА77"), (second, "Второй", "В222ВВ77")):
            store.add_local_client(
                str(uuid.uuid4()), "member", name, [], [("plate", plate)], clock.now()
            )
        config = EdgeConfig(data_dir=tmp_path / "a", stand_id=STAND_ID, site_id=SITE_ID)
        Engine(first, RecordingFeedback(), config, clock).record_topup(
            IVAN, 10_000, "cash", ATTENDANT_ID
        )

        assert [c.name for c in first.find_clients(name="Перв")] == ["Первый"]
        assert [c.name for c in second.find_clients(name="Втор")] == ["Второй"]
        assert first.find_clients(name="Втор") == [] and second.find_clients(name="Перв") == []
        assert [s.full_name for s in first.staff()] == ["Анна Смирнова"] and second.staff() == []
        assert first.is_revoked(REVOKED_QR_ID) and not second.is_revoked(REVOKED_QR_ID)
        assert first.outbox_size() == 1 and second.outbox_size() == 0
        assert (first.balance_of(IVAN), second.balance_of(IVAN)) == (110_000, 100_000)
        assert [t.LocalClient.select().count() for t in (first.tables, second.tables)] == [1, 1]
        assert [t.LocalLedger.select().count() for t in (first.tables, second.tables)] == [1, 0]
    finally:
        first.close()
        second.close()
