"""The session engine's rules as a customer and an attendant see them: lights, sessions,
charges and the events waiting for the central service."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import LocalSession, Store
from sync import qrtoken
from sync.directory import validate_directory
from sync.errors import RuleError
from tests.edge.conftest import (
    ATTENDANT_ID,
    BLOCKED,
    BLOCKED_CARD,
    EXPRESS,
    EXPRESS_CARD,
    EXPRESS_FAN,
    EXPRESS_NOW,
    GUEST,
    IVAN,
    IVAN_CARD,
    IVAN_LOST_CARD,
    IVAN_QR_ID,
    OLD,
    OTHER_PRIVATE_PEM,
    PETR,
    PETR_CARD,
    QR_PRIVATE_PEM,
    REVOKED_QR_ID,
    STAND_ID,
    STANDARD_NOW,
    VERSION,
    FakeClock,
    RecordingFeedback,
    directory_doc,
    events,
    qr_token,
    with_client,
)


def open_sessions(store: Store) -> list[LocalSession]:
    sessions = store.tables.LocalSession
    return list(sessions.select().where(sessions.ended_at.is_null()))


def reload(store: Store, clock: FakeClock, doc: dict[str, Any]) -> None:
    store.load_directory(validate_directory(doc), clock.now())


# --- start and end by card -------------------------------------------------------------------


def test_first_tap_starts_a_session_and_lights_accepted(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted"]
    (session,) = open_sessions(store)
    assert (session.client_id, session.tariff_version_id, session.start_method) == (
        IVAN,
        STANDARD_NOW,
        "card",
    )
    (event,) = events(store)
    assert (event.seq, event.type, event.actor, event.stand_id) == (
        1,
        "session.started",
        "card",
        STAND_ID,
    )
    assert event.directory_version == VERSION
    assert event.occurred_at == clock.now()
    assert event.boot_id == clock.boot_id and event.mono_ms == clock.mono // 1_000_000
    assert event.payload == {
        "session_uuid": session.uuid,
        "client_id": IVAN,
        "client_uuid": None,
        "tariff_version_id": STANDARD_NOW,
        "client_kind": "member",
        "method": "card",
        "credential_kind": "card",
        "credential_value": IVAN_CARD,
    }
    assert (session.credential_kind, session.credential_value) == ("card", IVAN_CARD)
    assert engine.last_feedback is not None
    assert (engine.last_feedback.pattern, engine.last_feedback.code) == ("accepted", "started")


def test_second_tap_ends_the_session_and_charges_the_tariff_price(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(10 * 60 + 30)

    engine.on_uid(IVAN_CARD)

    # 10 min 30 s is 11 started minutes at 10 ₽ (the later 99,99 ₽ version is not in force yet).
    cost = 11 * 1000
    assert feedback.patterns == ["accepted", "ended"]
    session = store.tables.LocalSession.get()
    assert (session.duration_s, session.cost_kopecks, session.end_method) == (630, cost, "card")
    assert session.ended_at == clock.now() and not session.auto_ended
    assert store.balance_of(IVAN) == 100_000 - cost
    ended = events(store, "session.ended")[0]
    assert (ended.seq, ended.actor) == (2, "card")
    assert ended.payload == {
        "session_uuid": session.uuid,
        "duration_s": 630,
        "cost_kopecks": cost,
        "method": "card",
        "auto": False,
        "comment": "",
    }
    (charge,) = store.tables.LocalLedger.select()
    assert (charge.kind, charge.amount_kopecks, charge.event_id) == ("charge", -cost, ended.id)


def test_a_short_session_costs_the_minimum_charge_and_one_within_grace_is_free(
    engine: Engine, store: Store, clock: FakeClock, config: EdgeConfig
) -> None:
    config.end_guard_s = 0  # a 5 s wash ended by a tap: no guard against an early end
    engine.on_uid(IVAN_CARD)
    clock.advance(5)
    engine.on_uid(IVAN_CARD)
    clock.advance(3)
    engine.on_uid(IVAN_CARD)
    clock.advance(75)
    engine.on_uid(IVAN_CARD)

    costs = [
        s.cost_kopecks
        for s in store.tables.LocalSession.select().order_by(store.tables.LocalSession.started_at)
    ]
    assert costs == [0, 5000]  # 5 s is within 10 s of grace; 75 s is 2 minutes, below 50 ₽
    assert store.balance_of(IVAN) == 100_000 - 5000


def test_card_uid_is_read_whatever_its_case_and_separators(engine: Engine) -> None:
    engine.on_uid("04:a1:b2:c3:d4:e5:f6")

    assert [s.client_id for s in open_sessions(engine.store)] == [IVAN]


def test_a_second_tap_within_two_seconds_of_the_start_is_a_bounce(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock, config: EdgeConfig
) -> None:
    config.end_guard_s = 0  # the bounce window alone, not the guard against an early end
    engine.on_uid(IVAN_CARD)
    clock.advance(1.5)
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted"]
    assert len(open_sessions(store)) == 1
    assert len(events(store)) == 1

    clock.advance(1)
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted", "ended"]
    assert open_sessions(store) == []


def test_a_bounce_right_after_the_end_does_not_start_a_new_session(
    engine: Engine, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    engine.on_uid(IVAN_CARD)
    clock.advance(0.5)
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted", "ended"]
    assert open_sessions(engine.store) == []


def test_sessions_of_different_clients_run_alongside(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock, config: EdgeConfig
) -> None:
    config.one_session_per_post = False  # a stand serving several cars at once
    engine.on_uid(IVAN_CARD)
    engine.on_uid(EXPRESS_CARD)
    clock.advance(120)
    engine.on_uid(IVAN_CARD)

    assert [s.client_id for s in open_sessions(store)] == [EXPRESS_FAN]
    assert feedback.patterns == ["accepted", "accepted", "ended"]
    assert [e.seq for e in events(store)] == [1, 2, 3]


def test_the_clients_default_tariff_is_used_before_the_stands(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.on_uid(EXPRESS_CARD)
    clock.advance(3 * 60)
    engine.on_uid(EXPRESS_CARD)

    session = store.tables.LocalSession.get()
    assert session.tariff_version_id == EXPRESS_NOW
    assert session.cost_kopecks == 3 * 2000


def test_an_inactive_default_tariff_falls_back_to_the_stands(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, with_client(directory_doc(), EXPRESS_FAN, default_tariff_id=OLD))

    engine.on_uid(EXPRESS_CARD)

    assert open_sessions(store)[0].tariff_version_id == STANDARD_NOW


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "reason", "client_id"),
    [
        ("DEADBEEF", "unknown", None),
        (IVAN_LOST_CARD, "lost", IVAN),
        (BLOCKED_CARD, "blocked", BLOCKED),
        (PETR_CARD, "insufficient_funds", PETR),
    ],
)
def test_a_refused_card_lights_red_and_is_recorded(
    engine: Engine,
    store: Store,
    feedback: RecordingFeedback,
    uid: str,
    reason: str,
    client_id: int | None,
) -> None:
    engine.on_uid(uid)

    assert feedback.patterns == ["refused"]
    assert store.tables.LocalSession.select().count() == 0
    (event,) = events(store)
    assert (event.type, event.actor, event.seq) == ("tap.refused", "card", 1)
    assert event.payload == {
        "credential_kind": "card",
        "credential_value": uid,
        "reason": reason,
        "client_id": client_id,
    }
    assert engine.last_feedback is not None
    assert (engine.last_feedback.pattern, engine.last_feedback.code) == ("refused", reason)
    assert engine.last_feedback.reason  # a message for the screen


def test_a_lost_card_cannot_end_the_session_either(
    engine: Engine, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    engine.on_uid(IVAN_LOST_CARD)

    assert feedback.patterns == ["accepted", "refused"]
    assert len(open_sessions(engine.store)) == 1


def test_a_client_blocked_during_the_session_can_still_end_it(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    reload(store, clock, with_client(directory_doc(version=VERSION + 1), IVAN, blocked=True))
    clock.advance(60)

    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted", "ended", "refused"]
    assert open_sessions(store) == []


def test_no_tariff_in_force_refuses_the_start(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    reload(store, clock, directory_doc(version=VERSION + 1, default_tariff_id=None))

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["refused"]
    assert events(store)[0].payload["reason"] == "no_tariff"


# --- QR codes ----------------------------------------------------------------------------------


def test_a_valid_qr_code_starts_and_ends_a_session(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    clock.advance(60)
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))

    assert feedback.patterns == ["accepted", "ended"]
    session = store.tables.LocalSession.get()
    assert (session.start_method, session.end_method, session.cost_kopecks) == ("qr", "qr", 5000)
    assert [e.actor for e in events(store)] == ["qr", "qr"]


def test_a_card_can_end_a_session_started_by_qr(
    engine: Engine, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    engine.on_qr(qr_token(IVAN, IVAN_QR_ID))
    clock.advance(60)
    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["accepted", "ended"]
    assert engine.store.tables.LocalSession.get().end_method == "card"


def test_a_code_printed_in_the_long_form_still_works_and_is_the_same_token(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    """Codes printed before the compact form hold "AQ1." tokens; the same token id in either
    form is one credential: the long one starts, the compact one ends, a revoked one is refused."""
    claims = qrtoken.QrClaims(IVAN_QR_ID, IVAN, 1_700_000_000)
    engine.on_qr(qrtoken.sign_v1(QR_PRIVATE_PEM, claims))
    clock.advance(60)
    engine.on_qr(qrtoken.sign(QR_PRIVATE_PEM, claims))
    engine.on_qr(qrtoken.sign_v1(QR_PRIVATE_PEM, qrtoken.QrClaims(REVOKED_QR_ID, IVAN, 1)))

    assert feedback.patterns == ["accepted", "ended", "refused"]
    session = store.tables.LocalSession.get()
    assert (session.start_method, session.end_method) == ("qr", "qr")


def test_a_qr_issued_after_the_directory_is_accepted_by_its_signature(
    engine: Engine, feedback: RecordingFeedback
) -> None:
    engine.on_qr(qr_token(IVAN, "3" * 32))

    assert feedback.patterns == ["accepted"]


def test_a_qr_code_signed_with_another_key_is_refused_as_forged(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    forged = qr_token(IVAN, IVAN_QR_ID, key=OTHER_PRIVATE_PEM)

    engine.on_qr(forged)

    assert feedback.patterns == ["refused"]
    assert store.tables.LocalSession.select().count() == 0
    (event,) = events(store)
    assert event.payload == {
        "credential_kind": "qr",
        "credential_value": forged,
        "reason": "forged",
        "client_id": None,
    }


@pytest.mark.parametrize("text", ["https://example.ru/", "", "AQ1.x.y", "Я" * 2000])
def test_any_other_scanned_text_is_refused_as_forged(
    engine: Engine, store: Store, feedback: RecordingFeedback, text: str
) -> None:
    engine.on_qr(text)

    assert feedback.patterns == ["refused"]
    payload = events(store)[0].payload
    assert payload["reason"] == "forged"
    assert payload["credential_value"] == text[:512]


def test_a_revoked_qr_code_is_refused(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    engine.on_qr(qr_token(IVAN, REVOKED_QR_ID))

    assert feedback.patterns == ["refused"]
    payload = events(store)[0].payload
    assert (payload["reason"], payload["credential_value"], payload["client_id"]) == (
        "revoked",
        REVOKED_QR_ID,
        IVAN,
    )


def test_a_qr_code_of_a_client_not_in_the_directory_is_unknown(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    engine.on_qr(qr_token(999, "4" * 32))

    assert feedback.patterns == ["refused"]
    assert events(store)[0].payload["reason"] == "unknown"


# --- balances ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("balance", "pattern"), [(-5_000, "accepted"), (-5_001, "refused")])
def test_a_member_may_start_only_with_the_minimum_charge_within_balance_and_overdraft(
    store: Store,
    feedback: RecordingFeedback,
    config: EdgeConfig,
    clock: FakeClock,
    balance: int,
    pattern: str,
) -> None:
    config.overdraft_limit_kopecks = 10_000
    engine = Engine(store, feedback, config, clock)
    reload(store, clock, with_client(directory_doc(), PETR, balance_kopecks=balance))

    engine.on_uid(PETR_CARD)

    assert feedback.patterns == [pattern]


def test_the_clients_own_overdraft_limit_wins_over_the_stands(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    reload(store, clock, with_client(directory_doc(), PETR, overdraft_limit_kopecks=50_000))

    engine.on_uid(PETR_CARD)

    assert feedback.patterns == ["accepted"]


def test_the_clients_own_overdraft_of_zero_wins_over_the_stands(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.overdraft_limit_kopecks = 50_000
    engine = Engine(store, feedback, config, clock)
    reload(store, clock, with_client(directory_doc(), PETR, overdraft_limit_kopecks=0))

    engine.on_uid(PETR_CARD)

    assert feedback.patterns == ["refused"]
    assert events(store)[0].payload["reason"] == "insufficient_funds"


def test_a_negative_balance_after_the_end_asks_for_the_attendant(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.overdraft_limit_kopecks = 10_000
    engine = Engine(store, feedback, config, clock)

    engine.on_uid(PETR_CARD)
    clock.advance(10 * 60)
    engine.on_uid(PETR_CARD)

    assert feedback.patterns == ["accepted", "attention"]
    assert store.balance_of(PETR) == -10_000
    assert engine.last_feedback is not None and engine.last_feedback.code == "negative"
    clock.advance(3)
    engine.on_uid(PETR_CARD)
    assert feedback.patterns[-1] == "refused"


def test_a_guest_starts_without_money_and_pays_at_the_end(
    engine: Engine, store: Store, feedback: RecordingFeedback, clock: FakeClock
) -> None:
    session = engine.start_session(GUEST, None, ATTENDANT_ID)
    clock.advance(4 * 60)

    ended = engine.end_session(session.uuid, ATTENDANT_ID, comment="  Помыл коврики  ")

    assert feedback.patterns == ["accepted", "attention"]
    assert (ended.client_kind, ended.cost_kopecks) == ("guest", 4 * 1500 + 0)
    assert (ended.end_method, ended.ended_by, ended.comment) == ("screen", "7", "Помыл коврики")
    assert store.balance_of(GUEST) == -6000
    started, finished = events(store)
    assert (started.actor, started.payload["method"]) == (str(ATTENDANT_ID), "screen")
    assert finished.payload["comment"] == "Помыл коврики"


def test_a_stale_directory_refuses_a_members_card_start_but_not_the_attendants(
    engine: Engine, store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    clock.advance(config.directory_max_age_s + 1)

    engine.on_uid(IVAN_CARD)

    assert feedback.patterns == ["refused"]
    assert engine.last_feedback is not None and engine.last_feedback.code == "stale_directory"
    [refused] = events(store)
    assert (refused.type, refused.payload["reason"]) == ("tap.refused", "stale_directory")
    assert store.tables.LocalSession.select().count() == 0
    # An attendant, who takes payment in person, may still start one on the screen.
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    assert (session.client_id, session.start_method) == (IVAN, "screen")


# --- the screen ------------------------------------------------------------------------------


def test_the_screen_starts_a_session_with_a_chosen_tariff(engine: Engine, clock: FakeClock) -> None:
    session = engine.start_session(IVAN, EXPRESS, ATTENDANT_ID)
    clock.advance(60)
    ended = engine.end_session(session.uuid, ATTENDANT_ID, method="dashboard")

    assert session.tariff_version_id == EXPRESS_NOW
    assert (ended.cost_kopecks, ended.end_method) == (2000, "dashboard")


@pytest.mark.parametrize(
    ("client_id", "tariff_id", "code"),
    [
        (BLOCKED, None, "blocked"),
        (PETR, None, "insufficient_funds"),  # a member needs money on the screen too
        (999, None, "unknown"),
        (IVAN, OLD, "no_tariff"),
        (IVAN, 999, "no_tariff"),
    ],
)
def test_the_screen_refuses_a_start_with_the_reason_and_stores_nothing(
    engine: Engine,
    store: Store,
    feedback: RecordingFeedback,
    client_id: int,
    tariff_id: int | None,
    code: str,
) -> None:
    with pytest.raises(RuleError) as info:
        engine.start_session(client_id, tariff_id, ATTENDANT_ID)

    assert info.value.code == code and info.value.message
    assert store.tables.LocalSession.select().count() == 0
    assert store.tables.Outbox.select().count() == 0
    assert feedback.patterns == []


def test_the_screen_does_not_start_a_second_session_or_end_one_twice(
    engine: Engine, clock: FakeClock
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    with pytest.raises(RuleError) as twice:
        engine.start_session(IVAN, None, ATTENDANT_ID)
    engine.end_session(session.uuid, ATTENDANT_ID)
    with pytest.raises(RuleError) as ended:
        engine.end_session(session.uuid, ATTENDANT_ID)
    with pytest.raises(RuleError) as missing:
        engine.end_session("no-such-session", ATTENDANT_ID)

    assert (twice.value.code, ended.value.code, missing.value.code) == (
        "already_open",
        "not_open",
        "not_open",
    )
    assert engine.store.tables.Outbox.select().count() == 2


def test_a_too_long_comment_is_refused(engine: Engine) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)

    with pytest.raises(RuleError) as info:
        engine.end_session(session.uuid, ATTENDANT_ID, comment="x" * 2001)

    assert info.value.code == "bad_comment"
    assert len(open_sessions(engine.store)) == 1


def test_a_topup_raises_the_balance_and_is_recorded(engine: Engine, store: Store) -> None:
    topup_uuid = engine.record_topup(PETR, 30_000, "cash", ATTENDANT_ID)

    assert store.balance_of(PETR) == 30_000
    (event,) = events(store)
    assert (event.type, event.actor) == ("topup.recorded", str(ATTENDANT_ID))
    assert event.payload == {
        "topup_uuid": topup_uuid,
        "client_id": PETR,
        "client_uuid": None,
        "amount_kopecks": 30_000,
        "method": "cash",
    }
    engine.on_uid(PETR_CARD)
    assert len(open_sessions(store)) == 1


@pytest.mark.parametrize(
    ("client_id", "amount", "method", "code"),
    [
        (PETR, 0, "cash", "bad_amount"),
        (PETR, -100, "cash", "bad_amount"),
        (PETR, 100_000_001, "cash", "bad_amount"),
        (PETR, True, "cash", "bad_amount"),
        (PETR, 100, "bitcoin", "bad_method"),
        (999, 100, "cash", "unknown"),
    ],
)
def test_a_bad_topup_is_refused_and_stores_nothing(
    engine: Engine, store: Store, client_id: int, amount: Any, method: str, code: str
) -> None:
    with pytest.raises(RuleError) as info:
        engine.record_topup(client_id, amount, method, ATTENDANT_ID)

    assert info.value.code == code
    assert (
        store.tables.LocalLedger.select().count() == 0 and store.tables.Outbox.select().count() == 0
    )


# --- forgotten sessions ----------------------------------------------------------------------


def test_a_session_past_the_maximum_duration_ends_by_itself(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.max_session_s = 3600
    engine = Engine(store, feedback, config, clock)
    engine.on_uid(IVAN_CARD)
    clock.advance(3599)
    assert engine.tick() == []
    clock.advance(61)

    (ended,) = engine.tick()

    assert (ended.auto_ended, ended.end_method, ended.ended_by) == (True, "auto", "auto")
    assert (ended.duration_s, ended.cost_kopecks) == (3600, 60 * 1000)  # billed for the maximum
    assert feedback.patterns == ["accepted", "attention"]
    event = events(store, "session.ended")[0]
    assert (event.actor, event.payload["auto"], event.payload["method"]) == ("auto", True, "auto")
    assert engine.tick() == []


def test_a_session_reaching_the_maximum_amount_ends_by_itself(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    config.max_session_kopecks = 20_000
    config.one_session_per_post = False  # two cars by card at one stand
    engine = Engine(store, feedback, config, clock)
    engine.on_uid(IVAN_CARD)
    engine.on_uid(EXPRESS_CARD)  # 20 ₽ a minute: reaches the amount first
    clock.advance(9 * 60)  # 180 ₽
    assert engine.tick() == []
    clock.advance(1)  # the tenth minute started: 200 ₽

    (ended,) = engine.tick()

    assert (ended.client_id, ended.cost_kopecks, ended.auto_ended) == (EXPRESS_FAN, 20_000, True)
    assert [s.client_id for s in open_sessions(store)] == [IVAN]


# --- time ------------------------------------------------------------------------------------


def test_after_a_reboot_the_duration_comes_from_the_wall_clock(
    engine: Engine, store: Store, clock: FakeClock, config: EdgeConfig, feedback: RecordingFeedback
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.reboot(down_s=5 * 60)
    restarted = Engine(store, feedback, config, clock)

    restarted.on_uid(IVAN_CARD)

    session = store.tables.LocalSession.get()
    assert session.duration_s == 5 * 60
    assert events(store)[-1].boot_id == clock.boot_id


def test_within_a_boot_the_duration_ignores_a_wall_clock_jump(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(120)
    clock.wall = clock.wall.replace(year=2031)  # the clock was set from the network meanwhile

    engine.on_uid(IVAN_CARD)

    assert engine.store.tables.LocalSession.get().duration_s == 120


# --- durability ------------------------------------------------------------------------------


def test_event_numbers_continue_after_the_store_is_reopened(
    engine: Engine, store: Store, config: EdgeConfig, clock: FakeClock, feedback: RecordingFeedback
) -> None:
    engine.on_uid(IVAN_CARD)
    engine.on_uid("DEADBEEF")
    store.close()

    reopened = Store(config.database_path)
    Engine(reopened, feedback, config, clock).on_uid(PETR_CARD)

    assert [e.seq for e in events(reopened)] == [1, 2, 3]
    assert len({e.id for e in events(reopened)}) == 3
    reopened.close()


def test_a_crash_between_the_write_and_the_light_keeps_the_session_and_its_event(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    feedback.fail = True

    with pytest.raises(RuntimeError):
        engine.on_uid(IVAN_CARD)

    (session,) = open_sessions(store)
    (event,) = events(store)
    assert event.payload["session_uuid"] == session.uuid


def test_a_failure_inside_the_transaction_leaves_neither_session_nor_event(
    engine: Engine, store: Store, feedback: RecordingFeedback, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(store, "append_event", broken)
        with pytest.raises(OSError):
            engine.on_uid(IVAN_CARD)

    assert store.tables.LocalSession.select().count() == 0
    assert store.tables.Outbox.select().count() == 0
    assert feedback.patterns == []
    engine.on_uid(IVAN_CARD)
    assert [e.seq for e in events(store)] == [1]


def test_a_failure_while_ending_keeps_the_session_open_and_uncharged(
    engine: Engine, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(60)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(store, "add_ledger_entry", broken)
        with pytest.raises(OSError):
            engine.on_uid(IVAN_CARD)

    assert len(open_sessions(store)) == 1
    assert [e.type for e in events(store)] == ["session.started"]
    assert store.balance_of(IVAN) == 100_000


def test_an_unprovisioned_stand_has_no_engine(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig
) -> None:
    config.stand_id = 0

    with pytest.raises(ValueError, match="stand_id"):
        Engine(store, feedback, config)


def test_the_directory_is_stale_after_the_configured_age(
    engine: Engine, config: EdgeConfig, clock: FakeClock
) -> None:
    assert not engine.directory_is_stale()
    clock.advance(config.directory_max_age_s + 1)
    assert engine.directory_is_stale()


def test_running_cost_follows_the_clock(engine: Engine, clock: FakeClock) -> None:
    engine.on_uid(IVAN_CARD)
    (session,) = open_sessions(engine.store)
    clock.advance(7 * 60 + 1)

    assert engine.elapsed_s(session) == 7 * 60 + 1
    assert engine.running_cost(session) == 8 * 1000


def test_a_bystander_tap_unrelated_to_the_session_is_refused(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    engine.on_uid(IVAN_CARD)
    engine.on_uid("CAFEBABE")

    assert feedback.patterns == ["accepted", "refused"]
    assert len(open_sessions(store)) == 1


def test_taps_from_several_threads_are_numbered_without_gaps(engine: Engine, store: Store) -> None:
    def tap_many(prefix: str) -> None:
        try:
            for n in range(40):
                engine.on_uid(f"{prefix}{n:06X}")
        finally:
            store.database.close()  # this thread's connection

    threads = [threading.Thread(target=tap_many, args=(p,)) for p in ("AA", "BB", "CC")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [e.seq for e in events(store)] == list(range(1, 121))
    assert store.next_seq() == 121
