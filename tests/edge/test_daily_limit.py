"""A card's daily limit at the stand, with no network: the stand counts its own sessions of
the card today and refuses a start once they cost the limit; every session records the card,
QR code or plate it was started with."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import Store, StoreAdapter
from sync.directory import validate_directory
from sync.directorypage import validate_directory_page
from sync.errors import RuleError
from tests.edge.conftest import (
    ATTENDANT_ID,
    IVAN,
    IVAN_CARD,
    IVAN_QR_ID,
    SITE_ID,
    STAND_ID,
    START,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    qr_token,
)

LIMIT = 15_000  # 150 ₽ a day; the standard tariff is 10 ₽ a started minute


def limited_directory(limit: int | None = LIMIT) -> dict[str, Any]:
    doc = directory_doc()
    for row in doc["credentials"]:
        if row["value"] == IVAN_CARD:
            row["daily_limit_kopecks"] = limit
    return doc


@pytest.fixture
def limited(store: Store, clock: FakeClock) -> Store:
    store.load_directory(validate_directory(limited_directory()), clock.now(), allow_older=True)
    return store


def wash(engine: Engine, clock: FakeClock, minutes: int, uid: str = IVAN_CARD) -> None:
    """A session started and ended by taps of ``uid``, ``minutes`` long."""
    engine.on_uid(uid)
    clock.advance(minutes * 60)
    engine.on_uid(uid)
    clock.advance(5)  # past the bounce guard


def test_the_limit_arrives_with_the_directory(limited: Store) -> None:
    card = limited.tables.DirCredential.get(limited.tables.DirCredential.value == IVAN_CARD)

    assert card.daily_limit_kopecks == LIMIT


def test_a_card_is_refused_offline_once_its_sessions_today_cost_the_limit(
    engine: Engine, limited: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    wash(engine, clock, 10)  # 100 ₽: below the limit, the next start is allowed
    wash(engine, clock, 6)  # 60 ₽ more: 160 ₽, past the limit, finished and charged in full

    engine.on_uid(IVAN_CARD)

    costs = [
        s.cost_kopecks
        for s in limited.tables.LocalSession.select().order_by(
            limited.tables.LocalSession.started_at
        )
    ]
    assert costs == [10_000, 6_000]
    assert feedback.patterns == ["accepted", "ended", "accepted", "ended", "refused"]
    assert engine.last_feedback is not None and engine.last_feedback.code == "daily_limit"
    refusal = events(limited, "tap.refused")[-1]
    assert refusal.payload["reason"] == "daily_limit"
    assert refusal.payload["client_id"] == IVAN
    assert limited.open_sessions() == []


def test_a_card_just_below_its_limit_may_start(
    engine: Engine, limited: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    wash(engine, clock, 14)  # 140 ₽ of 150 ₽

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns[-1] == "accepted"
    assert len(limited.open_sessions()) == 1


def test_the_limit_starts_afresh_on_the_next_local_day(
    engine: Engine, limited: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    wash(engine, clock, 16)  # 160 ₽ on 10 June (13:00 in Moscow)
    engine.on_uid(IVAN_CARD)
    assert feedback.patterns[-1] == "refused"
    # 20:30 UTC is still 10 June in Moscow; 21:00 UTC is midnight of 11 June there.
    clock.advance((START.replace(hour=20, minute=30) - clock.now()).total_seconds())
    engine.on_uid(IVAN_CARD)
    assert feedback.patterns[-1] == "refused"
    clock.advance(31 * 60)

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns[-1] == "accepted"


def test_the_limit_is_the_cards_own_other_credentials_and_the_screen_still_start(
    engine: Engine, limited: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    wash(engine, clock, 16)
    engine.on_uid(IVAN_CARD)
    assert feedback.patterns[-1] == "refused"

    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    assert feedback.patterns[-1] == "accepted"
    clock.advance(60)
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    session = engine.start_session(IVAN, None, ATTENDANT_ID)

    assert session.start_method == "screen"
    assert (session.credential_kind, session.credential_value) == (None, None)


def test_a_card_without_a_limit_is_never_refused_for_spending(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    wash(engine, clock, 60)  # 600 ₽ in a day

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns[-1] == "accepted"


def test_sessions_record_the_qr_token_id_and_the_plate_chosen_on_the_screen(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    by_qr = store.open_sessions()[0]
    clock.advance(120)
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    clock.advance(5)

    by_plate = engine.start_session(IVAN, None, ATTENDANT_ID, plate="a123bc 77")

    assert (by_qr.credential_kind, by_qr.credential_value) == ("qr", IVAN_QR_ID)
    assert (by_plate.credential_kind, by_plate.credential_value) == ("plate", "А123ВС77")
    started = events(store, "session.started")
    assert [(e.payload["credential_kind"], e.payload["credential_value"]) for e in started] == [
        ("qr", IVAN_QR_ID),
        ("plate", "А123ВС77"),
    ]


def test_a_plate_that_is_not_the_clients_does_not_start_a_session(
    engine: Engine, store: Store
) -> None:
    with pytest.raises(RuleError) as refused:
        engine.start_session(IVAN, None, ATTENDANT_ID, plate="О777ОО99")

    assert refused.value.code == "bad_plate"
    assert store.open_sessions() == [] and events(store) == []


def test_a_guest_registered_by_plate_starts_with_that_plate(engine: Engine, store: Store) -> None:
    _guest, session = engine.register_guest("Е555КХ99", None, ATTENDANT_ID)

    assert (session.credential_kind, session.credential_value) == ("plate", "Е555КХ99")


def test_a_directory_page_changes_and_removes_the_limit(
    limited: Store, clock: FakeClock, config: EdgeConfig
) -> None:
    def page(limit: int | None) -> dict[str, Any]:
        doc = limited_directory(limit)
        card = next(c for c in doc["credentials"] if c["value"] == IVAN_CARD)
        ivan = next(c for c in doc["clients"] if c["id"] == IVAN)
        return {
            "cursor": 50,
            "more": False,
            "reset": False,
            "site_id": SITE_ID,
            "stand_id": STAND_ID,
            "server_time": "2024-06-10T10:00:00Z",
            "qr_public_key_pem": doc["qr_public_key_pem"],
            "default_tariff_id": doc["default_tariff_id"],
            "upserts": {
                "clients": [ivan],
                "credentials": [card],
                "tariffs": [],
                "staff": [],
                "revoked_qr_token_ids": [],
            },
            "tombstones": {"clients": [], "credentials": [], "tariffs": [], "staff": []},
            "commands": [],
        }

    adapter = StoreAdapter(limited, clock, SITE_ID)
    adapter.apply_directory_page(validate_directory_page(page(40_000)))
    assert (
        limited.tables.DirCredential.get(
            limited.tables.DirCredential.value == IVAN_CARD
        ).daily_limit_kopecks
        == 40_000
    )

    adapter.apply_directory_page(validate_directory_page(page(None)))
    assert (
        limited.tables.DirCredential.get(
            limited.tables.DirCredential.value == IVAN_CARD
        ).daily_limit_kopecks
        is None
    )


def test_a_stand_database_made_before_the_new_columns_gets_them_and_keeps_its_sessions(
    engine: Engine, store: Store, clock: FakeClock, config: EdgeConfig, tmp_path: Path
) -> None:
    wash(engine, clock, 3)
    store.close()
    old = sqlite3.connect(config.database_path)
    with old:
        old.execute('ALTER TABLE "local_session" DROP COLUMN "credential_kind"')
        old.execute('ALTER TABLE "local_session" DROP COLUMN "credential_value"')
        old.execute('ALTER TABLE "dir_credential" DROP COLUMN "daily_limit_kopecks"')
    old.close()

    reopened = Store(config.database_path)
    try:
        (session,) = reopened.tables.LocalSession.select()
        assert session.cost_kopecks == 5_000  # the minimum charge
        assert (session.credential_kind, session.credential_value) == (None, None)
        assert (
            reopened.tables.DirCredential.get(
                reopened.tables.DirCredential.value == IVAN_CARD
            ).daily_limit_kopecks
            is None
        )
    finally:
        reopened.close()
