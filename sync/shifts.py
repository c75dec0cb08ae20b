"""An attendant's shift: the cash reconciliation both sides compute the same way (the stand's
screen when it closes a shift, the central service's Shifts page from its ledger).

1. A shift opens with ``opening_kopecks`` in the drawer (0 to ``MAX_DRAWER_KOPECKS``).
2. Its top-ups are the attendant's top-ups at that stand from the opening event to the closing
   one (by the stand's event order, ``seq``), summed per payment method.
3. Expected cash = opening + the cash top-ups; card and transfer top-ups never reach the drawer.
4. Difference = counted - expected: negative is a shortfall, positive a surplus.

    totals = shift_totals(100000, [("cash", 50000, 1), ("card", 30000, 1)], counted=150000)
    totals.expected_kopecks, totals.difference_kopecks  # 150000, 0
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_DRAWER_KOPECKS = 100_000_000  # 1 000 000 ₽: more is a typing error, not a drawer


@dataclass(frozen=True)
class ShiftTotals:
    """A shift's report (all kopecks); ``counted_kopecks`` and ``difference_kopecks`` are None
    while the shift is open."""

    opening_kopecks: int
    cash_kopecks: int  # cash top-ups taken
    card_kopecks: int  # card top-ups
    transfer_kopecks: int  # transfers
    topups: int  # how many top-ups
    counted_kopecks: int | None = None

    @property
    def expected_kopecks(self) -> int:
        return self.opening_kopecks + self.cash_kopecks

    @property
    def difference_kopecks(self) -> int | None:
        if self.counted_kopecks is None:
            return None
        return self.counted_kopecks - self.expected_kopecks

    def to_dict(self) -> dict[str, int | None]:
        return {
            "opening_kopecks": self.opening_kopecks,
            "cash_kopecks": self.cash_kopecks,
            "card_kopecks": self.card_kopecks,
            "transfer_kopecks": self.transfer_kopecks,
            "topups": self.topups,
            "expected_kopecks": self.expected_kopecks,
            "counted_kopecks": self.counted_kopecks,
            "difference_kopecks": self.difference_kopecks,
        }


def shift_totals(
    opening_kopecks: int, topups: Iterable[tuple[str, int, int]], counted: int | None = None
) -> ShiftTotals:
    """The report of a shift opened with ``opening_kopecks`` whose top-ups are ``topups``
    ((payment method, kopecks, how many) triples: one per top-up, or sums per method) and
    closed with ``counted`` in the drawer (None: open)."""
    sums = {"cash": 0, "card": 0, "transfer": 0}
    count = 0
    for method, kopecks, many in topups:
        sums[method] = sums.get(method, 0) + kopecks
        count += many
    return ShiftTotals(
        opening_kopecks, sums["cash"], sums["card"], sums["transfer"], count, counted
    )
