"""A report's period: calendar days in the service's time zone, read from a request's texts,
and the grouping a report is asked for."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from cloud.errors import Unprocessable, ValidationFailed
from cloud.fields import DAY_PATTERN

MAX_REPORT_DAYS = 3660  # ten years
GROUPINGS = ("day", "week", "month", "site", "stand", "tariff", "client_kind", "started_by")


@dataclass(frozen=True)
class Period:
    """Calendar days ``first``..``last`` (inclusive) in the service's time zone."""

    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (midnight after ``last``), exclusive."""
        following = self.last + timedelta(days=1)
        return datetime.combine(following, time.min, ZoneInfo(self.timezone)).astimezone(UTC)


def parse_day(text: str, name: str) -> date:
    """A ``YYYY-MM-DD`` day of the service's calendar (``cloud.fields.DAY_PATTERN``)."""
    try:
        if not re.fullmatch(DAY_PATTERN, text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            _("%(name)s: дата в виде ГГГГ-ММ-ДД, получено «%(text)s»", name=name, text=text[:20]),
            "bad_date",
        ) from None


def check_order(first: date | None, last: date | None) -> None:
    """Each day may be fine and the two still not a period: a rule between them (422)."""
    if first is not None and last is not None and first > last:
        raise Unprocessable(_("Начало периода позже его конца"), "bad_period")


def parse_period(from_text: str | None, to_text: str | None, timezone: str, today: date) -> Period:
    """The period of a report from ``YYYY-MM-DD`` texts; a missing end defaults to this month's."""
    month_first = today.replace(day=1)
    month_last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    first = parse_day(from_text, "from") if from_text else month_first
    last = parse_day(to_text, "to") if to_text else month_last
    check_order(first, last)
    return Period(first, last, timezone)


def check_grouping(
    group_by: str | None, choices: tuple[str, ...] = GROUPINGS, default: str = "site"
) -> str:
    """The grouping asked for, one of ``choices``, or ``default`` when none was."""
    if not group_by:
        return default
    if group_by not in choices:
        raise ValidationFailed(
            _("group_by: одно из %(names)s", names=", ".join(choices)), "bad_group_by"
        )
    return group_by


def period_for(from_text: str | None, to_text: str | None, timezone: str, now: datetime) -> Period:
    """The period of a request's ``YYYY-MM-DD`` texts; missing days default to the current
    month in ``timezone``. Bad texts raise ValidationFailed; a period of more than
    ``MAX_REPORT_DAYS`` (its rows, one per day or week, and their time-zone work grow with it)
    is refused with 422."""
    period = parse_period(from_text, to_text, timezone, now.astimezone(ZoneInfo(timezone)).date())
    if (period.last - period.first).days >= MAX_REPORT_DAYS:
        raise Unprocessable(
            _("Период отчёта — не длиннее %(n)s дней", n=MAX_REPORT_DAYS), "period_too_long"
        )
    return period
