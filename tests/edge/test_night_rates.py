"""A stand prices by the tariff's schedule of rates and its own default tariff, on its own:
no network, the directory it holds (edge/tariffs.py, sync.schedule)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import Store
from sync.directory import validate_directory
from tests.edge.conftest import (
    EXPRESS,
    EXPRESS_NOW,
    IVAN,
    IVAN_CARD,
    SITE_ID,
    STAND_ID,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
)

NIGHT = {
    "days": [0, 1, 2, 3, 4, 5, 6],
    "start_min": 22 * 60,
    "end_min": 7 * 60,
    "member_per_minute": 800,
    "guest_per_minute": 1200,
}
MONDAY_2150_MSK = datetime(2024, 6, 10, 18, 50, tzinfo=UTC)


@pytest.fixture
def night_engine(
    tmp_path: Path, clock: FakeClock, feedback: RecordingFeedback
) -> tuple[Engine, Store]:
    """A stand whose own default tariff (as the central service sends it) is «Экспресс»,
    20 ₽ a minute by day and 8 ₽ from 22:00 to 07:00 Moscow time."""
    clock.wall = MONDAY_2150_MSK
    doc = directory_doc(default_tariff_id=EXPRESS)
    express = next(t for t in doc["tariffs"] if t["id"] == EXPRESS)
    express["versions"][0]["rates"]["schedule"] = [NIGHT]
    config = EdgeConfig(
        data_dir=tmp_path / "stand", stand_id=STAND_ID, site_id=SITE_ID, timezone="Europe/Moscow"
    )
    store = Store(config.database_path)
    store.load_directory(validate_directory(doc), clock.now())
    return Engine(store, feedback, config, clock), store


def test_a_session_into_the_night_is_priced_per_part_with_the_stands_tariff(
    night_engine: tuple[Engine, Store], clock: FakeClock
) -> None:
    engine, store = night_engine
    engine.on_uid(IVAN_CARD)  # 21:50: Иван has no tariff of his own
    session = store.tables.LocalSession.get()
    assert session.tariff_version_id == EXPRESS_NOW
    clock.advance(10 * 60)
    assert engine.running_cost(session) == 10 * 2000
    clock.advance(20 * 60 + 5)  # 22:20:05
    assert engine.running_cost(session) == 10 * 2000 + 21 * 800

    engine.on_uid(IVAN_CARD)

    session = store.tables.LocalSession.get()
    cost = 10 * 2000 + 21 * 800  # ten day minutes, twenty and a started one at night
    assert (session.duration_s, session.cost_kopecks) == (30 * 60 + 5, cost)
    assert events(store, "session.ended")[0].payload["cost_kopecks"] == cost
    assert store.balance_of(IVAN) == 100_000 - cost


def test_at_night_a_start_needs_only_the_night_minute(
    night_engine: tuple[Engine, Store], clock: FakeClock
) -> None:
    engine, store = night_engine
    clock.advance(3600)  # 22:50
    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    engine.on_uid(IVAN_CARD)
    assert store.tables.LocalSession.get().cost_kopecks == 800
