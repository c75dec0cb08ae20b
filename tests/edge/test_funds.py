"""Money guarded at the stand (issue 15, item 4; ``sync.funds``) and one open session per client
across posts (item 3): who may start, when a running session ends by itself because the money
ran out, and a tap refused for a session open at another stand. Engine with the fake clock and
the recording feedback, on the test directory (the standard tariff: a member pays 10 ₽ and a
guest 15 ₽ a minute, in minute steps, 50 ₽ at least, 10 s of grace)."""

from __future__ import annotations

from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import Store
from sync.directory import validate_directory
from sync.errors import RuleError
from tests.edge.conftest import (
    ATTENDANT_ID,
    GUEST,
    IVAN,
    IVAN_CARD,
    PETR,
    PETR_CARD,
    STAND_ID,
    VERSION,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    qr_token,
    with_client,
)

GUEST_QR = "6" * 32


def reload(store: Store, clock: FakeClock, **ivan: Any) -> None:
    """The test directory, a version later, with Ivan's fields changed."""
    doc = with_client(directory_doc(version=VERSION + 1), IVAN, **ivan)
    store.load_directory(validate_directory(doc), clock.now())


def open_clients(store: Store) -> list[int]:
    return [session.client_id for session in store.open_sessions()]


def guest_qr(engine: Engine) -> None:
    engine.on_qr(qr_token(GUEST, GUEST_QR))


# --- starting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("balance", "started"), [(5_000, True), (4_999, False), (0, False)])
def test_a_members_tap_needs_the_minimum_charge(
    engine: Engine,
    store: Store,
    feedback: RecordingFeedback,
    clock: FakeClock,
    balance: int,
    started: bool,
) -> None:
    reload(store, clock, balance_kopecks=balance)

    engine.on_uid(IVAN_CARD)

    assert open_clients(store) == ([IVAN] if started else [])
    if not started:
        assert feedback.patterns == ["refused"]
        assert engine.last_feedback is not None
        assert engine.last_feedback.code == "insufficient_funds"
        assert engine.last_feedback.reason.startswith("Недостаточно средств")
        [refused] = events(store)
        assert (refused.type, refused.payload["reason"]) == ("tap.refused", "insufficient_funds")
        assert store.balance_of(IVAN) == balance


def test_points_the_client_spends_count_and_points_kept_do_not(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=0, points_balance=50, points_spending="off")
    engine.on_uid(IVAN_CARD)
    assert open_clients(store) == []

    reload(store, clock, balance_kopecks=0, points_balance=50, points_spending="money_first")
    clock.advance(5)  # past the bounce guard of the refused tap
    engine.on_uid(IVAN_CARD)
    assert open_clients(store) == [IVAN]  # 50 points of 1 ₽: the minimum charge


def test_the_attendant_cannot_start_a_member_without_money_either(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=100)

    with pytest.raises(RuleError) as info:
        engine.start_session(IVAN, None, ATTENDANT_ID)

    assert info.value.code == "insufficient_funds"
    assert open_clients(store) == [] and events(store) == []


def test_a_guests_tap_needs_a_prepayment(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    guest_qr(engine)
    assert feedback.patterns == ["refused"]
    assert events(store)[-1].payload["reason"] == "insufficient_funds"

    engine.record_topup(GUEST, 5_000, "cash", ATTENDANT_ID)  # the minimum charge, prepaid
    clock.advance(5)
    guest_qr(engine)

    assert open_clients(store) == [GUEST]
    assert feedback.patterns == ["refused", "accepted"]


def test_the_attendant_starts_a_guest_without_money_and_the_money_never_ends_it(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    session = engine.start_session(GUEST, None, ATTENDANT_ID)
    clock.advance(3600)

    assert engine.tick() == []  # 900 ₽ run up, paid in person

    ended = engine.end_session(session.uuid, ATTENDANT_ID)
    assert ended.cost_kopecks == 90_000 and not ended.auto_ended


# --- running out ---------------------------------------------------------------------------------


def test_a_session_ends_by_itself_when_the_money_runs_out_charged_exactly_what_there_was(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=7_000)  # seven minutes
    engine.on_uid(IVAN_CARD)
    clock.advance(420)
    assert engine.tick() == []  # the seventh minute is paid for to its end

    clock.advance(1)
    (ended,) = engine.tick()

    assert (ended.duration_s, ended.cost_kopecks) == (420, 7_000)
    assert (ended.auto_ended, ended.end_method, ended.ended_by) == (True, "auto", "auto")
    assert store.balance_of(IVAN) == 0
    assert feedback.patterns == ["accepted", "attention"]
    assert engine.last_feedback is not None
    assert (engine.last_feedback.code, engine.last_feedback.reason) == (
        "funds_ended",
        "Средства закончились: сеанс завершён",
    )
    finished = events(store, "session.ended")[0]
    assert (finished.actor, finished.payload["auto"], finished.payload["cost_kopecks"]) == (
        "auto",
        True,
        7_000,
    )
    assert engine.tick() == []


def test_a_late_tick_ends_at_the_last_second_paid_for_not_when_it_looked(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=7_500)  # seven minutes and 5 ₽ that buy no eighth
    engine.on_uid(IVAN_CARD)
    clock.advance(900)  # the stand was busy: the tick comes eight minutes late

    (ended,) = engine.tick()

    assert (ended.duration_s, ended.cost_kopecks) == (420, 7_000)
    assert store.balance_of(IVAN) == 500


def test_a_top_up_during_the_wash_moves_the_end(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=7_000)
    engine.on_uid(IVAN_CARD)
    clock.advance(400)
    engine.record_topup(IVAN, 10_000, "cash", ATTENDANT_ID)
    clock.advance(21)

    assert engine.tick() == []  # 170 ₽ now: seventeen minutes

    clock.advance(600)
    (ended,) = engine.tick()
    assert (ended.duration_s, ended.cost_kopecks) == (1_020, 17_000)
    assert store.balance_of(IVAN) == 0


def test_the_overdraft_lets_a_member_start_and_ends_the_wash_at_the_limit(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.overdraft_limit_kopecks = 50_000  # the stand's default, beaten by the client's own
    engine = Engine(store, feedback, config, clock)
    store.load_directory(
        validate_directory(
            with_client(directory_doc(version=VERSION + 1), PETR, overdraft_limit_kopecks=10_000)
        ),
        clock.now(),
    )

    engine.on_uid(PETR_CARD)
    clock.advance(601)
    (ended,) = engine.tick()

    assert (ended.duration_s, ended.cost_kopecks) == (600, 10_000)
    assert store.balance_of(PETR) == -10_000


def test_points_pay_for_the_time_they_are_worth(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=3_000, points_balance=40, points_spending="points_first")
    engine.on_uid(IVAN_CARD)
    clock.advance(1000)

    (ended,) = engine.tick()

    assert (ended.duration_s, ended.cost_kopecks) == (420, 7_000)
    assert (store.balance_of(IVAN), store.points_of(IVAN)) == (0, 0)
    assert events(store, "session.ended")[0].payload["points_spent"] == 40


def test_a_session_the_attendant_started_for_a_member_ends_when_the_money_runs_out(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, balance_kopecks=6_000)
    engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(361)

    (ended,) = engine.tick()

    assert (ended.start_method, ended.duration_s, ended.cost_kopecks) == ("screen", 360, 6_000)


def test_a_prepaid_guest_session_ends_when_the_prepayment_is_spent(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.record_topup(GUEST, 6_000, "cash", ATTENDANT_ID)  # four minutes at 15 ₽
    guest_qr(engine)
    clock.advance(300)

    (ended,) = engine.tick()

    assert (ended.client_id, ended.duration_s, ended.cost_kopecks) == (GUEST, 240, 6_000)
    assert store.balance_of(GUEST) == 0


def test_the_maximum_duration_ends_first_when_it_comes_before_the_money_runs_out(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.max_session_s = 300
    engine = Engine(store, feedback, config, clock)
    reload(store, clock, balance_kopecks=7_000)
    engine.on_uid(IVAN_CARD)
    clock.advance(1000)  # past both: the earlier one wins

    (ended,) = engine.tick()

    assert (ended.duration_s, ended.cost_kopecks) == (300, 5_000)
    assert engine.last_feedback is not None and engine.last_feedback.code == "auto_ended"


# --- one open session per client across posts ---------------------------------------------------


@pytest.mark.parametrize("show", ["card", "qr"])
def test_a_tap_of_a_client_with_a_session_open_at_another_stand_is_refused(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock, show: str
) -> None:
    reload(store, clock, open_session_stand_id=STAND_ID + 1)

    if show == "card":
        engine.on_uid(IVAN_CARD)
    else:
        engine.on_qr(qr_token(IVAN, "1" * 32))

    assert open_clients(store) == []
    assert feedback.patterns == ["refused"]
    assert engine.last_feedback is not None
    assert (engine.last_feedback.code, engine.last_feedback.reason) == (
        "open_elsewhere",
        "Сеанс клиента уже идёт на другом посту",
    )
    [refused] = events(store)  # nothing but the refusal
    assert (refused.type, refused.payload["reason"], refused.payload["client_id"]) == (
        "tap.refused",
        "open_elsewhere",
        IVAN,
    )
    assert store.balance_of(IVAN) == 100_000


def test_a_session_the_directory_shows_open_here_does_not_hold_a_tap_back(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, open_session_stand_id=STAND_ID)  # this stand's own, ended since

    engine.on_uid(IVAN_CARD)

    assert open_clients(store) == [IVAN]


def test_the_attendant_may_start_a_client_open_elsewhere_deliberately(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, open_session_stand_id=STAND_ID + 1)

    session = engine.start_session(IVAN, None, ATTENDANT_ID)

    assert (session.client_id, session.start_method) == (IVAN, "screen")


def test_once_the_other_session_ends_the_client_may_start_here(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    reload(store, clock, open_session_stand_id=STAND_ID + 1)
    engine.on_uid(IVAN_CARD)
    doc = directory_doc(version=VERSION + 2)  # the other stand's end has come down
    store.load_directory(validate_directory(doc), clock.now())
    clock.advance(5)

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["refused", "accepted"]
    assert open_clients(store) == [IVAN]
