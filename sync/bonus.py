"""Bonus points at the stand's till: how a session's cost is split between points and money,
computed identically by the stand (which decides) and the central service (which checks).

A point is worth ``point_value_kopecks`` (the central configuration, sent down with the
directory; 100 = one rouble). Points pay only whole points, never more than the cost:
``floor(cost / point_value)`` at most, and the kopecks a point cannot cover are money.

A client's preference (``POINTS_SPENDING``):

- ``points_first``: as many points as the cost and the points held allow, the rest in money;
- ``money_first``: money while the money balance covers the cost (a positive balance only),
  then points for what it does not cover, the rest in money (the balance goes negative);
- ``off``: points are kept, never spent.

``points_held`` is what the stand may spend: the points balance its directory gave plus its
own entries the central service has not settled yet, never less than zero.
"""

from dataclasses import dataclass

from sync.errors import RuleError

POINTS_SPENDING = ("points_first", "money_first", "off")
DEFAULT_POINT_VALUE_KOPECKS = 100


@dataclass(frozen=True)
class Split:
    """How one session's cost is paid: ``points`` spent, worth ``points_kopecks``, and
    ``money_kopecks`` charged to the balance; ``points_kopecks + money_kopecks == cost``."""

    points: int
    points_kopecks: int
    money_kopecks: int


def split_cost(
    cost_kopecks: int,
    *,
    money_balance: int,
    points_held: int,
    spending: str,
    point_value_kopecks: int = DEFAULT_POINT_VALUE_KOPECKS,
) -> Split:
    """Split ``cost_kopecks`` between points and money (module rules)."""
    if spending not in POINTS_SPENDING:
        raise RuleError("Неизвестный порядок списания баллов", "bad_points_spending")
    if point_value_kopecks < 1:
        raise RuleError("Стоимость балла должна быть больше нуля", "bad_point_value")
    if cost_kopecks < 0:
        raise RuleError("Стоимость сеанса не может быть отрицательной", "bad_cost")
    to_cover = cost_kopecks
    if spending == "money_first":
        to_cover = max(0, cost_kopecks - max(0, money_balance))
    if spending == "off":
        to_cover = 0
    points = max(0, min(max(0, points_held), to_cover // point_value_kopecks))
    covered = points * point_value_kopecks
    return Split(points=points, points_kopecks=covered, money_kopecks=cost_kopecks - covered)
