"""Money for a wash (sync/funds.py): what is available, who may start, when a running session
has used it up. Checked against the pricing and points rules it builds on, by brute force over
small numbers, so the rule holds for every combination, not just the examples."""

from __future__ import annotations

import itertools

import pytest

from sync.bonus import POINTS_SPENDING, split_cost
from sync.errors import RuleError
from sync.funds import (
    MAX_OVERDRAFT_KOPECKS,
    available_kopecks,
    can_start,
    check_overdraft,
    funds_end_s,
    funds_run_out,
    start_minimum,
)
from sync.pricing import NO_DISCOUNT, Discount, Kind, Rates, price

STANDARD = Rates(member_per_minute=1000, guest_per_minute=1500, min_charge=5000, grace_s=10)


def available(money: int, points: int = 0, spending: str = "off", value: int = 100, od: int = 0):  # type: ignore[no-untyped-def]
    return available_kopecks(
        money_kopecks=money,
        points=points,
        points_spending=spending,
        point_value_kopecks=value,
        overdraft_kopecks=od,
    )


# --- available --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "points", "spending", "od", "expected"),
    [
        (10_000, 0, "off", 0, 10_000),
        (10_000, 50, "off", 0, 10_000),  # points kept: not money for washing
        (10_000, 50, "points_first", 0, 15_000),
        (10_000, 50, "money_first", 0, 15_000),
        (0, 0, "points_first", 0, 0),
        (0, 0, "points_first", 20_000, 20_000),  # the overdraft alone
        (-5_000, 0, "off", 20_000, 15_000),
        (-25_000, 0, "off", 20_000, -5_000),  # owes past the limit
        (-20_000, 30, "points_first", 20_000, 3_000),
        (-50, 3, "points_first", 0, 250),  # past the limit: the points, less the debt
        (-400, 3, "points_first", 0, -100),  # nothing left: how far short
        (100, -5, "points_first", 0, 100),  # a negative points balance is no money
    ],
)
def test_available_is_money_points_and_overdraft(
    money: int, points: int, spending: str, od: int, expected: int
) -> None:
    assert available(money, points, spending, 100, od) == expected


MONEY = [*range(-700, 701, 50), -333, -1, 1, 333]


def test_a_charge_within_the_available_amount_never_takes_the_money_past_the_overdraft() -> None:
    """Every balance, points, point value, overdraft and spending order: any charge up to the
    available amount, split as the stand splits it, leaves the money balance at or above minus
    the overdraft (or where it was, if below already), but for less than one point's worth when
    points pay (whole points only, the kopecks left are money); one kopeck more goes past."""
    for money, points, value, od, spending in itertools.product(
        MONEY, range(5), (1, 30, 100), (0, 70, 300), POINTS_SPENDING
    ):
        amount = available(money, points, spending, value, od)
        past_the_limit = money < -od
        spends_points = spending != "off" and points > 0
        floor = min(money, -od) - (value - 1 if spends_points else 0)
        charges = {*range(0, amount + 1, max(1, amount // 40)), amount} if amount >= 0 else set()
        for charge in charges:
            split = split_cost(
                charge,
                money_balance=money,
                points_held=points,
                spending=spending,
                point_value_kopecks=value,
            )
            assert money - split.money_kopecks >= floor, (money, points, value, od, charge)
        if amount >= 0 and not past_the_limit:
            over = split_cost(
                amount + 1,
                money_balance=money,
                points_held=points,
                spending=spending,
                point_value_kopecks=value,
            )
            assert money - over.money_kopecks < -od, (money, points, value, od, spending)


@pytest.mark.parametrize("od", [-1, MAX_OVERDRAFT_KOPECKS + 1, True, 1.5, "100"])
def test_an_overdraft_out_of_bounds_is_refused(od: object) -> None:
    with pytest.raises(RuleError) as error:
        check_overdraft(od)  # type: ignore[arg-type]
    assert error.value.code == "bad_overdraft"
    with pytest.raises(RuleError):
        available(0, od=od)  # type: ignore[arg-type]


def test_overdraft_bounds_are_accepted() -> None:
    assert check_overdraft(0) == 0
    assert check_overdraft(MAX_OVERDRAFT_KOPECKS) == MAX_OVERDRAFT_KOPECKS


def test_bad_points_terms_are_refused() -> None:
    with pytest.raises(RuleError) as spending:
        available(0, 1, "sometimes")
    with pytest.raises(RuleError) as value:
        available(0, 1, "points_first", value=0)
    assert (spending.value.code, value.value.code) == ("bad_points_spending", "bad_point_value")


# --- starting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rates", "kind", "discount", "expected"),
    [
        (STANDARD, "member", NO_DISCOUNT, 5000),  # the minimum charge, above one step's 10 ₽
        (STANDARD, "guest", NO_DISCOUNT, 5000),
        (Rates(1000, 1500), "member", NO_DISCOUNT, 1000),  # no minimum: one step
        (Rates(1000, 1500), "guest", NO_DISCOUNT, 1500),
        (Rates(1000, 1500, step_s=30), "member", NO_DISCOUNT, 500),
        (Rates(1000, 1500, step_s=600, min_charge=5000), "member", NO_DISCOUNT, 10_000),
        (Rates(1000, 1500, min_charge=5000, cap=3000 * 2), "member", NO_DISCOUNT, 5000),
        (Rates(1000, 1500, grace_s=3600), "member", NO_DISCOUNT, 1000),  # grace aside
        (STANDARD, "member", Discount(percent=10), 4500),
        (STANDARD, "member", Discount(fixed_kopecks=6000), 0),
        (Rates(0, 0), "member", NO_DISCOUNT, 0),  # a free tariff
    ],
)
def test_the_start_minimum_is_the_price_of_the_shortest_billed_session(
    rates: Rates, kind: Kind, discount: Discount, expected: int
) -> None:
    assert start_minimum(rates, kind, discount) == expected


def test_a_start_needs_the_minimum_available() -> None:
    assert not can_start(0, STANDARD, "member")  # a client at zero
    assert not can_start(4999, STANDARD, "member")
    assert can_start(5000, STANDARD, "member")
    assert not can_start(0, Rates(1000, 1500), "guest")  # no minimum charge: one step
    assert not can_start(1499, Rates(1000, 1500), "guest")
    assert can_start(1500, Rates(1000, 1500), "guest")
    assert can_start(0, Rates(0, 0), "member")  # free is free
    assert not can_start(-1, Rates(0, 0), "member")  # but a debt past the limit still bars


# --- running out ------------------------------------------------------------------------------

RATES = [
    Rates(1000, 1500),
    Rates(1000, 1500, step_s=1),
    Rates(700, 1100, step_s=90, min_charge=2500, grace_s=20),
    Rates(1000, 1500, step_s=60, grace_s=120),
    Rates(1000, 1500, min_charge=5000, cap=9000),
    Rates(0, 0, min_charge=3000),
    Rates(0, 0),
    Rates(333, 333, step_s=7, grace_s=3),
]
DISCOUNTS = [NO_DISCOUNT, Discount(percent=15), Discount(fixed_kopecks=700), Discount(percent=100)]
HORIZON_S = 8000


def brute_end(prices: list[int], beyond: int, amount: int) -> int | None:
    """The longest duration whose price is within ``amount``, found second by second in the
    ``prices`` of each second (``beyond``: the price far past them)."""
    if beyond <= amount:
        return None  # the price stops growing within the amount
    within = [d for d, cost in enumerate(prices) if cost <= amount]
    return max(within) if within else 0


def test_the_end_is_the_longest_duration_the_money_pays_for() -> None:
    for rates, kind, discount in itertools.product(RATES, ("member", "guest"), DISCOUNTS):
        prices = [price(rates, kind, d, discount) for d in range(HORIZON_S)]
        beyond = price(rates, kind, HORIZON_S * 10, discount)
        for amount in (-100, 0, 1, 999, 1000, 1001, 2500, 4999, 5000, 9000, 12_345, 30_000):
            expected = brute_end(prices, beyond, amount)
            assert expected is None or expected < HORIZON_S - 1, "look further"
            found = funds_end_s(rates, kind, discount, amount)
            assert found == expected, (rates, kind, discount, amount)
            if found is not None and amount >= 0:
                assert price(rates, kind, found, discount) <= amount
                assert price(rates, kind, found + 1, discount) > amount


def test_a_session_ends_charged_exactly_what_was_available_when_it_is_whole_steps() -> None:
    end_s = funds_end_s(STANDARD, "member", NO_DISCOUNT, 7000)
    assert end_s == 420  # seven minutes at 10 ₽
    assert price(STANDARD, "member", end_s) == 7000
    # Between steps the last whole step it pays for: 75 ₽ buys seven minutes, 70 ₽ charged.
    assert funds_end_s(STANDARD, "member", NO_DISCOUNT, 7500) == 420
    # The minimum charge buys its five minutes, not one second.
    assert funds_end_s(STANDARD, "member", NO_DISCOUNT, 5000) == 300


def test_a_large_amount_is_found_quickly_and_exactly() -> None:
    amount = 10_000_000_07  # ten million roubles
    end_s = funds_end_s(Rates(1000, 1500, step_s=1), "member", NO_DISCOUNT, amount)
    assert end_s is not None
    assert price(Rates(1000, 1500, step_s=1), "member", end_s) <= amount
    assert price(Rates(1000, 1500, step_s=1), "member", end_s + 1) > amount


def test_a_running_session_goes_on_while_its_cost_is_within_the_available_amount() -> None:
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, 7000, 0) is None
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, 7000, 420) is None
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, 7000, 421) == 420
    # Seen late (a slow tick): still ended where the money ran out, not at the late second.
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, 7000, 500) == 420
    # A top-up during the wash moves the end.
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, 17_000, 500) is None
    # A cap within the money, or a free tariff: never run out.
    assert funds_run_out(Rates(1000, 1500, cap=6000), "member", NO_DISCOUNT, 6000, 10**6) is None
    assert funds_run_out(Rates(0, 0), "member", NO_DISCOUNT, 0, 10**6) is None
    assert funds_run_out(STANDARD, "member", Discount(percent=100), 0, 10**6) is None
    # Money for longer than any session: as good as never.
    assert funds_end_s(Rates(1, 1, step_s=1), "member", NO_DISCOUNT, 10**12) is None
    # Owing past the limit meanwhile (spent elsewhere offline): ended at once, nothing more.
    assert funds_run_out(STANDARD, "member", NO_DISCOUNT, -1, 100) == 0
