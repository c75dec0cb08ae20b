"""The shift reconciliation rule (sync/shifts.py), checked against a plain reference."""

from __future__ import annotations

import random

import pytest

from sync.shifts import shift_totals

METHODS = ("cash", "card", "transfer")


def test_expected_is_opening_plus_cash_and_the_difference_is_counted_minus_expected() -> None:
    totals = shift_totals(100_000, [("cash", 50_000, 1), ("card", 30_000, 1)], counted=140_000)
    assert (totals.cash_kopecks, totals.card_kopecks, totals.topups) == (50_000, 30_000, 2)
    assert totals.expected_kopecks == 150_000
    assert totals.difference_kopecks == -10_000


def test_an_open_shift_has_no_count_and_no_difference() -> None:
    totals = shift_totals(5_000, [])
    assert totals.to_dict()["counted_kopecks"] is None
    assert totals.difference_kopecks is None and totals.expected_kopecks == 5_000


@pytest.mark.parametrize("seed", range(20))
def test_sums_per_method_equal_one_by_one_sums(seed: int) -> None:
    rng = random.Random(seed)
    topups = [(rng.choice(METHODS), rng.randint(1, 10**6), 1) for _ in range(rng.randint(0, 50))]
    opening, counted = rng.randint(0, 10**6), rng.randint(0, 10**7)
    one_by_one = shift_totals(opening, topups, counted)
    summed = shift_totals(
        opening,
        [
            (m, sum(k for mm, k, _ in topups if mm == m), sum(mm == m for mm, _, _ in topups))
            for m in METHODS
        ],
        counted,
    )
    assert one_by_one == summed
    cash = sum(k for m, k, _ in topups if m == "cash")
    assert one_by_one.difference_kopecks == counted - opening - cash
