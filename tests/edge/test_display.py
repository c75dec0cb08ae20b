"""The customer's display (edge/display.py) on the engine with the test's clock: every kind,
the figures of the session the verdict names, the fall-back once the verdict has shown for
``VERDICT_SHOW_S``, and the page and its JSON at ``/customer`` (no log-in, Russian or
English)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from edge.config import EdgeConfig
from edge.display import IDLE_TEXT, VERDICT_SHOW_S, Display, customer_display
from edge.engine import Engine
from edge.refusals import REFUSAL_TEXTS
from edge.screen import create_state_app
from edge.stand import StandParts, state_of
from edge.store import Store
from tests.edge.conftest import (
    ATTENDANT_ID,
    BLOCKED_CARD,
    EXPRESS_CARD,
    GUEST,
    IVAN_CARD,
    IVAN_LOST_CARD,
    PETR_CARD,
    FakeClock,
    RecordingFeedback,
)

IDLE = Display("idle", "Приложите карту или покажите QR-код")
IVAN_STARTED = Display("started", "Иван, сеанс начат. Тариф «Стандарт»", None, None, 100_000)


def devices() -> dict[str, Any]:
    return {"reader": {"state": "ok"}, "camera": {"state": "ok"}}


def test_nothing_happened_the_display_is_idle(engine: Engine) -> None:
    assert customer_display(engine) == IDLE
    assert IDLE.text == IDLE_TEXT


def test_a_start_shows_the_first_name_the_tariff_and_the_balance_then_the_running_session(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    assert customer_display(engine) == IVAN_STARTED  # "Иван", never "Иван Петров"

    clock.advance(VERDICT_SHOW_S - 0.5)
    assert customer_display(engine).kind == "started"  # still fresh
    clock.advance(0.5)
    # Eight seconds are inside the tariff's 10 free seconds: nothing to pay yet.
    assert customer_display(engine) == Display("running", "Сеанс идёт", VERDICT_SHOW_S, 0, 100_000)

    clock.advance(5 * 60 - VERDICT_SHOW_S)  # five minutes at 10 ₽
    assert customer_display(engine) == Display("running", "Сеанс идёт", 300, 5_000, 95_000)


def test_an_end_shows_the_duration_the_charge_and_the_balance_then_idle(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(7 * 60)
    engine.on_uid(IVAN_CARD)

    assert customer_display(engine) == Display("ended", "Сеанс завершён", 420, 7_000, 93_000)
    clock.advance(VERDICT_SHOW_S)
    assert customer_display(engine) == IDLE


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("DEADBEEF", "unknown"),
        (IVAN_LOST_CARD, "lost"),
        (BLOCKED_CARD, "blocked"),
        (PETR_CARD, "insufficient_funds"),  # no money and no overdraft allowed
    ],
)
def test_a_refusal_shows_its_reason_in_plain_words_then_idle(
    engine: Engine, clock: FakeClock, card: str, code: str
) -> None:
    engine.on_uid(card)
    assert customer_display(engine) == Display("refused", REFUSAL_TEXTS[code])
    clock.advance(VERDICT_SHOW_S)
    assert customer_display(engine) == IDLE


def test_a_second_client_at_a_busy_post_reads_post_busy_then_the_running_session(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    engine.on_uid(EXPRESS_CARD)

    assert customer_display(engine) == Display("refused", "Пост занят")
    clock.advance(VERDICT_SHOW_S)
    # Ivan's wash goes on: its figures, and no name of anyone.
    assert customer_display(engine) == Display("running", "Сеанс идёт", 68, 5_000, 95_000)


def test_an_end_held_back_shows_the_running_wash_and_counts_down_the_seconds_left(
    engine: Engine, clock: FakeClock, config: EdgeConfig
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(20)
    engine.on_uid(IVAN_CARD)  # 40 s before a tap may end it

    held = customer_display(engine)
    (session,) = engine.store.open_sessions()
    cost = engine.running_cost(session)
    balance = engine.store.balance_of(session.client_id)
    text = "Сеанс идёт: чтобы завершить, приложите ещё раз через 40 с"
    # No refusal for the customer: the wash goes on, with its figures.
    assert held == Display("running", text, 20, cost, balance - cost)
    assert config.end_guard_s == 60
    clock.advance(3)
    assert customer_display(engine).text.endswith("через 37 с")
    clock.advance(VERDICT_SHOW_S)
    assert customer_display(engine).kind == "running"


def test_the_attendants_guest_ends_in_debt_and_is_sent_to_the_attendant(
    engine: Engine, clock: FakeClock
) -> None:
    session = engine.start_session(GUEST, None, ATTENDANT_ID)
    # A guest has no name: the start says so without one.
    assert customer_display(engine) == Display(
        "started", "Сеанс начат. Тариф «Стандарт»", None, None, 0
    )
    clock.advance(3 * 60)
    engine.end_session(session.uuid, ATTENDANT_ID)

    assert customer_display(engine) == Display(
        "ended",
        "Сеанс завершён. Баланс отрицательный: обратитесь к администратору",
        180,
        5_000,  # 3 minutes at 15 ₽ are 45 ₽, raised to the minimum charge
        -5_000,
    )


def test_an_automatic_end_shows_what_the_session_cost(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> None:
    engine = Engine(store, feedback, dataclasses.replace(config, max_session_s=600), clock)
    engine.on_uid(IVAN_CARD)
    clock.advance(601)
    engine.tick()

    assert customer_display(engine) == Display(
        "ended", "Сеанс завершён автоматически", 600, 10_000, 90_000
    )


def test_the_running_view_follows_the_session_the_verdict_named(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(60)
    guest = engine.start_session(GUEST, None, ATTENDANT_ID)  # a second car, deliberately
    clock.advance(VERDICT_SHOW_S)
    shown = customer_display(engine)
    assert (shown.kind, shown.elapsed_s) == ("running", VERDICT_SHOW_S)  # the guest's

    engine.end_session(guest.uuid, ATTENDANT_ID)
    clock.advance(VERDICT_SHOW_S)
    shown = customer_display(engine)
    assert (shown.kind, shown.elapsed_s) == ("running", 60 + 2 * VERDICT_SHOW_S)  # Ivan's


def test_a_verdict_from_a_wall_clock_that_stepped_back_is_not_held_on_screen(
    engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.advance(30)
    engine.on_uid("DEADBEEF")
    clock.wall -= timedelta(hours=1)  # the time is set back: the verdict is "an hour ahead"
    assert customer_display(engine).kind == "running"


def test_api_state_carries_the_display_and_whether_the_post_is_busy(
    engine: Engine, store: Store, config: EdgeConfig, clock: FakeClock
) -> None:
    parts = StandParts(config, store, engine, devices)
    state = state_of(parts)
    assert state["display"] == {
        "kind": "idle",
        "text": IDLE.text,
        "elapsed_s": None,
        "cost_kopecks": None,
        "balance_kopecks": None,
    }
    assert state["post_busy"] is False

    engine.on_uid(IVAN_CARD)
    state = state_of(parts)
    assert state["display"] == dataclasses.asdict(IVAN_STARTED)
    assert state["post_busy"] is True


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, store: Store, config: EdgeConfig) -> Iterator[FlaskClient]:
    app = create_state_app(StandParts(config, store, engine, devices))
    with app.test_client() as test_client:
        yield test_client


def test_the_customer_page_needs_no_log_in_and_is_russian_by_default(
    client: FlaskClient, engine: Engine
) -> None:
    page = client.get("/customer")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="ru"' in html and IDLE.text in html
    assert "Персонал" in html and 'href="/lock"' in html

    engine.on_uid(IVAN_CARD)
    view = client.get("/customer/display").get_json()
    assert view["kind"] == "started" and view["text"] == IVAN_STARTED.text
    assert view["lines"] == [{"label": "Баланс", "value": "1\xa0000,00\xa0₽", "negative": False}]


def test_the_customer_page_in_english(
    client: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    html = client.get("/customer?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Tap your card or show your QR code" in html
    assert "Staff" in html

    engine.on_uid(IVAN_CARD)
    clock.advance(20)
    engine.on_uid(IVAN_CARD)
    view = client.get("/customer/display?lang=en").get_json()
    assert view["kind"] == "running"
    assert view["text"] == "Session running: to end it, tap again in 40 s"
    clock.advance(VERDICT_SHOW_S)
    view = client.get("/customer/display?lang=en").get_json()
    assert view["text"] == "Washing"
    assert [line["label"] for line in view["lines"]] == ["Time", "Cost", "Balance left"]
    # An unknown language is Russian, not an error.
    assert client.get("/customer/display?lang=xx").get_json()["text"] == "Сеанс идёт"


def test_the_stand_screen_signed_out_is_the_customers(client: FlaskClient) -> None:
    response = client.get("/")
    assert (response.status_code, response.location) == (302, "/customer")
    polled = client.get("/live")
    assert polled.status_code == 401
    assert polled.get_json() == {"locked": True, "location": "/customer"}
