"""Bonus points centrally (cloud/loyalty/bonus.py): the welcome bonus, accrual on top-ups or charges,
points spent by sessions as stands report them, two stands spending the same points offline,
expiry first in first out and across a session, manual operations, and discounts re-priced."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud import create_app
from cloud.clock import app_now
from cloud.db import db_proxy, lock_rows
from cloud.errors import Conflict, Forbidden, ValidationFailed
from cloud.ledger.service import ledger_balance, post_entry
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import Client, LedgerEntry, Session, Stand, StandEvent
from cloud.standsync.ingest import StandClock, apply_batch
from tests.cloud.conftest import World
from tests.cloud.eventstream import T0, Stream, new_uuid

RULES = PointsRules(welcome=350, accrual_percent=10, accrual_on="topup", expiry_days=365)
DAY = timedelta(days=1)


def push(stand: Any, stream: Stream, events: list[dict[str, Any]], rules: PointsRules) -> Any:
    at = StandClock(
        now=stream.clock, stand_time=stream.clock, boot_id=stream.boot_id, mono_ms=stream.mono_ms
    )
    result = apply_batch(Stand.get_by_id(stand.id), events, at, rules)
    assert result.refused is None, result.refused
    return result


def points_entries(client: Client, kind: str | None = None) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == client.id) & LedgerEntry.kind.startswith("bonus_")
    )
    if kind:
        query = query.where(LedgerEntry.kind == kind)
    return [e.amount_points for e in query.order_by(LedgerEntry.id)]


def fresh(client: Client) -> Client:
    return Client.get_by_id(client.id)


def points_sum(client: Client) -> int:
    return sum(points_entries(client))


def give(client: Client, points: int, at: Any) -> None:
    post_entry(client, "bonus_adjustment", 0, amount_points=points, created_at=at, reason="тест")


def ended_with_points(
    stream: Stream, session_uuid: str, duration: int, cost: int, points: int, worth: int
) -> dict[str, Any]:
    event = stream.ended(session_uuid, duration, cost)
    if points:
        event["payload"].update(points_spent=points, points_kopecks=worth)
    return event


def wash(
    world: World, stream: Stream, minutes: int, points: int = 0, stand: Any = None
) -> list[dict[str, Any]]:
    """A member's session of ``minutes`` at 10 ₽ a minute, paid with ``points`` as the stand
    decided."""
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(minutes * 60)
    cost = minutes * 1000
    return [
        started,
        ended_with_points(stream, session_uuid, minutes * 60, cost, points, points * 100),
    ]


# --- welcome and accrual -------------------------------------------------------------------------


def test_a_member_registered_at_a_stand_gets_the_welcome_bonus_once(world: World) -> None:
    stream = Stream(world.stand_a.id)
    client_uuid = new_uuid()
    payload = {
        "client_uuid": client_uuid,
        "name": "Мария Сидорова",
        "phones": [],
        "plates": [],
        "cards": [],
        "guest_client_id": None,
        "guest_client_uuid": None,
    }
    push(world.stand_a, stream, [stream.event("client.registered", payload, "1")], RULES)
    member = Client.get(Client.uuid == client_uuid)
    again = {**payload, "client_uuid": new_uuid(), "guest_client_uuid": client_uuid}
    push(world.stand_a, stream, [stream.event("client.registered", again, "1")], RULES)

    assert points_entries(member) == [350]
    assert fresh(member).points_balance == 350
    entry = LedgerEntry.get(LedgerEntry.kind == "bonus_welcome")
    assert entry.amount_kopecks == 0 and entry.event_id is not None


def test_no_welcome_bonus_when_the_configuration_gives_none(world: World) -> None:
    assert bonus.welcome(world.member, bonus.OFF) is None
    assert points_entries(world.member) == []


def test_top_ups_accrue_a_percentage_for_members_and_nothing_for_guests(world: World) -> None:
    stream = Stream(world.stand_a.id)
    events = [
        stream.topup(world.member.id, 100_000, "1"),  # 1000 ₽ -> 100 ₽ -> 100 points
        stream.topup(world.member.id, 1_999, "1"),  # 19.99 ₽ -> 1.999 ₽ -> 1 point
        stream.topup(world.guest.id, 100_000, "1"),
    ]
    push(world.stand_a, stream, events, RULES)

    assert points_entries(world.member) == [100, 1]
    assert points_entries(world.guest) == []
    assert fresh(world.member).points_balance == 101
    assert fresh(world.member).balance_kopecks == ledger_balance(world.member) == 101_999


def test_charges_accrue_instead_when_configured(world: World) -> None:
    stream = Stream(world.stand_a.id)
    on_charges = PointsRules(accrual_percent=10, accrual_on="charge")
    push(
        world.stand_a,
        stream,
        [*wash(world, stream, 20), stream.topup(world.member.id, 50_000, "1")],
        on_charges,
    )

    assert points_entries(world.member, "bonus_accrual") == [20]  # 10 % of 200 ₽


# --- spending ------------------------------------------------------------------------------------


def test_a_session_paid_with_points_spends_them_and_charges_the_rest(world: World) -> None:
    give(world.member, 300, T0 - DAY)
    stream = Stream(world.stand_a.id)
    push(world.stand_a, stream, wash(world, stream, 15, points=100), RULES)

    member = fresh(world.member)
    assert member.points_balance == points_sum(member) == 200
    assert member.balance_kopecks == ledger_balance(member) == -5000
    spend = LedgerEntry.get(LedgerEntry.kind == "bonus_spend")
    session = Session.get()
    assert spend.amount_points == -100 and spend.session_id == session.id
    assert spend.created_at == session.started_at  # a spend counts from the session's start
    charge = LedgerEntry.get(LedgerEntry.kind == "charge")
    assert charge.amount_kopecks == -5000 and charge.event_id == spend.event_id


def test_points_spent_offline_at_two_stands_are_spent_once_and_the_rest_is_money(
    world: World,
) -> None:
    """Both stands saw 100 points and spent them offline; the one applied first keeps them,
    the other pays in money what its points no longer cover, and the event says so."""
    give(world.member, 100, T0 - DAY)
    stream_a, stream_b = Stream(world.stand_a.id), Stream(world.stand_b.id)
    first = wash(world, stream_a, 10, points=100)
    second = wash(world, stream_b, 8, points=80)
    push(world.stand_a, stream_a, first, RULES)
    push(world.stand_b, stream_b, second, RULES)

    member = fresh(world.member)
    assert points_entries(member, "bonus_spend") == [-100]
    assert member.points_balance == points_sum(member) == 0
    assert member.balance_kopecks == ledger_balance(member) == -8000
    flagged = StandEvent.get(StandEvent.flag == "points_short")
    assert flagged.stand_id == world.stand_b.id and "0 из 80" in flagged.flag_note


def test_a_partly_short_balance_spends_what_is_left(world: World) -> None:
    give(world.member, 130, T0 - DAY)
    stream_a, stream_b = Stream(world.stand_a.id), Stream(world.stand_b.id)
    push(world.stand_a, stream_a, wash(world, stream_a, 10, points=100), RULES)
    push(world.stand_b, stream_b, wash(world, stream_b, 8, points=80), RULES)

    member = fresh(world.member)
    assert points_entries(member, "bonus_spend") == [-100, -30]
    assert member.balance_kopecks == -(8000 - 3000)
    assert member.points_balance == 0


def test_a_resent_end_spends_no_points_twice(world: World) -> None:
    give(world.member, 300, T0 - DAY)
    stream = Stream(world.stand_a.id)
    batch = wash(world, stream, 10, points=100)
    push(world.stand_a, stream, batch, RULES)
    push(world.stand_a, stream, batch, RULES)

    assert points_entries(world.member, "bonus_spend") == [-100]


# --- expiry --------------------------------------------------------------------------------------


def test_points_expire_first_in_first_out_and_a_second_run_changes_nothing(world: World) -> None:
    give(world.member, 100, T0 - 400 * DAY)  # expired at T0 - 35 days
    give(world.member, -30, T0 - 300 * DAY)  # used the oldest points first
    give(world.member, 50, T0 - 10 * DAY)  # still young

    assert bonus.expire_all(RULES, T0) == (1, 70)
    assert bonus.expire_all(RULES, T0 + DAY) == (0, 0)

    member = fresh(world.member)
    assert points_entries(member, "bonus_expiry") == [-70]
    assert member.points_balance == points_sum(member) == 50
    assert bonus.expire_all(RULES, T0 + 356 * DAY) == (1, 50)


def test_expiry_does_not_depend_on_when_it_runs(world: World) -> None:
    give(world.member, 100, T0 - 400 * DAY)
    give(world.member, 100, T0 - 380 * DAY)
    give(world.member, -150, T0 - 370 * DAY)  # between the two lots' expiries
    for moment in (T0 - 30 * DAY, T0 - 10 * DAY, T0):
        bonus.expire_all(RULES, moment)
    daily = fresh(world.member).points_balance

    assert daily == 0
    assert points_entries(world.member, "bonus_expiry") == [-50]


def test_expiry_zero_days_means_points_never_expire(world: World) -> None:
    give(world.member, 100, T0 - 4000 * DAY)
    assert bonus.expire_all(PointsRules(expiry_days=0), T0) == (0, 0)


def crossing(world: World, run_expiry_between: bool) -> Client:
    """100 points that expire at T0 + 1 h, spent by a session from T0 to T0 + 2 h."""
    give(world.member, 100, T0 + timedelta(hours=1) - 365 * DAY)
    stream = Stream(world.stand_a.id)
    batch = wash(world, stream, 120, points=100)
    if run_expiry_between:
        assert bonus.expire_all(RULES, T0 + timedelta(minutes=90)) == (1, 100)
    push(world.stand_a, stream, batch, RULES)
    bonus.expire_all(RULES, T0 + timedelta(hours=3))
    return fresh(world.member)


@pytest.mark.parametrize("run_expiry_between", [False, True])
def test_a_session_started_before_the_expiry_and_ended_after_it_keeps_its_points(
    world: World, run_expiry_between: bool
) -> None:
    member = crossing(world, run_expiry_between)

    assert points_entries(member, "bonus_spend") == [-100]
    assert member.points_balance == points_sum(member) == 0
    assert member.balance_kopecks == ledger_balance(member) == -110_000
    expiries = points_entries(member, "bonus_expiry")
    assert expiries == ([-100, 100] if run_expiry_between else [])
    if run_expiry_between:
        restored = LedgerEntry.get(
            (LedgerEntry.amount_points == 100) & (LedgerEntry.kind == "bonus_expiry")
        )
        assert "до сгорания" in restored.reason


def test_a_session_started_after_the_expiry_cannot_spend_the_expired_points(world: World) -> None:
    give(world.member, 100, T0 - timedelta(hours=1) - 365 * DAY)  # expired at T0 - 1 h
    stream = Stream(world.stand_a.id)
    push(world.stand_a, stream, wash(world, stream, 10, points=100), RULES)

    member = fresh(world.member)
    assert points_entries(member, "bonus_expiry") == [-100]
    assert points_entries(member, "bonus_spend") == []
    assert member.balance_kopecks == -10_000
    assert StandEvent.select().where(StandEvent.flag == "points_short").count() == 1


# --- manual operations ---------------------------------------------------------------------------


def test_an_administrator_grants_and_deducts_points_with_a_reason(world: World) -> None:
    admin = world.users["administrator"]
    bonus.adjust_points(admin, world.member, 500, "  Компенсация   за ожидание ", RULES, app_now())
    bonus.adjust_points(admin, world.member, -200, "Ошибка", RULES, app_now())

    entries = list(LedgerEntry.select().where(LedgerEntry.kind == "bonus_adjustment"))
    assert [(e.amount_points, e.reason, e.created_by_id) for e in entries] == [
        (500, "Компенсация за ожидание", admin.id),
        (-200, "Ошибка", admin.id),
    ]
    assert fresh(world.member).points_balance == 300


@pytest.mark.parametrize(
    ("points", "reason", "code"),
    [
        (0, "x", "bad_points"),
        (True, "x", "bad_points"),
        (10_000_001, "x", "bad_points"),
        (10, "  ", "reason_required"),
        (10, "x" * 301, "reason_too_long"),
        (-1, "Списать", "not_enough_points"),
    ],
)
def test_a_bad_manual_operation_is_refused_and_changes_nothing(
    world: World, points: Any, reason: str, code: str
) -> None:
    with pytest.raises((ValidationFailed, Conflict)) as error:  # too few points: a conflict
        bonus.adjust_points(world.users["owner"], world.member, points, reason, RULES, app_now())
    assert error.value.code == code
    assert points_entries(world.member) == []


def test_an_operator_may_not_grant_points(world: World) -> None:
    with pytest.raises(Forbidden):
        bonus.adjust_points(world.users["operator"], world.member, 10, "Подарок", RULES, app_now())


# --- discounts -----------------------------------------------------------------------------------


def test_a_discounted_session_priced_as_the_stand_did_is_not_flagged(world: World) -> None:
    bonus.update_terms(world.member, discount_percent=10)
    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(world.stand_a, stream, [started, stream.ended(session_uuid, 600, 9000)], RULES)

    session = Session.get()
    assert (session.repriced_cost_kopecks, session.price_mismatch) == (9000, False)
    assert fresh(world.member).balance_kopecks == -9000


def test_a_stand_that_ignored_the_discount_is_flagged(world: World) -> None:
    bonus.update_terms(world.member, discount_kopecks=2500)
    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(world.stand_a, stream, [started, stream.ended(session_uuid, 600, 10000)], RULES)

    session = Session.get()
    assert (session.repriced_cost_kopecks, session.price_mismatch) == (7500, True)
    assert json.loads(StandEvent.get(StandEvent.flag == "price_mismatch").payload)


@pytest.mark.parametrize(
    "terms",
    [
        {"discount_percent": 101},
        {"discount_percent": 5, "discount_kopecks": 100},
        {"discount_kopecks": -5},
        {"points_spending": "always"},
    ],
)
def test_bad_terms_are_refused_and_nothing_changes(world: World, terms: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        bonus.update_terms(world.member, **terms)
    member = fresh(world.member)
    assert (member.discount_percent, member.discount_kopecks) == (0, 0)
    assert member.points_spending == "points_first"


@pytest.mark.parametrize(
    "setting",
    [
        {"points_value_kopecks": 0},
        {"points_welcome": -5},
        {"points_accrual_percent": 101},
        {"points_accrual_on": "visit"},
        {"points_expiry_days": -1},
    ],
)
def test_a_bad_bonus_setting_stops_the_service_at_start(
    tmp_path: Path, setting: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="points_"):
        create_app(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'aq.sqlite3'}",
            secret_key="x",
            **setting,
        )


def test_a_batch_spends_the_points_left_after_a_deduction_that_was_being_written(
    app: Any, world: World
) -> None:
    """An administrator's deduction of all 100 points holds the member's row when a stand's
    batch spending them comes in: the batch waits for the row, then finds no points, and the
    wash is paid in money. Read before the deduction committed, the points would be spent
    twice (or the two would wait for each other in a circle)."""
    give(world.member, 100, T0 - DAY)
    stream = Stream(world.stand_a.id)
    batch = wash(world, stream, 10, points=100)
    database = app.extensions["aquastand_db"]
    writing, release = threading.Event(), threading.Event()
    pushed: list[Any] = []

    def deduction() -> None:
        try:
            with db_proxy.atomic():  # as bonus.adjust_points: the row first, then the points
                lock_rows(Client, [world.member.id])
                writing.set()
                release.wait(10)
                give(fresh(world.member), -100, T0)
        finally:
            database.close()

    def stand_batch() -> None:
        with app.app_context():
            try:
                pushed.append(push(world.stand_a, stream, batch, RULES))
            finally:
                database.close()

    admin = threading.Thread(target=deduction)
    admin.start()
    assert writing.wait(10)
    stand = threading.Thread(target=stand_batch)
    stand.start()
    stand.join(1)
    waited = stand.is_alive()
    release.set()
    admin.join(10)
    stand.join(30)

    assert waited, "the batch did not wait for the member's row"
    assert len(pushed) == 1
    member = fresh(world.member)
    assert member.points_balance == points_sum(member) == 0
    assert points_entries(member, "bonus_spend") == []
    assert member.balance_kopecks == ledger_balance(member) == -10_000
    assert StandEvent.get(StandEvent.flag == "points_short").flag_note
