"""The tap and scan rules end to end: cards presented by nfcpy on its udp link to the stand's
real nfcpy reader (debounce, blocked, lost, insufficient funds, auto-stop), a forged QR code dropped
into the camera's inbox; checked in ``GET /api/state``, the outbox and the MockFactory pins."""

from __future__ import annotations

from typing import Any

from edge.camera import drop_qr_text
from edge.engine import MESSAGES
from hardware.nfc import emulate_card
from tests.edge.conftest import (
    BLOCKED,
    BLOCKED_CARD,
    EXPRESS_CARD,
    EXPRESS_FAN,
    IVAN,
    IVAN_CARD,
    IVAN_LOST_CARD,
    IVAN_QR_ID,
    OTHER_PRIVATE_PEM,
    PETR,
    PETR_CARD,
    TAP_S,
    WAIT_S,
    Running,
    StartStand,
    directory_doc,
    events,
    pattern,
    pin_history,
    qr_token,
    wait_for,
    wait_state,
    with_client,
)


def rises(history: list[float]) -> int:
    """How many times a pin went from off to fully on."""
    return sum(
        1
        for before, after in zip([0.0, *history[:-1]], history, strict=True)
        if before < 1 <= after
    )


def assert_refused(running: Running, code: str, client_id: int | None, value: str) -> None:
    """The tap was refused with ``code``: red light, one tap.refused event, no session."""
    stand, config = running.stand, running.stand.config
    state = wait_state(running.url, f"the refusal ({code})", lambda s: pattern(s) == "refused")
    assert state["last_feedback"]["reason"] == MESSAGES[code]
    assert state["open_sessions"] == []
    assert state["outbox"] == 1
    [refused] = events(stand.store)
    assert refused.type == "tap.refused"
    assert refused.payload["reason"] == code
    assert refused.payload["client_id"] == client_id
    assert refused.payload["credential_value"] == value
    assert running.stand.store.tables.LocalSession.select().count() == 0
    assert 1.0 in pin_history(stand, config.pin_red)
    assert 1.0 in pin_history(stand, config.pin_buzzer)
    assert 1.0 not in pin_history(stand, config.pin_green)


def test_a_card_held_over_many_polls_and_put_back_at_once_is_one_tap(
    start_stand: StartStand,
) -> None:
    # No bounce guard in the engine: only the reader's debounce keeps this one tap (and no
    # guard against an early end, so that the next tap ends the session at once).
    running = start_stand(tap_repeat_s=0.0, end_guard_s=0)
    stand, config = running.stand, running.stand.config

    # Held for four poll cycles and more, lifted, and put back within the debounce window.
    emulate_card(running.nfc, IVAN_CARD, duration_s=2 * TAP_S)
    emulate_card(running.nfc, IVAN_CARD, duration_s=TAP_S)
    running.let_the_card_go()

    state = wait_state(running.url, "the session", lambda s: len(s["open_sessions"]) == 1)
    assert state["open_sessions"][0]["client_id"] == IVAN
    assert pattern(state) == "accepted"
    assert state["outbox"] == 1
    assert [event.type for event in events(stand.store)] == ["session.started"]
    assert rises(pin_history(stand, config.pin_green)) == 1  # one green light, not two
    assert 1.0 not in pin_history(stand, config.pin_blue)  # no end

    # A new tap after the card has been away longer than the window ends the session.
    running.tap(IVAN_CARD)
    state = wait_state(running.url, "the end", lambda s: pattern(s) == "ended")
    assert state["open_sessions"] == []
    assert [event.type for event in events(stand.store)] == ["session.started", "session.ended"]


def test_a_blocked_clients_card_is_refused(running: Running) -> None:
    running.tap(BLOCKED_CARD)
    assert_refused(running, "blocked", BLOCKED, BLOCKED_CARD)


def test_a_lost_card_is_refused(running: Running) -> None:
    running.tap(IVAN_LOST_CARD)
    assert_refused(running, "lost", IVAN, IVAN_LOST_CARD)


def test_a_qr_code_signed_with_another_key_is_refused(running: Running) -> None:
    stand, config = running.stand, running.stand.config
    forged = qr_token(IVAN, IVAN_QR_ID, OTHER_PRIVATE_PEM)

    drop_qr_text(stand.camera_inbox, forged)

    state = wait_state(running.url, "the refusal", lambda s: pattern(s) == "refused")
    assert state["last_feedback"]["reason"] == MESSAGES["forged"]
    assert state["open_sessions"] == []
    assert state["devices"]["camera"]["frames_seen"] == 1
    [refused] = events(stand.store)
    assert refused.type == "tap.refused"
    assert refused.payload["reason"] == "forged"
    assert refused.payload["credential_kind"] == "qr"
    assert refused.payload["client_id"] is None  # a forged token's claims are not trusted
    assert running.stand.store.tables.LocalSession.select().count() == 0
    assert 1.0 in pin_history(stand, config.pin_red)
    assert 1.0 not in pin_history(stand, config.pin_green)


def test_another_clients_card_at_a_busy_post_is_refused(running: Running) -> None:
    stand, config = running.stand, running.stand.config
    running.tap(IVAN_CARD)
    wait_state(running.url, "Ivan's session", lambda s: len(s["open_sessions"]) == 1)
    assert 1.0 not in pin_history(stand, config.pin_red)

    running.tap(EXPRESS_CARD)

    state = wait_state(running.url, "the refusal", lambda s: pattern(s) == "refused")
    assert state["last_feedback"]["reason_code"] == "post_busy"
    assert state["last_feedback"]["reason"] == MESSAGES["post_busy"]
    assert [s["client_id"] for s in state["open_sessions"]] == [IVAN]
    started, refused = events(stand.store)
    assert started.type == "session.started"
    assert (refused.type, refused.payload["reason"]) == ("tap.refused", "post_busy")
    assert refused.payload["client_id"] == EXPRESS_FAN
    assert refused.payload["credential_value"] == EXPRESS_CARD
    assert stand.store.tables.LocalSession.select().count() == 1
    assert stand.store.tables.LocalLedger.select().count() == 0
    assert 1.0 in pin_history(stand, config.pin_red)  # the red light of a refusal


def test_a_member_without_the_minimum_charge_is_refused(start_stand: StartStand) -> None:
    # 50 ₽ of overdraft, 0,01 ₽ owed: 49,99 ₽ to wash with, the minimum charge is 50 ₽.
    document = with_client(directory_doc(), PETR, balance_kopecks=-1, overdraft_limit_kopecks=5_000)
    running = start_stand(document)

    running.tap(PETR_CARD)

    assert_refused(running, "insufficient_funds", PETR, PETR_CARD)
    assert running.stand.store.balance_of(PETR) == -1


def test_a_member_whose_overdraft_covers_the_minimum_charge_may_start(
    start_stand: StartStand,
) -> None:
    document = with_client(directory_doc(), PETR, balance_kopecks=0, overdraft_limit_kopecks=5_000)
    running = start_stand(document)

    running.tap(PETR_CARD)

    state = wait_state(running.url, "the start", lambda s: len(s["open_sessions"]) == 1)
    assert state["open_sessions"][0]["client_id"] == PETR
    assert pattern(state) == "accepted"


def test_a_forgotten_session_ends_by_itself(start_stand: StartStand) -> None:
    document = directory_doc()
    document["tariffs"][0]["versions"][0]["rates"]["grace_s"] = 0  # "Стандарт": no free time
    running = start_stand(document, max_session_s=3)
    stand, config = running.stand, running.stand.config

    running.tap(IVAN_CARD)
    wait_state(running.url, "the start", lambda s: len(s["open_sessions"]) == 1)

    state = wait_state(
        running.url,
        "the automatic end",
        lambda s: s["open_sessions"] == [] and pattern(s) == "attention",
    )
    assert state["last_feedback"]["reason"] == MESSAGES["auto_ended"]
    assert state["outbox"] == 2
    started, ended = events(stand.store)
    assert (started.type, ended.type) == ("session.started", "session.ended")
    assert ended.actor == "auto"
    payload: dict[str, Any] = dict(ended.payload)
    assert payload["method"] == "auto"
    assert payload["auto"] is True
    assert payload["duration_s"] == 3  # billed for exactly the maximum
    session = stand.store.tables.LocalSession.get_by_id(payload["session_uuid"])
    assert session.auto_ended and session.end_method == "auto" and session.duration_s == 3
    # One started minute at 10 ₽, raised to the minimum charge of 50 ₽, charged to the balance.
    assert payload["cost_kopecks"] == 5_000
    [charge] = stand.store.tables.LocalLedger.select()
    assert (charge.event_id, charge.amount_kopecks) == (ended.id, -5_000)
    assert stand.store.balance_of(IVAN) == 100_000 - 5_000
    # Amber (red full, green half) blinking three times with beeps, once played through.
    assert stand.feedback is not None and stand.feedback.wait_idle(WAIT_S)
    assert rises(pin_history(stand, config.pin_red)) == 3
    assert 0.5 in pin_history(stand, config.pin_green)
    assert rises(pin_history(stand, config.pin_buzzer)) == 1 + 3  # accepted, then attention

    # Held no longer: the card is not taken for a new tap after the automatic end.
    running.let_the_card_go()
    wait_for("no new session", lambda: stand.store.tables.LocalSession.select().count() == 1)
    assert len(events(stand.store)) == 2
