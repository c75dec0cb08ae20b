"""The shared loyalty rules: a personal discount in pricing (its order against grace, steps,
minimum and cap), the split of a cost between bonus points and money, the points spent in
``session.ended`` and the points and discount in the directory."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from sync.bonus import split_cost
from sync.directorypage import validate_directory_page
from sync.errors import RuleError
from sync.events import validate_event
from sync.pricing import Discount, Rates, price
from tests.sync.test_events import event

STANDARD = Rates(member_per_minute=1000, guest_per_minute=1500)
WITH_LIMITS = Rates(
    member_per_minute=1000, guest_per_minute=1500, step_s=60, min_charge=5000, cap=30000, grace_s=10
)


def reference(rates: Rates, duration_s: int, percent: int, fixed: int) -> int:
    """The documented order written out apart: tariff price first, discount last."""
    tariff = price(rates, "member", duration_s)
    off = tariff * percent // 100 + fixed
    return max(0, tariff - off)


@pytest.mark.parametrize(
    ("percent", "duration_s", "expected"),
    [
        (10, 60, 900),  # 1000 less 100
        (15, 60, 850),
        (33, 60, 670),  # 330 off exactly
        (33, 61, 1340),  # 2000 * 33 // 100 = 660 off
        (1, 60, 990),
        (100, 600, 0),  # a free member
        (0, 600, 10000),
    ],
)
def test_a_percentage_discount_is_taken_off_the_tariff_price(
    percent: int, duration_s: int, expected: int
) -> None:
    assert price(STANDARD, "member", duration_s, Discount(percent=percent)) == expected


def test_a_percentage_discount_is_rounded_down_to_a_kopeck_so_the_charge_rounds_up() -> None:
    rates = Rates(member_per_minute=999, guest_per_minute=999)
    # 999 kopecks, 7 % = 69.93 kopecks: 69 off, 930 charged (never a fraction of a kopeck).
    assert price(rates, "member", 60, Discount(percent=7)) == 930


def test_a_fixed_discount_never_makes_a_session_cost_less_than_nothing() -> None:
    assert price(STANDARD, "member", 600, Discount(fixed_kopecks=3000)) == 7000
    assert price(STANDARD, "member", 60, Discount(fixed_kopecks=3000)) == 0
    assert price(STANDARD, "member", 180, Discount(fixed_kopecks=3000)) == 0


def test_the_discount_comes_after_the_minimum_charge_and_the_cap() -> None:
    # 2 minutes cost 2000, raised to the minimum 5000, then 10 % off: 4500 (below the minimum).
    assert price(WITH_LIMITS, "member", 120, Discount(percent=10)) == 4500
    # 2 hours cost 120000, capped at 30000, then 10 % off: 27000.
    assert price(WITH_LIMITS, "member", 7200, Discount(percent=10)) == 27000
    assert price(WITH_LIMITS, "member", 7200, Discount(fixed_kopecks=1000)) == 29000


def test_a_session_within_the_grace_stays_free_whatever_the_discount() -> None:
    assert price(WITH_LIMITS, "member", 10, Discount(percent=50)) == 0
    assert price(WITH_LIMITS, "member", 11, Discount(percent=50)) == 2500


def test_the_discount_matches_the_written_out_rule_over_many_cases() -> None:
    cases = itertools.product(
        [STANDARD, WITH_LIMITS, Rates(777, 1333, step_s=45, min_charge=1234, cap=9999, grace_s=5)],
        [0, 1, 5, 11, 59, 60, 61, 119, 600, 3599, 7200, 86400],
        [0, 1, 3, 7, 33, 50, 99, 100],
        [0, 1, 99, 5000, 100_000],
    )
    for rates, duration, percent, fixed in cases:
        if percent and fixed:
            continue
        got = price(rates, "member", duration, Discount(percent, fixed))
        assert got == reference(rates, duration, percent, fixed), (rates, duration, percent, fixed)
        assert 0 <= got <= price(rates, "member", duration)


@pytest.mark.parametrize(
    "discount",
    [
        Discount(percent=-1),
        Discount(percent=101),
        Discount(fixed_kopecks=-1),
        Discount(fixed_kopecks=10_000_001),
        Discount(percent=5, fixed_kopecks=100),
        Discount(percent=True),  # type: ignore[arg-type]
    ],
)
def test_a_bad_discount_is_refused_even_for_a_free_session(discount: Discount) -> None:
    with pytest.raises(RuleError) as error:
        price(STANDARD, "member", 0, discount)
    assert error.value.code == "bad_discount"


# --- points and money ----------------------------------------------------------------------------


def test_points_first_pays_whole_points_and_the_rest_in_money() -> None:
    split = split_cost(15050, money_balance=0, points_held=1000, spending="points_first")
    assert (split.points, split.points_kopecks, split.money_kopecks) == (150, 15000, 50)


def test_points_first_spends_only_the_points_held() -> None:
    split = split_cost(15000, money_balance=50000, points_held=40, spending="points_first")
    assert (split.points, split.money_kopecks) == (40, 11000)


def test_money_first_uses_points_only_for_what_the_balance_does_not_cover() -> None:
    covered = split_cost(10000, money_balance=20000, points_held=500, spending="money_first")
    assert (covered.points, covered.money_kopecks) == (0, 10000)
    short = split_cost(10000, money_balance=3000, points_held=500, spending="money_first")
    assert (short.points, short.money_kopecks) == (70, 3000)
    negative = split_cost(10000, money_balance=-2000, points_held=30, spending="money_first")
    assert (negative.points, negative.money_kopecks) == (30, 7000)


def test_off_never_spends_points_and_negative_points_count_as_none() -> None:
    assert split_cost(10000, money_balance=0, points_held=500, spending="off").points == 0
    assert split_cost(10000, money_balance=0, points_held=-5, spending="points_first").points == 0


def test_the_point_value_is_configurable() -> None:
    split = split_cost(
        10000, money_balance=0, points_held=1000, spending="points_first", point_value_kopecks=50
    )
    assert (split.points, split.points_kopecks, split.money_kopecks) == (200, 10000, 0)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"spending": "sometimes"}, "bad_points_spending"),
        ({"spending": "off", "point_value_kopecks": 0}, "bad_point_value"),
    ],
)
def test_a_bad_split_is_refused(kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(RuleError) as error:
        split_cost(100, money_balance=0, points_held=0, **kwargs)
    assert error.value.code == code


# --- the wire ------------------------------------------------------------------------------------


def test_an_end_without_points_from_an_older_stand_is_valid_and_spends_none() -> None:
    payload = validate_event(event("session.ended")).payload
    assert "points_spent" not in payload


def test_an_end_carries_the_points_spent_and_their_worth() -> None:
    raw = event("session.ended")
    raw["payload"].update(points_spent=50, points_kopecks=5000)
    payload = validate_event(raw).payload
    assert (payload["points_spent"], payload["points_kopecks"]) == (50, 5000)


@pytest.mark.parametrize(
    "extra",
    [
        {"points_spent": 50},
        {"points_kopecks": 5000},
        {"points_spent": -1, "points_kopecks": 100},
        {"points_spent": 200, "points_kopecks": 20000},  # more than the cost of 11000
    ],
)
def test_bad_points_in_an_end_are_refused(extra: dict[str, Any]) -> None:
    raw = event("session.ended")
    raw["payload"].update(extra)
    with pytest.raises(RuleError) as error:
        validate_event(raw)
    assert error.value.code == "bad_event"


PAGE_CLIENT = {
    "id": 7,
    "kind": "member",
    "name": "Иван",
    "phones": [],
    "blocked": False,
    "default_tariff_id": None,
    "balance_kopecks": 100,
    "ledger_position": 3,
    "overdraft_limit_kopecks": None,
}


def page(client: dict[str, Any], **top: Any) -> dict[str, Any]:
    from tests.sync.test_directory import PUBLIC_PEM

    return {
        "cursor": 5,
        "more": False,
        "reset": False,
        "site_id": 1,
        "stand_id": 1,
        "server_time": "2026-03-02T09:00:00Z",
        "qr_public_key_pem": PUBLIC_PEM,
        "default_tariff_id": None,
        "upserts": {
            "clients": [client],
            "credentials": [],
            "tariffs": [],
            "staff": [],
            "revoked_qr_token_ids": [],
        },
        "tombstones": {"clients": [], "credentials": [], "tariffs": [], "staff": []},
        "commands": [],
        **top,
    }


def test_a_page_of_an_older_central_service_means_no_points_and_no_discount() -> None:
    read = validate_directory_page(page(PAGE_CLIENT))
    client = read.clients[0]
    assert (client.points_balance, client.points_spending) == (0, "off")
    assert client.discount() == Discount()
    assert read.points_value_kopecks == 100


def test_points_and_discount_travel_down_and_read_back_equal() -> None:
    loyal = {
        **PAGE_CLIENT,
        "points_balance": 350,
        "points_spending": "money_first",
        "discount_percent": 5,
        "discount_kopecks": 0,
    }
    read = validate_directory_page(page(loyal, points_value_kopecks=50))
    assert read.clients[0].points_balance == 350 and read.clients[0].discount() == Discount(5)
    assert read.points_value_kopecks == 50
    assert validate_directory_page(read.to_dict()) == read


@pytest.mark.parametrize(
    "bad",
    [
        {"points_spending": "never"},
        {"discount_percent": 120},
        {"discount_percent": 5, "discount_kopecks": 100},
        {"discount_kopecks": -1},
    ],
)
def test_a_bad_discount_or_spending_order_in_a_page_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(RuleError):
        validate_directory_page(page({**copy.deepcopy(PAGE_CLIENT), **bad}))
