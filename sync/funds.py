"""Money for a wash: what a client has available, whether it lets them start, and when a running
session has used it up. The stand decides with it (edge/engine.py) and the central service shows
and checks with it (cloud/clients/funds.py), so both compute the same numbers.

The rule, in integer kopecks:

1. Available = money balance + what the client's bonus points are worth if they spend them
   (``points_spending`` not "off"; ``points * point_value``) + the client's overdraft (credit)
   limit. A charge of at most the available amount, split between points and money as
   ``sync.bonus`` splits it, never takes the money balance below minus the overdraft (or below
   where it was, if a debt from elsewhere put it there), but for less than one point's worth
   when points pay: they pay whole points only, the kopecks left over are money.
2. Start: a start needs available >= ``start_minimum``, the price of the shortest billed session
   (one billing step, at least the tariff's minimum charge, within its cap, after the client's
   personal discount): a client at zero cannot start on a paid tariff, and a client whose money
   would be used up within the first step does not start only to be stopped at once.
3. End: a running session may go on while its running cost (``sync.pricing.price`` of the time
   elapsed) is within the available amount. Once it is not, the session ends at
   ``funds_end_s``, the longest duration whose price is within the available amount (each
   started step is billed in full, so this is the end of the last step the money pays for),
   charged exactly that price: never more than what was available. A tariff whose price stops
   growing within the available amount (a cap, or no per-minute rate) never ends a session.
   Available is computed anew each time, so a top-up during the wash extends it.

    available = available_kopecks(money_kopecks=5_000, points=20, points_spending="points_first",
                                  point_value_kopecks=100, overdraft_kopecks=0)  # 7_000
    can_start(available, rates, "member")
    funds_end_s(rates, "member", NO_DISCOUNT, available)  # 420 at 10 ₽ a minute
"""

from dataclasses import replace

from sync.bonus import POINTS_SPENDING
from sync.errors import RuleError
from sync.pricing import NO_DISCOUNT, Discount, Kind, Rates, price
from sync.schedule import Start

MAX_OVERDRAFT_KOPECKS = 10_000_000  # 100 000 ₽: a client's credit limit is at most this
NEVER_S = 10**9  # some 30 years: a session the money would pay longer than this never ends by it


def check_overdraft(overdraft_kopecks: int) -> int:
    """``overdraft_kopecks`` if it is a whole number from 0 to ``MAX_OVERDRAFT_KOPECKS``;
    RuleError(code "bad_overdraft") otherwise."""
    if (
        not isinstance(overdraft_kopecks, int)
        or isinstance(overdraft_kopecks, bool)
        or not 0 <= overdraft_kopecks <= MAX_OVERDRAFT_KOPECKS
    ):
        raise RuleError("Кредитный лимит: целое число копеек от 0 до 100 000 ₽", "bad_overdraft")
    return overdraft_kopecks


def available_kopecks(
    *,
    money_kopecks: int,
    points: int,
    points_spending: str,
    point_value_kopecks: int,
    overdraft_kopecks: int,
) -> int:
    """What the client may spend on washing now (rule 1); negative when they owe more than
    their overdraft allows."""
    if points_spending not in POINTS_SPENDING:
        raise RuleError("Неизвестный порядок списания баллов", "bad_points_spending")
    if point_value_kopecks < 1:
        raise RuleError("Стоимость балла должна быть больше нуля", "bad_point_value")
    headroom = money_kopecks + check_overdraft(overdraft_kopecks)
    if points_spending == "off" or points <= 0:
        return headroom
    return headroom + points * point_value_kopecks


def start_minimum(
    rates: Rates, kind: Kind, discount: Discount = NO_DISCOUNT, start: Start | None = None
) -> int:
    """The price of the shortest billed session: one step, the minimum charge, the cap and the
    discount applied (the grace period aside: a start is for a wash, not a mistaken tap); with
    a schedule, the step at the rate of ``start``."""
    return price(replace(rates, grace_s=0), kind, 1, discount, start)


def can_start(
    available: int,
    rates: Rates,
    kind: Kind,
    discount: Discount = NO_DISCOUNT,
    start: Start | None = None,
) -> bool:
    """Whether ``available`` kopecks let the client start a session at ``rates`` (rule 2)."""
    return available >= start_minimum(rates, kind, discount, start)


def _never_beyond(
    rates: Rates, kind: Kind, discount: Discount, available: int, start: Start | None
) -> bool:
    """Whether no duration costs more than ``available``: the price stops growing (no
    per-minute rate at any hour, or a cap) at or below it."""
    if rates.per_minute_rates(kind) == {0}:
        highest = price(rates, kind, rates.grace_s + 1, discount, start)
    elif rates.cap is not None:
        highest = discount.apply(rates.cap)  # a growing price reaches the cap at last
    elif discount.percent == 100:
        highest = 0
    else:
        return False  # grows without end
    return highest <= available


def funds_end_s(
    rates: Rates, kind: Kind, discount: Discount, available: int, start: Start | None = None
) -> int | None:
    """The longest duration in seconds whose price is within ``available`` (rule 3); None if
    no duration costs more. 0 when even that is too much (``available`` below zero)."""
    if available < 0:
        return 0
    if _never_beyond(rates, kind, discount, available, start):
        return None
    if price(rates, kind, rates.grace_s + 1, discount, start) > available:
        return rates.grace_s  # the free part only
    # The price is constant within each started step: find the last step it stays within.
    low = -(-(rates.grace_s + 1) // rates.step_s)  # the first billed step: affordable
    high = low * 2
    while price(rates, kind, high * rates.step_s, discount, start) <= available:
        if high * rates.step_s > NEVER_S:
            return None  # longer than any session: a price that never gets there
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if price(rates, kind, middle * rates.step_s, discount, start) <= available:
            low = middle
        else:
            high = middle
    return low * rates.step_s


def funds_run_out(
    rates: Rates,
    kind: Kind,
    discount: Discount,
    available: int,
    elapsed_s: int,
    start: Start | None = None,
) -> int | None:
    """The duration to end a session at if, ``elapsed_s`` after its start, its running cost is
    beyond ``available``; None while it may go on (rule 3)."""
    end_s = funds_end_s(rates, kind, discount, available, start)
    if end_s is None or elapsed_s <= end_s:
        return None
    return end_s
