"""Personal discounts and bonus points at the stand: the end is priced with the discount the
client had at the start, points pay as the client prefers and never beyond what the directory
showed less this stand's own unsettled spends, and an older stand database gains the columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.engine import Engine
from edge.store import Store
from sync.directory import validate_directory
from tests.edge.conftest import (
    IVAN,
    IVAN_CARD,
    PETR,
    PETR_CARD,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    with_client,
)


def load(store: Store, clock: FakeClock, points_value: int = 100, **ivan: object) -> None:
    doc = with_client(directory_doc(points_value_kopecks=points_value), IVAN, **ivan)
    store.load_directory(validate_directory(doc), clock.now(), allow_older=True)


def wash(engine: Engine, clock: FakeClock, card: str = IVAN_CARD, minutes: int = 10) -> None:
    engine.on_uid(card)
    clock.advance(minutes * 60)
    engine.on_uid(card)
    clock.advance(5)


def test_the_discount_at_the_start_prices_the_end_and_the_event(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, discount_percent=10)
    engine.on_uid(IVAN_CARD)
    load(store, clock, discount_percent=0)  # changed centrally during the session
    clock.advance(600)
    engine.on_uid(IVAN_CARD)

    [session] = store.tables.LocalSession.select()
    assert session.cost_kopecks == 9000
    [ended] = events(store, "session.ended")
    assert ended.payload["cost_kopecks"] == 9000
    assert store.balance_of(IVAN) == 100_000 - 9000


def test_a_fixed_discount_is_applied_and_the_running_cost_shows_it(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, discount_kopecks=2500)
    engine.on_uid(IVAN_CARD)
    clock.advance(600)
    [session] = store.open_sessions()
    assert engine.running_cost(session) == 7500


def test_points_first_pays_with_points_and_the_event_carries_them(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, points_balance=60, points_spending="points_first")
    wash(engine, clock)

    [ended] = events(store, "session.ended")
    assert (ended.payload["points_spent"], ended.payload["points_kopecks"]) == (60, 6000)
    [entry] = store.tables.LocalLedger.select()
    assert (entry.amount_kopecks, entry.amount_points) == (-4000, -60)
    assert store.points_of(IVAN) == 0
    assert store.balance_of(IVAN) == 96_000


def test_a_second_session_spends_only_the_points_left_unsettled(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, points_balance=150, points_spending="points_first")
    wash(engine, clock)  # 100 points
    wash(engine, clock)  # only 50 left here until the central service says otherwise

    spent = [e.payload.get("points_spent", 0) for e in events(store, "session.ended")]
    assert spent == [100, 50]
    assert store.points_of(IVAN) == 0


def test_money_first_keeps_points_while_money_covers_the_cost(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, points_balance=500, points_spending="money_first")
    wash(engine, clock)
    assert "points_spent" not in events(store, "session.ended")[0].payload
    assert store.points_of(IVAN) == 500


def test_off_never_spends_points(engine: Engine, store: Store, clock: FakeClock) -> None:
    load(store, clock, points_balance=500, points_spending="off")
    wash(engine, clock)
    assert store.points_of(IVAN) == 500


def test_the_point_value_comes_with_the_directory(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    load(store, clock, points_value=50, points_balance=1000, points_spending="points_first")
    wash(engine, clock)
    [ended] = events(store, "session.ended")
    assert (ended.payload["points_spent"], ended.payload["points_kopecks"]) == (200, 10000)


def test_a_member_with_points_and_no_money_may_wash_on_points(
    engine: Engine, store: Store, clock: FakeClock, feedback: RecordingFeedback
) -> None:
    doc = with_client(directory_doc(), PETR, points_balance=100, points_spending="points_first")
    store.load_directory(validate_directory(doc), clock.now(), allow_older=True)
    wash(engine, clock, PETR_CARD, minutes=8)

    assert feedback.patterns == ["accepted", "ended"]
    assert store.balance_of(PETR) == 0 and store.points_of(PETR) == 20


def test_a_member_who_never_spends_points_needs_money_to_start(
    engine: Engine, store: Store, clock: FakeClock, feedback: RecordingFeedback
) -> None:
    doc = with_client(directory_doc(), PETR, points_balance=100, points_spending="off")
    store.load_directory(validate_directory(doc), clock.now(), allow_older=True)
    engine.on_uid(PETR_CARD)
    assert feedback.patterns == ["refused"]


def test_an_older_stand_database_gains_the_new_columns_and_keeps_its_rows(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "old.sqlite3"
    store = Store(path)
    store.load_directory(validate_directory(directory_doc()), clock.now())
    store.close()
    with sqlite3.connect(path) as raw:
        for table, column in [
            ("dir_client", "points_balance"),
            ("dir_client", "points_spending"),
            ("dir_client", "discount_percent"),
            ("dir_client", "discount_kopecks"),
            ("local_ledger", "amount_points"),
            ("local_session", "discount_percent"),
        ]:
            raw.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')

    reopened = Store(path)
    try:
        assert reopened.balance_of(IVAN) == 100_000
        assert reopened.points_of(IVAN) == 0
        client = reopened.client(IVAN)
        assert client is not None and client.points_spending == "off"
    finally:
        reopened.close()
