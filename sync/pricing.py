"""Session pricing, computed identically by the stand and the central service.

The rule, in integer kopecks (no floats):

1. A negative duration is an error.
2. Grace: a session lasting at most ``grace_s`` seconds is free (a mistaken tap). Grace
   is "free if within", never subtracted: a session one second longer pays for its
   whole duration. A zero-length session is therefore always free.
3. Steps: each started billing step is billed in full,
   ``billed_s = ceil(duration_s / step_s) * step_s``.
4. Rate: ``cost = ceil(billed_s * per_minute / 60)``, rounded up to a whole kopeck.
5. Minimum: ``cost = max(cost, min_charge)`` for any billed session.
6. Cap: if set, ``cost = min(cost, cap)``.
"""

from dataclasses import dataclass
from typing import Literal

from sync.errors import RuleError

Kind = Literal["member", "guest"]

MAX_STEP_S = 3600
MAX_GRACE_S = 3600
_LABELS = {
    "member_per_minute": "цена минуты для участника клуба",
    "guest_per_minute": "цена минуты для гостя",
    "step_s": "шаг тарификации",
    "min_charge": "минимальная сумма",
    "grace_s": "бесплатное время",
}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rates:
    """One tariff version's numbers; all money in kopecks."""

    member_per_minute: int  # kopecks per minute
    guest_per_minute: int
    step_s: int = 60  # billing step in seconds: each started step is billed in full
    min_charge: int = 0  # kopecks, applied to any billed (non-free) session
    cap: int | None = None  # kopecks, maximum charge per session
    grace_s: int = 0  # a session no longer than this is free (mistaken taps)

    def validate(self) -> None:
        """Raise RuleError(code "bad_tariff") if any value is out of range."""
        for name, label in _LABELS.items():
            if not _is_int(getattr(self, name)):
                raise RuleError(f"Тариф: {label} — нужно целое число", "bad_tariff")
        if self.member_per_minute < 0 or self.guest_per_minute < 0:
            raise RuleError("Тариф: цена за минуту не может быть отрицательной", "bad_tariff")
        if not 1 <= self.step_s <= MAX_STEP_S:
            raise RuleError(
                f"Тариф: шаг тарификации должен быть от 1 до {MAX_STEP_S} секунд", "bad_tariff"
            )
        if self.min_charge < 0:
            raise RuleError("Тариф: минимальная сумма не может быть отрицательной", "bad_tariff")
        if not 0 <= self.grace_s <= MAX_GRACE_S:
            raise RuleError(
                f"Тариф: бесплатное время должно быть от 0 до {MAX_GRACE_S} секунд", "bad_tariff"
            )
        if self.cap is not None:
            if not _is_int(self.cap) or self.cap <= 0:
                raise RuleError(
                    "Тариф: предельная сумма должна быть целым положительным числом", "bad_tariff"
                )
            if self.cap < self.min_charge:
                raise RuleError(
                    "Тариф: предельная сумма не может быть меньше минимальной", "bad_tariff"
                )


def _per_minute(rates: Rates, kind: Kind) -> int:
    if kind == "member":
        return rates.member_per_minute
    if kind == "guest":
        return rates.guest_per_minute
    raise RuleError("Неизвестный тип клиента", "bad_kind")


def price(rates: Rates, kind: Kind, duration_s: int) -> int:
    """Return the cost in kopecks of a session of `duration_s` seconds (see module rule)."""
    rates.validate()
    per_minute = _per_minute(rates, kind)
    if not _is_int(duration_s) or duration_s < 0:
        raise RuleError("Длительность сеанса не может быть отрицательной", "bad_duration")
    if duration_s <= rates.grace_s:
        return 0
    billed_s = _ceil_div(duration_s, rates.step_s) * rates.step_s
    cost = max(_ceil_div(billed_s * per_minute, 60), rates.min_charge)
    if rates.cap is not None:
        cost = min(cost, rates.cap)
    return cost
