"""The post's guards on taps (issue 15): one car per post (``one_session_per_post``) and a
deliberate end (``end_guard_s``). Only card and QR taps are held back; the attendant's screen
is not. Engine with the fake clock and the recording feedback; ``/api/state`` through the
state app's test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import Store
from sync.directory import validate_directory
from tests.edge.conftest import (
    ATTENDANT_ID,
    EXPRESS_CARD,
    EXPRESS_FAN,
    IVAN,
    IVAN_CARD,
    STAND_ID,
    VERSION,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    qr_token,
    with_client,
)

BALANCES = {IVAN: 100_000, EXPRESS_FAN: 50_000}  # as the test directory gives them


def open_sessions(store: Store) -> list[int]:
    return [session.client_id for session in store.open_sessions()]


def balances(store: Store) -> dict[int, int]:
    return {client_id: store.balance_of(client_id) for client_id in BALANCES}


def express_card(engine: Engine) -> None:
    engine.on_uid(EXPRESS_CARD)


def express_qr(engine: Engine) -> None:
    engine.on_qr(qr_token(EXPRESS_FAN, "5" * 32))


SECOND_CLIENT = pytest.mark.parametrize(
    ("show", "kind"), [(express_card, "card"), (express_qr, "qr")], ids=["card", "qr"]
)


# --- one session per post ----------------------------------------------------------------------


@SECOND_CLIENT
def test_another_clients_tap_at_a_busy_post_is_refused_and_changes_nothing(
    engine: Engine,
    store: Store,
    feedback: RecordingFeedback,
    clock: FakeClock,
    show: Callable[[Engine], None],
    kind: str,
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(30)

    show(engine)

    assert open_sessions(store) == [IVAN]
    started, refused = events(store)
    assert started.type == "session.started"
    assert (refused.type, refused.actor) == ("tap.refused", kind)
    assert refused.payload["reason"] == "post_busy"
    assert refused.payload["client_id"] == EXPRESS_FAN
    assert refused.payload["credential_kind"] == kind
    assert balances(store) == BALANCES
    assert store.tables.LocalLedger.select().count() == 0
    assert feedback.patterns == ["accepted", "refused"]
    assert engine.last_feedback is not None
    assert (engine.last_feedback.code, engine.last_feedback.reason) == ("post_busy", "Пост занят")


@SECOND_CLIENT
def test_with_one_session_per_post_off_another_client_starts_alongside(
    engine: Engine,
    store: Store,
    feedback: RecordingFeedback,
    config: EdgeConfig,
    show: Callable[[Engine], None],
    kind: str,
) -> None:
    config.one_session_per_post = False
    engine.on_uid(IVAN_CARD)

    show(engine)

    assert sorted(open_sessions(store)) == [IVAN, EXPRESS_FAN]
    assert [e.type for e in events(store)] == ["session.started", "session.started"]
    assert events(store)[1].payload["credential_kind"] == kind
    assert feedback.patterns == ["accepted", "accepted"]


def test_the_attendant_can_still_start_a_second_session_on_the_screen(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)

    engine.start_session(EXPRESS_FAN, None, ATTENDANT_ID)

    assert sorted(open_sessions(store)) == [IVAN, EXPRESS_FAN]
    assert feedback.patterns == ["accepted", "accepted"]
    # The first client's own tap still ends their session while the other runs.
    clock.advance(61)
    engine.on_uid(IVAN_CARD)
    assert open_sessions(store) == [EXPRESS_FAN]
    assert feedback.patterns == ["accepted", "accepted", "ended"]


def test_the_post_is_free_again_once_its_session_ended(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(120)
    engine.on_uid(IVAN_CARD)

    express_card(engine)

    assert open_sessions(store) == [EXPRESS_FAN]
    assert "tap.refused" not in [e.type for e in events(store)]


# --- ending is deliberate ----------------------------------------------------------------------


def test_a_tap_ten_seconds_after_the_start_does_not_end_the_session(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(10)

    engine.on_uid(IVAN_CARD)

    assert open_sessions(store) == [IVAN]
    assert [e.type for e in events(store)] == ["session.started", "tap.refused"]
    refused = events(store)[1]
    assert refused.payload["reason"] == "too_soon_to_end"
    assert refused.payload["client_id"] == IVAN
    assert store.tables.LocalLedger.select().count() == 0
    # The wash goes on: a calm green blink, not the red "refused".
    assert feedback.patterns == ["accepted", "running"]
    assert engine.last_feedback is not None
    assert engine.last_feedback.code == "too_soon_to_end"
    assert engine.last_feedback.reason == (
        "Сеанс идёт: чтобы завершить, приложите ещё раз через 50 с"
    )

    clock.advance(51)  # 61 s after the start
    engine.on_uid(IVAN_CARD)

    assert open_sessions(store) == []
    assert feedback.patterns == ["accepted", "running", "ended"]
    ended = events(store, "session.ended")[0]
    assert ended.payload["duration_s"] == 61


@pytest.mark.parametrize(("after_s", "ends"), [(59, False), (60, True)])
def test_the_guard_lasts_exactly_end_guard_s(
    engine: Engine, store: Store, clock: FakeClock, after_s: int, ends: bool
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(after_s)

    engine.on_uid(IVAN_CARD)

    assert (open_sessions(store) == []) is ends
    if not ends:
        assert engine.last_feedback is not None
        assert engine.last_feedback.reason.endswith("через 1 с")


def test_with_no_guard_a_tap_ends_the_session_at_once(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock, config: EdgeConfig
) -> None:
    config.end_guard_s = 0
    engine.on_uid(IVAN_CARD)
    clock.advance(3)  # past the bounce window only

    engine.on_uid(IVAN_CARD)

    assert open_sessions(store) == []
    assert feedback.patterns == ["accepted", "ended"]


def test_the_screen_ends_a_session_at_once(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(10)

    engine.end_session(store.open_sessions()[0].uuid, ATTENDANT_ID)

    assert open_sessions(store) == []
    assert feedback.patterns == ["accepted", "ended"]


# --- what /api/state says ---------------------------------------------------------------------


def no_devices() -> dict[str, Any]:
    return {}


def last_feedback(engine: Engine, store: Store, config: EdgeConfig) -> Any:
    app = create_state_app(StandParts(config, store, engine, no_devices))
    with app.test_client() as client:
        return client.get("/api/state").get_json()["last_feedback"]


def test_the_state_names_the_code_of_the_last_feedback(
    engine: Engine, store: Store, config: EdgeConfig, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    assert last_feedback(engine, store, config)["reason_code"] == "started"

    express_card(engine)
    refused = last_feedback(engine, store, config)
    assert (refused["pattern"], refused["reason_code"]) == ("refused", "post_busy")
    assert refused["reason"] == "Пост занят"

    clock.advance(10)
    engine.on_uid(IVAN_CARD)
    too_soon = last_feedback(engine, store, config)
    assert (too_soon["pattern"], too_soon["reason_code"]) == ("running", "too_soon_to_end")
    assert too_soon["reason"].endswith("через 50 с")
    assert set(too_soon) == {"pattern", "at", "reason", "reason_code"}


# --- one open session per client across posts --------------------------------------------------


def washing_at(store: Store, clock: FakeClock, client_id: int, stand_id: int | None) -> None:
    """A directory in which the central service knows ``client_id``'s session open at
    ``stand_id`` (None: nowhere)."""
    doc = with_client(directory_doc(version=VERSION + 1), client_id, open_session_stand_id=stand_id)
    store.load_directory(validate_directory(doc), clock.now())


@SECOND_CLIENT
def test_a_tap_of_a_client_washing_at_another_post_is_refused_and_changes_nothing(
    engine: Engine,
    store: Store,
    clock: FakeClock,
    feedback: RecordingFeedback,
    show: Callable[[Engine], None],
    kind: str,
) -> None:
    washing_at(store, clock, EXPRESS_FAN, STAND_ID + 1)
    before = balances(store)

    show(engine)

    assert open_sessions(store) == []
    assert balances(store) == before
    (refused,) = events(store, "tap.refused")
    assert refused.payload["reason"] == "open_elsewhere"
    assert refused.payload["client_id"] == EXPRESS_FAN
    assert feedback.patterns == ["refused"]
    assert engine.last_feedback is not None
    assert engine.last_feedback.reason == "Сеанс клиента уже идёт на другом посту"


def test_a_session_the_central_service_places_here_or_nowhere_does_not_hold_a_tap_back(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    # Here: the central service has not heard of the end made here yet; nowhere: it has.
    washing_at(store, clock, EXPRESS_FAN, STAND_ID)
    express_card(engine)
    assert open_sessions(store) == [EXPRESS_FAN]


def test_the_attendant_may_still_start_a_client_washing_elsewhere_on_the_screen(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    washing_at(store, clock, EXPRESS_FAN, STAND_ID + 1)
    engine.start_session(EXPRESS_FAN, None, ATTENDANT_ID)
    assert open_sessions(store) == [EXPRESS_FAN]
