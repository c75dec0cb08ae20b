"""Session pricing: steps, grace, minimum, cap, integer arithmetic."""

import math
import random
from fractions import Fraction
from typing import Any

import pytest

from sync.errors import RuleError
from sync.pricing import Kind, Rates, price

STANDARD = Rates(member_per_minute=1000, guest_per_minute=1500)


def reference_price(rates: Rates, kind: Kind, duration_s: int) -> int:
    """The documented rule written independently, with exact fractions."""
    if duration_s <= rates.grace_s:
        return 0
    rate = rates.member_per_minute if kind == "member" else rates.guest_per_minute
    steps = math.ceil(Fraction(duration_s, rates.step_s))
    cost = max(math.ceil(Fraction(steps * rates.step_s * rate, 60)), rates.min_charge)
    return cost if rates.cap is None else min(cost, rates.cap)


@pytest.mark.parametrize(
    ("duration_s", "member", "guest"),
    [
        (0, 0, 0),
        (1, 1000, 1500),
        (59, 1000, 1500),
        (60, 1000, 1500),  # exactly one step
        (61, 2000, 3000),  # one second into the second step
        (119, 2000, 3000),
        (120, 2000, 3000),
        (121, 3000, 4500),
        (3600, 60000, 90000),
        (3601, 61000, 91500),
        (86400, 1_440_000, 2_160_000),  # a day
    ],
)
def test_standard_steps(duration_s: int, member: int, guest: int) -> None:
    assert price(STANDARD, "member", duration_s) == member
    assert price(STANDARD, "guest", duration_s) == guest


@pytest.mark.parametrize(
    ("rates", "duration_s", "expected"),
    [
        # grace: free if within, the whole duration is billed once past it
        (Rates(1000, 1500, grace_s=30), 0, 0),
        (Rates(1000, 1500, grace_s=30), 30, 0),
        (Rates(1000, 1500, grace_s=30), 31, 1000),
        (Rates(1000, 1500, grace_s=90), 90, 0),
        (Rates(1000, 1500, grace_s=90), 91, 2000),  # 91 s is two steps, grace not subtracted
        (Rates(1000, 1500, grace_s=3600), 3600, 0),
        (Rates(1000, 1500, grace_s=3600), 3601, 61000),
        # minimum charge
        (Rates(1000, 1500, min_charge=5000), 0, 0),  # zero-length stays free
        (Rates(1000, 1500, min_charge=5000), 1, 5000),
        (Rates(1000, 1500, min_charge=5000), 300, 5000),
        (Rates(1000, 1500, min_charge=5000), 301, 6000),
        (Rates(1000, 1500, min_charge=5000, grace_s=10), 10, 0),  # grace beats the minimum
        (Rates(1000, 1500, min_charge=5000, grace_s=10), 11, 5000),
        (Rates(0, 0, min_charge=500), 1, 500),
        (Rates(0, 0, min_charge=500), 10_000, 500),
        (Rates(0, 0), 10_000, 0),
        # cap
        (Rates(1000, 1500, cap=10000), 600, 10000),
        (Rates(1000, 1500, cap=10000), 540, 9000),
        (Rates(1000, 1500, cap=10000), 601, 10000),
        (Rates(1000, 1500, cap=10000), 1_000_000, 10000),
        (Rates(1000, 1500, cap=500, min_charge=500), 1, 500),  # cap equal to minimum
        (Rates(1000, 1500, cap=500, min_charge=500), 7200, 500),
        (Rates(1000, 1500, cap=1), 1, 1),
        # odd rates and steps: each result rounded up to a whole kopeck
        (Rates(1, 1, step_s=1), 1, 1),  # 1/60 kopeck -> 1
        (Rates(1, 1, step_s=1), 59, 1),
        (Rates(1, 1, step_s=1), 60, 1),
        (Rates(1, 1, step_s=1), 61, 2),
        (Rates(1, 1, step_s=1), 120, 2),
        (Rates(1, 1, step_s=1), 121, 3),
        (Rates(7, 7, step_s=1), 1, 1),  # 7/60 -> 1
        (Rates(7, 7, step_s=1), 9, 2),  # 63/60 -> 2
        (Rates(7, 7, step_s=1), 60, 7),
        (Rates(7, 7, step_s=1), 61, 8),  # 427/60 = 7.11 -> 8
        (Rates(60, 60, step_s=1), 1, 1),  # exactly 1 kopeck per second
        (Rates(60, 60, step_s=1), 37, 37),
        (Rates(1, 1, step_s=30), 1, 1),  # 30 s billed, 0.5 -> 1
        (Rates(1, 1, step_s=30), 30, 1),
        (Rates(1, 1, step_s=30), 31, 1),  # 60 s billed
        (Rates(1, 1, step_s=30), 61, 2),  # 90 s billed, 1.5 -> 2
        (Rates(1001, 1001, step_s=90), 1, 1502),  # 90 * 1001 / 60 = 1501.5 -> 1502
        (Rates(1001, 1001, step_s=90), 90, 1502),
        (Rates(1001, 1001, step_s=90), 91, 3003),
        (Rates(100, 100, step_s=3600), 1, 6000),
        (Rates(100, 100, step_s=3600), 3600, 6000),
        (Rates(100, 100, step_s=3600), 3601, 12000),
        (Rates(1, 1, step_s=7), 8, 1),  # 14 s billed, 14/60 -> 1
        # large durations stay exact
        (Rates(1000, 1000), 315_360_000, 5_256_000_000),  # ten years
        (Rates(999_999, 999_999, step_s=1), 10**9, 16_666_650_000_000),
        (Rates(7, 7, step_s=1), 10**12 + 1, math.ceil(Fraction((10**12 + 1) * 7, 60))),
    ],
)
def test_price_table(rates: Rates, duration_s: int, expected: int) -> None:
    assert price(rates, "member", duration_s) == expected
    assert reference_price(rates, "member", duration_s) == expected


def test_member_and_guest_use_their_own_rate() -> None:
    rates = Rates(member_per_minute=300, guest_per_minute=700, step_s=30)
    assert price(rates, "member", 45) == 300
    assert price(rates, "guest", 45) == 700
    assert price(Rates(700, 300), "member", 60) == 700
    assert price(Rates(700, 300), "guest", 60) == 300


def test_price_returns_int() -> None:
    assert type(price(Rates(7, 7, step_s=1), "member", 61)) is int


@pytest.mark.parametrize("duration_s", [-1, -60, -(10**9)])
def test_negative_duration_is_an_error(duration_s: int) -> None:
    with pytest.raises(RuleError) as info:
        price(STANDARD, "member", duration_s)
    assert info.value.code == "bad_duration"


@pytest.mark.parametrize("duration_s", [1.5, 60.0, "60", None, True])
def test_non_integer_duration_is_an_error(duration_s: Any) -> None:
    with pytest.raises(RuleError) as info:
        price(STANDARD, "member", duration_s)
    assert info.value.code == "bad_duration"


@pytest.mark.parametrize("kind", ["vip", "", "Member", None])
def test_unknown_kind_is_an_error(kind: Any) -> None:
    with pytest.raises(RuleError) as info:
        price(STANDARD, kind, 60)
    assert info.value.code == "bad_kind"


def test_price_refuses_invalid_rates() -> None:
    with pytest.raises(RuleError) as info:
        price(Rates(1000, 1500, step_s=0), "member", 60)
    assert info.value.code == "bad_tariff"


@pytest.mark.parametrize(
    "rates",
    [
        Rates(0, 0),
        Rates(1000, 1500, step_s=1),
        Rates(1000, 1500, step_s=3600),
        Rates(1000, 1500, grace_s=0),
        Rates(1000, 1500, grace_s=3600),
        Rates(1000, 1500, min_charge=0),
        Rates(1000, 1500, cap=1),
        Rates(1000, 1500, cap=500, min_charge=500),
        Rates(1000, 1500, cap=None, min_charge=10**9),
    ],
)
def test_validate_accepts(rates: Rates) -> None:
    rates.validate()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"member_per_minute": -1},
        {"guest_per_minute": -1},
        {"step_s": 0},
        {"step_s": -60},
        {"step_s": 3601},
        {"min_charge": -1},
        {"grace_s": -1},
        {"grace_s": 3601},
        {"cap": 0},
        {"cap": -100},
        {"cap": 499, "min_charge": 500},
        {"member_per_minute": 10.5},
        {"guest_per_minute": "1500"},
        {"step_s": 60.0},
        {"step_s": True},
        {"min_charge": None},
        {"grace_s": 1.0},
        {"cap": 100.0},
        {"cap": False},
    ],
)
def test_validate_rejects(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"member_per_minute": 1000, "guest_per_minute": 1500, **kwargs}
    with pytest.raises(RuleError) as info:
        Rates(**fields).validate()
    assert info.value.code == "bad_tariff"
    assert info.value.message.startswith("Тариф")


def random_rates(rng: random.Random) -> Rates:
    min_charge = rng.choice([0, 0, 1, 100, 5000, rng.randrange(0, 20000)])
    cap = rng.choice([None, None, min_charge or 1, min_charge + rng.randrange(1, 200_000)])
    return Rates(
        member_per_minute=rng.choice([0, 1, 7, 59, 61, 1000, rng.randrange(0, 100_000)]),
        guest_per_minute=rng.choice([0, 1, 13, 1500, rng.randrange(0, 100_000)]),
        step_s=rng.choice([1, 7, 30, 60, 90, 600, 3600, rng.randrange(1, 3601)]),
        min_charge=min_charge,
        cap=cap,
        grace_s=rng.choice([0, 0, 5, 59, 60, 61, rng.randrange(0, 3601)]),
    )


def test_property_monotonic_capped_and_matches_reference() -> None:
    rng = random.Random(907880)
    for _ in range(300):
        rates = random_rates(rng)
        rates.validate()
        durations = sorted(
            {0, 1, rates.grace_s, rates.grace_s + 1, rates.step_s, rates.step_s + 1}
            | {rng.randrange(0, 4 * 3600) for _ in range(60)}
            | {rng.randrange(0, 10**8) for _ in range(5)}
        )
        for kind in ("member", "guest"):
            previous = 0
            for duration_s in durations:
                cost = price(rates, kind, duration_s)
                assert cost >= previous, (rates, kind, duration_s)
                if rates.cap is not None:
                    assert cost <= rates.cap
                if duration_s <= rates.grace_s:
                    assert cost == 0
                else:
                    assert cost >= rates.min_charge
                assert cost == reference_price(rates, kind, duration_s)
                previous = cost


def test_property_within_one_step_the_price_is_constant() -> None:
    rng = random.Random(2135)
    for _ in range(200):
        rates = random_rates(rng)
        step = rng.randrange(1, 100)
        start = (step - 1) * rates.step_s + 1
        if start <= rates.grace_s:
            continue
        end = step * rates.step_s
        kind: Kind = rng.choice(["member", "guest"])
        assert price(rates, kind, start) == price(rates, kind, end)
