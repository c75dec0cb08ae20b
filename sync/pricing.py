"""Session pricing, computed identically by the stand and the central service.

The rule, in integer kopecks (no floats):

1. A negative duration is an error.
2. Grace: a session lasting at most ``grace_s`` seconds is free (a mistaken tap). Grace
   is "free if within", never subtracted: a session one second longer pays for its
   whole duration. A zero-length session is therefore always free.
3. Steps: each started billing step is billed in full,
   ``billed_s = ceil(duration_s / step_s) * step_s``. Grace and steps look at the whole
   session, never at its parts.
4. Rate: ``cost = ceil(billed_s * per_minute / 60)``, rounded up to a whole kopeck. With a
   schedule (``sync.schedule``: night rates, happy hours in the site's local time) the billed
   seconds, counted from the start, are cut into parts at the windows' edges, each part at
   the rate in force then (a window's, else the version's own), and
   ``cost = ceil(sum(part_s * per_minute_of_part) / 60)``: one rounding for the whole session,
   so a session within one rate costs exactly what it costs without a schedule, and the
   billed tail of the last step (after the real end) is at the rate of the time it falls in.
   The start (``Start``: the moment, taken to the whole second, and the time zone) is the
   stand's own clock reading at the start: the stand prices with it, and the central service
   reprices a stand's session with the same reading (its start event's time as sent).
5. Minimum: ``cost = max(cost, min_charge)`` for any billed session (once, on the whole).
6. Cap: if set, ``cost = min(cost, cap)`` (once, on the whole).
7. Personal discount (``Discount``), last, on the tariff's price after its minimum and cap: a
   percentage takes off ``floor(cost * percent / 100)`` (the discount is rounded down to a
   whole kopeck, as the rate rounds up), a fixed amount takes off up to that many kopecks.
   The result is never below zero; a free (grace) session stays free. The minimum charge is a
   property of the tariff, so a discounted session may cost less than it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sync.errors import RuleError
from sync.schedule import (
    Schedule,
    Start,
    schedule_from_json,
    schedule_to_json,
    segments,
    validate_schedule,
    window_rate,
)

Kind = Literal["member", "guest"]

MAX_STEP_S = 3600
MAX_GRACE_S = 3600
MAX_DISCOUNT_KOPECKS = 10_000_000
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
    schedule: Schedule = ()  # rates by time of day and weekday (sync.schedule)

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
        validate_schedule(self.schedule)

    def per_minute_rates(self, kind: Kind) -> set[int]:
        """Every per-minute rate a ``kind`` of client may pay at these rates."""
        return {_per_minute(self, kind)} | {window_rate(w, kind) for w in self.schedule}


@dataclass(frozen=True)
class Discount:
    """A client's personal discount per session: a percentage or a fixed amount in kopecks
    (at most one of the two is non-zero)."""

    percent: int = 0
    fixed_kopecks: int = 0

    def validate(self) -> None:
        """Raise RuleError(code "bad_discount") if the values are out of range."""
        if not _is_int(self.percent) or not _is_int(self.fixed_kopecks):
            raise RuleError("Скидка: нужно целое число", "bad_discount")
        if not 0 <= self.percent <= 100:
            raise RuleError("Скидка: процент — от 0 до 100", "bad_discount")
        if not 0 <= self.fixed_kopecks <= MAX_DISCOUNT_KOPECKS:
            raise RuleError("Скидка: сумма — от 0 до 100 000 ₽", "bad_discount")
        if self.percent and self.fixed_kopecks:
            raise RuleError("Скидка: либо процент, либо сумма, не обе сразу", "bad_discount")

    def apply(self, cost: int) -> int:
        """``cost`` after this discount (rule 7)."""
        self.validate()
        if self.percent:
            cost -= cost * self.percent // 100
        return max(0, cost - self.fixed_kopecks)


NO_DISCOUNT = Discount()


def _per_minute(rates: Rates, kind: Kind) -> int:
    if kind == "member":
        return rates.member_per_minute
    if kind == "guest":
        return rates.guest_per_minute
    raise RuleError("Неизвестный тип клиента", "bad_kind")


def _kopeck_seconds(rates: Rates, kind: Kind, billed_s: int, start: Start | None) -> int:
    """The sum of ``seconds * per_minute`` over the billed time (rule 4)."""
    per_minute = _per_minute(rates, kind)
    if not rates.schedule:
        return billed_s * per_minute
    if start is None:
        raise RuleError("Тариф с расписанием: нужно время начала сеанса", "bad_start")
    return sum(
        part_s * (per_minute if window is None else window_rate(window, kind))
        for part_s, window in segments(rates.schedule, start, billed_s)
    )


def price(
    rates: Rates,
    kind: Kind,
    duration_s: int,
    discount: Discount = NO_DISCOUNT,
    start: Start | None = None,
) -> int:
    """Return the cost in kopecks of a session of `duration_s` seconds (see module rule);
    ``start`` (when and where the session began) is needed only by rates with a schedule."""
    rates.validate()
    discount.validate()
    _per_minute(rates, kind)
    if not _is_int(duration_s) or duration_s < 0:
        raise RuleError("Длительность сеанса не может быть отрицательной", "bad_duration")
    if duration_s <= rates.grace_s:
        return 0
    billed_s = _ceil_div(duration_s, rates.step_s) * rates.step_s
    cost = max(_ceil_div(_kopeck_seconds(rates, kind, billed_s, start), 60), rates.min_charge)
    if rates.cap is not None:
        cost = min(cost, rates.cap)
    return discount.apply(cost)


def rates_to_json(rates: Rates) -> dict[str, Any]:
    """The JSON form of rates (the directory, the stand's tables); the schedule only if any,
    so rates without one read exactly as before."""
    data: dict[str, Any] = {
        "member_per_minute": rates.member_per_minute,
        "guest_per_minute": rates.guest_per_minute,
        "step_s": rates.step_s,
        "min_charge": rates.min_charge,
        "cap": rates.cap,
        "grace_s": rates.grace_s,
    }
    if rates.schedule:
        data["schedule"] = schedule_to_json(rates.schedule)
    return data


def rates_from_json(data: Mapping[str, Any]) -> Rates:
    """Rates from :func:`rates_to_json`'s form (not validated: ``validate`` does that)."""
    values = {key: value for key, value in data.items() if key != "schedule"}
    return Rates(**values, schedule=schedule_from_json(data.get("schedule")))
