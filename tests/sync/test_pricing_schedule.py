"""Prices by time of day and weekday: sync.pricing.price with a schedule (sync.schedule),
checked against a reference written independently (exact fractions, minute by minute of local
time) and against properties: monotonic, capped, schedule-free equals today's price."""

import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sync.errors import RuleError
from sync.funds import can_start, funds_end_s
from sync.pricing import NO_DISCOUNT, Discount, Kind, Rates, price, rates_from_json, rates_to_json
from sync.schedule import ALL_DAYS, Start, Window, days_text, schedule_from_json

MSK = "Europe/Moscow"  # no daylight saving since 2014
BERLIN = "Europe/Berlin"  # with daylight saving: clocks jump at 01:00 UTC
NIGHT = Window(ALL_DAYS, 22 * 60, 7 * 60, 500, 700)  # 22:00–07:00, 5 and 7 ₽/min
HAPPY = Window((0, 1, 2, 3, 4), 14 * 60, 16 * 60, 700, 1000)  # weekdays 14:00–16:00
SUNDAY_FREE_HOUR = Window((6,), 9 * 60, 10 * 60, 0, 0)
BASE = Rates(1000, 1500)
SCHEDULED = Rates(1000, 1500, schedule=(NIGHT, HAPPY, SUNDAY_FREE_HOUR))


def msk(day: int, hour: int, minute: int = 0, second: int = 0) -> Start:
    """A start in Moscow on 2026-12-``day`` (the 7th is a Monday)."""
    local = datetime(2026, 12, day, hour, minute, second, tzinfo=ZoneInfo(MSK))
    return Start(local.astimezone(UTC), MSK)


def reference_price(
    rates: Rates, kind: Kind, duration_s: int, start: Start, discount: Discount = NO_DISCOUNT
) -> int:
    """The documented rule written independently: exact fractions, the billed time walked a
    local minute at a time, each minute's rate looked up by testing every window."""
    if duration_s <= rates.grace_s:
        return 0
    billed = math.ceil(Fraction(duration_s, rates.step_s)) * rates.step_s
    zone = ZoneInfo(start.timezone)
    moment = start.at.astimezone(UTC).replace(microsecond=0)
    total = Fraction(0)
    left = billed
    while left:
        local = moment.astimezone(zone)
        chunk = min(60 - local.second, left)  # to the next local minute
        rate = rates.member_per_minute if kind == "member" else rates.guest_per_minute
        week_minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        for w in rates.schedule:
            length = (w.end_min - w.start_min) % 1440 or 1440
            for day in w.days:
                begin = day * 1440 + w.start_min
                if any(begin <= m < begin + length for m in (week_minute, week_minute + 10080)):
                    rate = w.member_per_minute if kind == "member" else w.guest_per_minute
        total += Fraction(chunk * rate, 60)
        moment += timedelta(seconds=chunk)
        left -= chunk
    cost = max(math.ceil(total), rates.min_charge)
    if rates.cap is not None:
        cost = min(cost, rates.cap)
    return discount.apply(cost)


@pytest.mark.parametrize(
    ("start", "duration_s", "member", "guest"),
    [
        (msk(7, 12), 600, 10 * 1000, 10 * 1500),  # Monday noon: base rates
        (msk(7, 23), 600, 10 * 500, 10 * 700),  # night
        (msk(7, 21, 55), 600, 5 * 1000 + 5 * 500, 5 * 1500 + 5 * 700),  # into the night
        (msk(8, 6, 50), 1200, 10 * 500 + 10 * 1000, 10 * 700 + 10 * 1500),  # out of it
        (msk(7, 23, 30), 3600, 60 * 500, 60 * 700),  # over midnight, one window
        (
            msk(8, 13, 30),
            3 * 3600,
            30 * 1000 + 120 * 700 + 30 * 1000,
            30 * 1500 + 120 * 1000 + 30 * 1500,
        ),
        (msk(13, 8, 30), 7200, 30 * 1000 + 60 * 0 + 30 * 1000, 30 * 1500 + 30 * 1500),  # Sunday
        (msk(7, 21, 59, 30), 60, 500 + 250, 750 + 350),  # half a minute each side
        (msk(7, 23), 24 * 3600, 9 * 60 * 500 + 2 * 60 * 700 + 13 * 60 * 1000, None),
    ],
)
def test_examples(start: Start, duration_s: int, member: int, guest: int | None) -> None:
    assert price(SCHEDULED, "member", duration_s, start=start) == member
    if guest is not None:
        assert price(SCHEDULED, "guest", duration_s, start=start) == guest
    assert reference_price(SCHEDULED, "member", duration_s, start) == member


def test_one_rounding_for_the_whole_session() -> None:
    # 1 kopeck/min by day, 2 by night: 30 s of each is 1.5 kopecks, rounded up once to 2.
    rates = Rates(1, 1, step_s=1, schedule=(Window(ALL_DAYS, 22 * 60, 7 * 60, 2, 2),))
    assert price(rates, "member", 60, start=msk(7, 21, 59, 30)) == 2


def test_steps_grace_minimum_cap_on_the_whole_session() -> None:
    rates = Rates(1000, 1500, step_s=300, min_charge=5000, cap=20000, grace_s=10, schedule=(NIGHT,))
    start = msk(7, 21, 58)
    assert price(rates, "member", 10, start=start) == 0  # grace: whole session
    # 11 s bill a whole 5-minute step: 2 minutes by day, 3 by night; the minimum lifts it.
    assert price(rates, "member", 11, start=start) == 5000
    assert price(rates, "member", 301, start=start) == 2 * 1000 + 8 * 500  # two steps
    assert price(rates, "member", 10 * 3600, start=start) == 20000  # the cap, once


@pytest.mark.parametrize("zone", [MSK, BERLIN, "Asia/Kolkata", "Australia/Lord_Howe"])
def test_random_against_reference(zone: str) -> None:
    rng = random.Random(f"schedule-{zone}")
    for _ in range(120):
        windows: list[Window] = []
        for _w in range(rng.randint(1, 4)):
            start_min = rng.randrange(0, 1440, rng.choice((1, 15, 60)))
            end_min = rng.randrange(1, 1441)
            if end_min == start_min:
                continue
            days = tuple(sorted(rng.sample(range(7), rng.randint(1, 7))))
            window = Window(days, start_min, end_min, rng.randint(0, 3000), rng.randint(0, 3000))
            try:
                Rates(1000, 1500, schedule=(*windows, window)).validate()
            except RuleError:
                continue  # overlapping: left out
            windows.append(window)
        rates = Rates(
            rng.randint(0, 3000),
            rng.randint(0, 3000),
            step_s=rng.choice((1, 7, 30, 60, 300, 3600)),
            min_charge=rng.choice((0, 0, 5000)),
            cap=rng.choice((None, None, 50000, 10**7)),
            grace_s=rng.choice((0, 10)),
            schedule=tuple(windows),
        )
        if rates.cap is not None and rates.cap < rates.min_charge:
            continue
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(365 * 86400), microseconds=rng.randrange(10**6)
        )
        duration = rng.choice(
            (rng.randint(0, 600), rng.randint(0, 6 * 3600), rng.randint(0, 3 * 86400))
        )
        start = Start(moment, zone)
        for kind in ("member", "guest"):
            discount = rng.choice((NO_DISCOUNT, Discount(percent=15), Discount(fixed_kopecks=300)))
            expected = reference_price(rates, kind, duration, start, discount)
            assert price(rates, kind, duration, discount, start) == expected, (
                rates,
                start,
                duration,
            )


@pytest.mark.parametrize(
    "local_start",
    [
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo(BERLIN)),  # springs forward at 02:00
        datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo(BERLIN)),  # falls back at 03:00
    ],
)
def test_daylight_saving_changes(local_start: datetime) -> None:
    rates = Rates(1000, 1500, schedule=(Window(ALL_DAYS, 2 * 60, 3 * 60, 0, 0),))
    start = Start(local_start, BERLIN)
    for duration in range(0, 4 * 3600, 450):
        assert price(rates, "member", duration, start=start) == reference_price(
            rates, "member", duration, start
        )
    # Spring: 02:00–03:00 does not exist, the free hour never comes; autumn: it lasts 2 hours.
    expected = 180 * 1000 if local_start.month == 3 else 60 * 1000
    assert price(rates, "member", 3 * 3600, start=start) == expected


def test_schedule_free_equals_todays_price() -> None:
    rng = random.Random(7)
    for _ in range(500):
        rates = Rates(rng.randint(0, 5000), rng.randint(0, 5000), step_s=rng.randint(1, 600))
        duration = rng.randint(0, 100_000)
        start = Start(
            datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7)), MSK
        )
        for kind in ("member", "guest"):
            assert price(rates, kind, duration, start=start) == price(rates, kind, duration)


def test_a_window_at_the_base_rates_changes_nothing() -> None:
    same = Rates(1000, 1500, step_s=30, schedule=(Window(ALL_DAYS, 600, 1200, 1000, 1500),))
    plain = Rates(1000, 1500, step_s=30)
    for duration in range(0, 30 * 3600, 997):
        assert price(same, "guest", duration, start=msk(7, 9, 59, 13)) == price(
            plain, "guest", duration
        )


def test_monotonic_and_capped() -> None:
    rates = Rates(1000, 1500, step_s=30, min_charge=3000, cap=100_000, schedule=SCHEDULED.schedule)
    for start in (msk(7, 21, 40, 17), msk(13, 8, 59, 59), msk(11, 15, 30)):
        previous = 0
        for duration in range(0, 20 * 3600, 37):
            cost = price(rates, "member", duration, start=start)
            assert previous <= cost <= 100_000
            previous = cost


def test_long_sessions_over_several_days() -> None:
    # A week from Monday 00:00: 7 nights of 9 hours, 5 happy hours of 2, one free Sunday hour.
    week = 7 * 86400
    night_min, happy_min = 7 * 9 * 60, 5 * 120
    base_min = 7 * 1440 - night_min - happy_min - 60
    expected = night_min * 500 + happy_min * 700 + base_min * 1000
    assert price(SCHEDULED, "member", week, start=msk(7, 0)) == expected
    assert reference_price(SCHEDULED, "member", week, msk(7, 0)) == expected


def test_a_schedule_needs_the_start() -> None:
    with pytest.raises(RuleError) as error:
        price(SCHEDULED, "member", 60)
    assert error.value.code == "bad_start"
    with pytest.raises(RuleError) as error:
        price(SCHEDULED, "member", 60, start=Start(datetime(2026, 1, 1), MSK))  # noqa: DTZ001
    assert error.value.code == "bad_start"
    with pytest.raises(RuleError) as error:
        price(
            SCHEDULED, "member", 60, start=Start(datetime(2026, 1, 1, tzinfo=UTC), "Mars/Olympus")
        )
    assert error.value.code == "bad_timezone"


@pytest.mark.parametrize(
    "windows",
    [
        (Window(ALL_DAYS, 600, 600, 1, 1),),  # empty
        (Window((), 600, 700, 1, 1),),  # no day
        (Window((7,), 600, 700, 1, 1),),
        (Window((1, 1), 600, 700, 1, 1),),
        (Window((1,), -1, 700, 1, 1),),
        (Window((1,), 600, 1441, 1, 1),),
        (Window((1,), 600, 700, -1, 1),),
        (Window((1,), 600, 700, 1, True),),  # type: ignore[arg-type]
        (Window((1,), 600, 700, 1, 1), Window((1,), 650, 800, 1, 1)),  # overlap
        (
            Window((6,), 22 * 60, 2 * 60, 1, 1),
            Window((0,), 60, 120, 1, 1),
        ),  # Sunday night into Monday
        (Window((0,), 22 * 60, 2 * 60, 1, 1), Window((1,), 60, 120, 1, 1)),
        tuple(Window((d,), h * 60, h * 60 + 30, 1, 1) for d in range(7) for h in range(3)),  # 21
    ],
)
def test_bad_schedules_refused(windows: tuple[Window, ...]) -> None:
    with pytest.raises(RuleError) as error:
        Rates(1000, 1500, schedule=windows).validate()
    assert error.value.code == "bad_schedule"


def test_adjacent_windows_and_a_whole_day_are_fine() -> None:
    Rates(1, 1, schedule=(Window((0,), 0, 1440, 1, 1), Window((1,), 0, 600, 2, 2))).validate()
    Rates(1, 1, schedule=(Window((6,), 22 * 60, 60, 1, 1), Window((0,), 60, 120, 1, 1))).validate()


def test_json_round_trip() -> None:
    assert rates_from_json(rates_to_json(SCHEDULED)) == SCHEDULED
    assert "schedule" not in rates_to_json(BASE)  # rates without one read as before
    assert rates_from_json(rates_to_json(BASE)) == BASE
    for bad in ("night", [1], [{"days": [1]}], [{"days": "1", "start_min": 1}]):
        with pytest.raises(RuleError):
            schedule_from_json(bad)


def test_funds_read_the_rate_at_the_start() -> None:
    rates = Rates(1000, 1500, schedule=(NIGHT,))
    assert can_start(500, rates, "member", start=msk(7, 23))
    assert not can_start(500, rates, "member", start=msk(7, 12))
    # 30 ₽ at night: 6 minutes at 5 ₽; by day 3 minutes.
    assert funds_end_s(rates, "member", NO_DISCOUNT, 3000, msk(7, 23)) == 360
    assert funds_end_s(rates, "member", NO_DISCOUNT, 3000, msk(7, 12)) == 180
    free = Rates(0, 0, schedule=(Window(ALL_DAYS, 0, 60, 0, 0),))
    assert funds_end_s(free, "member", NO_DISCOUNT, 0, msk(7, 12)) is None


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (range(7), "ежедневно"),
        (range(5), "пн–пт"),
        ((5, 6), "сб, вс"),
        ((0, 2, 4), "пн, ср, пт"),
        ((0, 1, 2, 4, 5, 6), "пн–ср, пт–вс"),
        ((3,), "чт"),
    ],
)
def test_a_windows_days_read_as_people_write_them(days: Any, text: str) -> None:
    assert days_text(days) == text
