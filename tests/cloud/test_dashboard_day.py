"""The dashboard's figures of the day (cloud/reports/overview.py): today's revenue and sessions
against the same weekday a week ago, up to the same local time (checked a second after midnight
in Moscow), the posts busy now, and the hour-by-weekday heat map of the last four weeks,
checked cell by cell against sessions placed with Python's own time zone rules."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud.models import Stand
from cloud.reports import overview
from sync.money import NBSP
from tests.cloud.sessionrows import add_session

MOSCOW = ZoneInfo("Europe/Moscow")
# 00:00:30 on Monday 2 March 2026 in Moscow (UTC+3).
MIDNIGHT = datetime(2026, 3, 1, 21, 0, 30, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ended(world, at: datetime, cost: int, stand=None) -> None:
    add_session(
        world.member,
        stand or world.stand_a,
        world.tariff_version,
        started_at=at - timedelta(minutes=10),
        ended_at=at,
        cost_kopecks=cost,
    )


def field(html: str, box: str, name: str) -> str:
    part = html[html.index(f'id="{box}"') :]
    found = re.search(rf'data-field="{name}">([^<]*)<', part)
    assert found is not None, name
    return found.group(1).replace(NBSP, " ")


@pytest.mark.parametrize("clock", [MIDNIGHT], indirect=True)
def test_today_against_the_same_weekday_a_week_ago_just_after_midnight(world, as_role):
    ended(world, utc(2026, 3, 1, 20, 59, 59), 70000)  # 23:59:59 Sunday: yesterday
    ended(world, utc(2026, 3, 1, 21, 0, 0), 10000)  # 00:00:00 Monday: today
    ended(world, utc(2026, 3, 1, 21, 0, 30), 99900)  # at `now` itself: not yet (end exclusive)
    ended(world, utc(2026, 2, 22, 20, 59, 59), 80000)  # Sunday a week ago
    ended(world, utc(2026, 2, 22, 21, 0, 10), 5000)  # Monday a week ago, 00:00:10
    ended(world, utc(2026, 2, 22, 21, 0, 31), 60000)  # a week ago, after this time of day
    ended(world, utc(2026, 3, 1, 21, 0, 5), 30000, stand=world.stand_b)  # the other site
    add_session(world.guest, world.stand_a, world.tariff_version, started_at=MIDNIGHT)  # open

    everywhere = overview.day_comparison(MIDNIGHT, "Europe/Moscow", None)
    assert everywhere.day == date(2026, 3, 2) and everywhere.week_ago == date(2026, 2, 23)
    assert (everywhere.today.sessions, everywhere.today.revenue_kopecks) == (2, 40000)
    assert (everywhere.last_week.sessions, everywhere.last_week.revenue_kopecks) == (1, 5000)
    assert everywhere.revenue.difference == 35000 and everywhere.revenue.percent == 700.0

    site_a = overview.day_comparison(MIDNIGHT, "Europe/Moscow", [world.site_a.id])
    assert (site_a.today.sessions, site_a.today.revenue_kopecks) == (1, 10000)
    assert site_a.sessions.difference == 0 and site_a.sessions.percent == 0.0
    assert site_a.revenue.percent == 100.0

    html = as_role("operator").get(f"/?site_id={world.site_a.id}").get_data(as_text=True)
    assert field(html, "today-revenue", "now") == "100,00 ₽"
    assert field(html, "today-revenue", "before") == "50,00 ₽"
    assert field(html, "today-revenue", "difference") == "+50,00 ₽"
    assert field(html, "today-revenue", "percent") == "+100 %"
    assert field(html, "today-sessions", "now") == "1"
    assert field(html, "today-sessions", "difference") == "0"
    assert "пн 23.02 до 00:00" in html  # the week-ago day and the time both run to

    owner = as_role("owner").get("/").get_data(as_text=True)
    assert field(owner, "today-revenue", "now") == "400,00 ₽"
    assert field(owner, "today-revenue", "percent") == "+700 %"
    chosen = as_role("owner").get(f"/?site_id={world.site_b.id}").get_data(as_text=True)
    assert field(chosen, "today-revenue", "now") == "300,00 ₽"
    assert field(chosen, "today-revenue", "percent") == "—"  # nothing a week ago


@pytest.mark.parametrize("clock", [MIDNIGHT], indirect=True)
def test_a_quiet_week_ago_and_a_quiet_today(world):
    day = overview.day_comparison(MIDNIGHT, "Europe/Moscow", None)
    assert day.today == overview.Figures(0, 0) and day.last_week == overview.Figures(0, 0)
    assert day.revenue.percent is None and day.sessions.difference == 0


def test_posts_busy_now_count_posts_with_an_open_session(world, as_role):
    third = Stand.create(site=world.site_a, name="Пост 2")
    Stand.create(site=world.site_a, name="Пост 3", revoked_at=utc(2025, 1, 1))  # not in use
    now = datetime.now(UTC)
    add_session(world.member, world.stand_a, world.tariff_version, started_at=now)
    add_session(world.guest, world.stand_a, world.tariff_version, started_at=now)  # same post
    add_session(world.member, world.stand_b, world.tariff_version, started_at=now)
    ended(world, now, 1000, stand=third)  # ended: the post is free

    assert overview.busy_posts(None) == overview.BusyPosts(busy=2, total=3, open_sessions=3)
    assert overview.busy_posts([world.site_a.id]) == overview.BusyPosts(1, 2, 2)
    assert overview.busy_posts([]) == overview.BusyPosts(0, 0, 0)

    attendant = as_role("attendant").get("/").get_data(as_text=True)  # site A, no reports
    assert field(attendant, "busy-posts", "busy") == "1"
    assert field(attendant, "busy-posts", "total") == "2"
    assert 'id="today-revenue"' not in attendant and 'id="heatmap"' not in attendant
    owner = as_role("owner").get("/").get_data(as_text=True)
    assert (field(owner, "busy-posts", "busy"), field(owner, "busy-posts", "total")) == ("2", "3")


def heat_cells(html: str) -> list[list[int]]:
    """The heat map table as [weekday][hour], read from the cells' data attributes."""
    cells = [[-1] * 24 for _ in range(7)]
    table = html[html.index('id="heatmap"') : html.index("</table>", html.index('id="heatmap"'))]
    for weekday, hour, n in re.findall(
        r'data-weekday="(\d)" data-hour="(\d+)"\s+title="[^"]*">(\d+)</td>', table
    ):
        cells[int(weekday)][int(hour)] = int(n)
    return cells


@pytest.mark.parametrize("clock", [MIDNIGHT], indirect=True)
def test_heat_map_cells_are_the_sessions_started_in_each_local_weekday_and_hour(world, as_role):
    rng = random.Random(20)
    first = datetime(2026, 2, 2, tzinfo=MOSCOW)  # Monday, the map's first day
    expected = [[0] * 24 for _ in range(7)]
    for _n in range(300):
        start = first + timedelta(seconds=rng.randrange(28 * 86400))
        stand = rng.choice([world.stand_a, world.stand_b])
        add_session(world.member, stand, world.tariff_version, started_at=start.astimezone(UTC))
        if stand == world.stand_a:
            local = start.astimezone(MOSCOW)
            expected[local.weekday()][local.hour] += 1
    # The edges: the last second before the four weeks, today's first second, and the first
    # and the last second of the period (a Monday's 00 h and a Sunday's 23 h).
    add_session(
        world.member, world.stand_a, world.tariff_version, started_at=utc(2026, 2, 1, 20, 59, 59)
    )
    add_session(world.member, world.stand_a, world.tariff_version, started_at=utc(2026, 3, 1, 21))
    add_session(world.member, world.stand_a, world.tariff_version, started_at=utc(2026, 2, 1, 21))
    add_session(
        world.member, world.stand_a, world.tariff_version, started_at=utc(2026, 3, 1, 20, 59, 59)
    )
    expected[0][0] += 1
    expected[6][23] += 1

    found = overview.heat_map(MIDNIGHT, "Europe/Moscow", [world.site_a.id])
    assert (found.first, found.last) == (date(2026, 2, 2), date(2026, 3, 1))
    assert found.cells == expected
    assert found.total == sum(map(sum, expected)) and found.largest == max(map(max, expected))
    page = as_role("operator").get(f"/?site_id={world.site_a.id}").get_data(as_text=True)
    assert heat_cells(page) == expected
    assert overview.heat_map(MIDNIGHT, "Europe/Moscow", None).total == 302


def test_heat_map_hours_follow_a_clock_change(world, app):
    """Berlin's clocks go back on 25 October 2026 at 01:00 UTC: 02:00-03:00 comes twice (both
    in the 02 h cell), and forward on 29 March 2026: no session starts at 02 h that night."""
    app.config["AQ"] = replace(app.config["AQ"], timezone="Europe/Berlin")
    now = utc(2026, 11, 2, 12)  # Monday 2 November: the map runs 5 October to 1 November
    for at in [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, Sunday
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, the same local hour again
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 4, 21, 59, 59),  # 23:59:59 on Sunday 4 October: before the map
        utc(2026, 10, 4, 22, 0),  # midnight, Monday 5 October
    ]:
        add_session(world.member, world.stand_a, world.tariff_version, started_at=at)
    heat = overview.heat_map(now, "Europe/Berlin", None)
    assert heat.first == date(2026, 10, 5) and heat.last == date(2026, 11, 1)
    assert heat.cells[6][2] == 2 and heat.cells[6][3] == 1 and heat.cells[0][0] == 1
    assert heat.total == 4


def test_heat_levels_scale_to_the_busiest_cell():
    from cloud.sessions.dashboardpages import heat_level, percent_text

    assert [heat_level(n, 10) for n in (0, 1, 2, 3, 5, 9, 10)] == [0, 1, 1, 2, 3, 5, 5]
    assert heat_level(0, 0) == 0
    assert percent_text(None) == "—"
    assert percent_text(12.5).replace(NBSP, " ") == "+12 %"
    assert percent_text(-2.5).replace(NBSP, " ") == "-2,5 %"
    assert percent_text(0.0).replace(NBSP, " ") == "0 %"
