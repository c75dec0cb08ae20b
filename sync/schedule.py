"""Rates by time of day and day of week (night rates, happy hours) of a tariff version.

A schedule is a short list of windows, each with its own per-minute rates for members and
guests; outside every window the version's own rates apply. It is read in the site's local
time (the ``timezone`` both the stand and the central service are configured with):

1. A window has days of the week (0 = Monday ... 6 = Sunday), a start and an end in minutes
   of the local day (``start_min`` 0..1439, ``end_min`` 1..1440, 1440 meaning midnight). An
   end at or before the start runs past midnight: the window "пт 22:00–07:00" covers Friday
   22:00 to Saturday 07:00; its days are the days it starts on.
2. Windows never overlap (refused), so at any moment at most one applies; there are at most
   ``MAX_WINDOWS``.
3. Rates change only at whole local minutes, so a second (counted from the session's start
   taken to the whole second) is billed whole at the rate in force when it begins.

``segments`` cuts a stretch of time into parts of one rate each; ``sync.pricing.price``
sums them (see its rules). A real time zone's offset changes only at whole quarter hours of
UTC, so a part is never longer than one UTC quarter hour: its offset is read once.

    night = Window(days=ALL_DAYS, start_min=22 * 60, end_min=7 * 60,
                   member_per_minute=500, guest_per_minute=700)
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.errors import RuleError

ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)
MAX_WINDOWS = 20
DAY_MIN = 1440
WEEK_MIN = 7 * DAY_MIN
_QUARTER_S = 900
DAY_NAMES = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")


def _same(word: str) -> str:
    return word


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(message: str) -> RuleError:
    return RuleError(f"Расписание тарифа: {message}", "bad_schedule")


@dataclass(frozen=True)
class Window:
    """One window of a schedule (rule 1) with its per-minute rates in kopecks."""

    days: tuple[int, ...]
    start_min: int
    end_min: int
    member_per_minute: int
    guest_per_minute: int

    @property
    def wraps(self) -> bool:
        """Whether the window runs past midnight into the next day."""
        return self.end_min <= self.start_min

    def validate(self) -> None:
        """Raise RuleError(code "bad_schedule") if a value is out of range."""
        values = (self.start_min, self.end_min, self.member_per_minute, self.guest_per_minute)
        if not all(_is_int(v) for v in values):
            raise _fail("нужны целые числа")
        if not self.days or not all(_is_int(d) and 0 <= d <= 6 for d in self.days):
            raise _fail("дни недели — от понедельника (0) до воскресенья (6), хотя бы один")
        if len(set(self.days)) != len(self.days):
            raise _fail("день недели указан дважды")
        if not 0 <= self.start_min < DAY_MIN or not 0 < self.end_min <= DAY_MIN:
            raise _fail("время — от 00:00 до 24:00")
        if self.start_min == self.end_min:
            raise _fail("начало и конец окна совпадают")
        if self.member_per_minute < 0 or self.guest_per_minute < 0:
            raise _fail("цена за минуту не может быть отрицательной")

    def week_spans(self) -> Iterator[tuple[int, int]]:
        """The minutes of the week (Monday 00:00 = 0) it covers, as half-open spans."""
        length = (self.end_min - self.start_min) % DAY_MIN or DAY_MIN
        for day in self.days:
            begin = day * DAY_MIN + self.start_min
            end = begin + length
            if end <= WEEK_MIN:
                yield begin, end
            else:  # Sunday night into Monday morning
                yield begin, WEEK_MIN
                yield 0, end - WEEK_MIN

    def label(self, translate: Callable[[str], str] = _same) -> str:
        """The window as people read it: "пн–пт 22:00–07:00", "ежедневно 22:00–07:00",
        "пн, ср, пт 10:00–12:00" (its words through ``translate``, see ``days_text``)."""
        days = days_text(self.days, translate)
        return f"{days} {clock_text(self.start_min)}–{clock_text(self.end_min)}"


def days_text(days: Iterable[int], translate: Callable[[str], str] = _same) -> str:
    """Weekdays (0 Monday) as people read them: runs of three or more as "пн–пт", every day
    as "ежедневно". ``translate`` gives each word (``DAY_NAMES``, "ежедневно") in the
    reader's language: the stand's screen passes its gettext."""
    chosen = sorted(set(days))
    if len(chosen) == len(DAY_NAMES):
        return translate("ежедневно")
    runs: list[list[int]] = []
    for day in chosen:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{translate(DAY_NAMES[run[0]])}–{translate(DAY_NAMES[run[-1]])}")
        else:
            parts += [translate(DAY_NAMES[day]) for day in run]
    return ", ".join(parts)


def clock_text(minute: int) -> str:
    """``minute`` of the day as "HH:MM" (1440 is "24:00")."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


Schedule = tuple[Window, ...]


def validate_schedule(schedule: Schedule) -> None:
    """Raise RuleError(code "bad_schedule") unless every window is valid and none overlap."""
    if len(schedule) > MAX_WINDOWS:
        raise _fail(f"не больше {MAX_WINDOWS} окон")
    spans: list[tuple[int, int, Window]] = []
    for window in schedule:
        window.validate()
        spans += [(begin, end, window) for begin, end in window.week_spans()]
    spans.sort(key=lambda span: span[:2])
    for (_, end, first), (begin, _, second) in pairwise(spans):
        if begin < end:
            raise _fail(f"окна «{first.label()}» и «{second.label()}» пересекаются")


@dataclass(frozen=True)
class Start:
    """When a session started and the time zone of its site: where a schedule is read."""

    at: datetime
    timezone: str

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise RuleError(f"Неизвестный часовой пояс {self.timezone!r}", "bad_timezone") from None

    def utc(self) -> datetime:
        """The start in UTC, taken to the whole second (rule 3)."""
        if self.at.tzinfo is None:
            raise RuleError("Время начала сеанса без часового пояса", "bad_start")
        return self.at.astimezone(UTC).replace(microsecond=0)


def window_at(schedule: Schedule, weekday: int, minute: int) -> Window | None:
    """The window covering local ``minute`` of the day ``weekday``, if any (rule 1)."""
    yesterday = (weekday - 1) % 7
    for window in schedule:
        if window.wraps:
            if (weekday in window.days and minute >= window.start_min) or (
                yesterday in window.days and minute < window.end_min
            ):
                return window
        elif weekday in window.days and window.start_min <= minute < window.end_min:
            return window
    return None


def window_in_force(schedule: Schedule, moment: Start) -> Window | None:
    """The window whose rates apply at ``moment`` (its local minute in its time zone), if
    any: the rate a session starting then pays first."""
    local = moment.utc().astimezone(moment.zone())
    return window_at(schedule, local.weekday(), local.hour * 60 + local.minute)


def _edges(schedule: Schedule) -> tuple[int, ...]:
    """The minutes of a day at which a rate may change: window edges and midnight."""
    edges = {DAY_MIN} | {w.start_min for w in schedule} | {w.end_min for w in schedule}
    return tuple(sorted(edges))


def segments(schedule: Schedule, start: Start, seconds: int) -> Iterator[tuple[int, Window | None]]:
    """``seconds`` from ``start`` as parts ``(length_s, window or None)``, in order."""
    zone = start.zone()
    edges = _edges(schedule)
    moment = start.utc()
    left = seconds
    while left > 0:
        local = moment.astimezone(zone)
        minute = local.hour * 60 + local.minute
        edge = next(e for e in edges if e > minute)
        to_edge = (edge - minute) * 60 - local.second
        to_quarter = _QUARTER_S - (moment.minute * 60 + moment.second) % _QUARTER_S
        part = min(to_edge, to_quarter, left)
        yield part, window_at(schedule, local.weekday(), minute)
        moment += timedelta(seconds=part)
        left -= part


def window_rate(window: Window, kind: Literal["member", "guest"]) -> int:
    return window.member_per_minute if kind == "member" else window.guest_per_minute


def schedule_to_json(schedule: Schedule) -> list[dict[str, Any]]:
    """The schedule as JSON (the directory, the stand's tables, the central column)."""
    return [
        {
            "days": list(w.days),
            "start_min": w.start_min,
            "end_min": w.end_min,
            "member_per_minute": w.member_per_minute,
            "guest_per_minute": w.guest_per_minute,
        }
        for w in schedule
    ]


def schedule_from_json(data: object) -> Schedule:
    """A schedule from its JSON form; RuleError(code "bad_schedule") if it is malformed."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail("нужен список окон")
    windows = []
    for item in data:
        if not isinstance(item, Mapping) or not isinstance(item.get("days"), list):
            raise _fail("окно описано неверно")
        try:
            window = Window(
                days=tuple(item["days"]),
                start_min=item["start_min"],
                end_min=item["end_min"],
                member_per_minute=item["member_per_minute"],
                guest_per_minute=item["guest_per_minute"],
            )
        except KeyError as missing:
            raise _fail(f"в окне нет поля {missing}") from None
        windows.append(window)
    schedule = tuple(windows)
    validate_schedule(schedule)
    return schedule
