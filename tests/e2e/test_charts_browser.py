"""Charts and the dashboard's day in Chromium at a phone's, a tablet's and a laptop's size
(390×844, 768×1024, 1366×900): a month of days keeps its day labels clear of each other (skipped
or turned), a bar chart of stands answers a hover with its tooltip, the dashboard shows today
against a week ago, the busy posts and the heat map; no page is wider than the screen.
Screenshots go to test-artifacts/charts/."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.models import Stand
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session
from tests.e2e.charts import CHART_DRAWN, CHART_FIGURES, LABELS_CLEAR, hover_column, roubles
from tests.e2e.test_csp_browser import csp_violations

pytestmark = pytest.mark.browser

SIZES = [(390, 844), (768, 1024), (1366, 900)]
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def script_errors(page: Any) -> list[str]:
    """Every uncaught script error of ``page`` from now on (a list that fills)."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(str(error)))
    return seen


def log_in(page: Any, url: str, phone: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def a_month(world: World) -> dict[int, int]:
    """A session or a few every day of January 2024 (noon in Moscow); revenue by day."""
    rng, made = random.Random(31), {}
    for day in range(1, 32):
        for _n in range(rng.randint(1, 3)):
            ended, cost = datetime(2024, 1, day, 9, tzinfo=UTC), rng.randint(50, 900) * 100
            add_session(
                world.member,
                world.stand_a,
                world.tariff_version,
                started_at=ended - timedelta(minutes=12),
                ended_at=ended,
                cost_kopecks=cost,
            )
            made[day] = made.get(day, 0) + cost
    return made


def test_a_month_of_days_keeps_its_labels_clear_at_every_size(
    browser: Any, live_server: str, world: World, artifacts: Path
) -> None:
    made = a_month(world)
    folder = artifacts / "charts"
    folder.mkdir(exist_ok=True)
    for width, height in SIZES:
        context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": height})
        page = context.new_page()
        violations, errors = csp_violations(page), script_errors(page)
        log_in(page, live_server, world.phone("operator"))
        page.goto(f"{live_server}/reports/sessions?from=2024-01-01&to=2024-01-31&group_by=day")
        page.wait_for_function(CHART_DRAWN, arg="revenue-chart")
        drawn = page.evaluate(CHART_FIGURES, "revenue-chart")
        assert drawn["values"] == [made[day] for day in range(1, 32)]
        labels = page.evaluate(LABELS_CLEAR, "revenue-chart")
        assert labels["clear"], (width, labels)
        assert 2 <= labels["shown"] <= 31
        if width == 390:
            assert labels["shown"] < 31 or labels["rotation"] > 0  # skipped or turned
        assert page.evaluate(OVERFLOW) <= 0, width
        canvas = page.locator("canvas#revenue-chart").bounding_box()
        assert canvas is not None and canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= width
        # The busiest day's tooltip, at every size.
        busiest = max(made, key=lambda day: made[day])
        hover_column(page, "revenue-chart", busiest - 1)
        tooltip = page.locator("[data-chart=revenue-chart] .chart-tooltip")
        tooltip.wait_for(state="visible")
        text = tooltip.inner_text().replace("\xa0", " ")
        assert text.split("\n") == [f"{busiest:02d}.01.2024", roubles(made[busiest])]
        tip = tooltip.bounding_box()
        assert tip is not None and tip["x"] >= 0 and tip["x"] + tip["width"] <= width + 1
        page.screenshot(path=str(folder / f"sessions-by-day-{width}x{height}.png"), full_page=True)
        assert violations == [] and errors == []  # nothing refused by the policy, no script error
        context.close()


def test_bars_of_stands_answer_a_hover_and_the_table_view_agrees(
    page: Any, live_server: str, world: World, artifacts: Path
) -> None:
    second = Stand.create(site=world.site_a, name="Пост 2 с очень длинным названием у ворот")
    costs = {world.stand_a.id: [12000, 3000], second.id: [45050], world.stand_b.id: [99999]}
    for stand in (world.stand_a, second, world.stand_b):
        for cost in costs[stand.id]:
            ended = datetime(2024, 2, 10, 9, tzinfo=UTC)
            add_session(
                world.member,
                stand,
                world.tariff_version,
                started_at=ended - timedelta(minutes=5),
                ended_at=ended,
                cost_kopecks=cost,
            )
    log_in(page, live_server, world.phone("owner"))
    page.goto(f"{live_server}/reports/sessions?from=2024-02-01&to=2024-02-29&group_by=stand")
    page.wait_for_function(CHART_DRAWN, arg="revenue-chart")
    drawn = page.evaluate(CHART_FIGURES, "revenue-chart")
    expected = {
        "Мойка на Гагарина · Пост 1": 99999,
        "Мойка на Ленина · Пост 1": 15000,
        "Мойка на Ленина · Пост 2 с очень длинным названием у ворот": 45050,
    }
    assert dict(zip(drawn["labels"], drawn["values"], strict=True)) == expected
    widths = dict(zip(drawn["labels"], drawn["widths"], strict=True))
    largest = max(widths.values())
    for label, value in expected.items():  # horizontal bars to scale
        assert abs(widths[label] - largest * value / 99999) <= 1.5
    assert any("₽" in tick for tick in drawn["x_ticks"])  # the value axis, in roubles
    index = drawn["labels"].index("Мойка на Ленина · Пост 2 с очень длинным названием у ворот")
    hover_column(page, "revenue-chart", index)
    tooltip = page.locator("[data-chart=revenue-chart] .chart-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text().replace("\xa0", " ").split("\n") == [
        "Мойка на Ленина · Пост 2 с очень длинным названием у ворот",  # whole, not clipped
        "450,50 ₽",
    ]
    page.click("#revenue-chart-table summary")
    rows = page.locator("#revenue-chart-table tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))"
    )
    assert [[label, text.replace("\xa0", " ")] for label, text in rows] == [
        [label, roubles(value)] for label, value in expected.items()
    ]
    page.screenshot(path=str(artifacts / "charts" / "sessions-by-stand.png"), full_page=True)


def test_the_dashboard_shows_the_day_the_busy_posts_and_the_heat_map(
    browser: Any, live_server: str, world: World, artifacts: Path
) -> None:
    now = datetime.now(UTC)
    rng = random.Random(4)
    for _n in range(120):  # four weeks of sessions
        started = now - timedelta(days=1 + rng.random() * 26)
        add_session(
            world.member,
            world.stand_a,
            world.tariff_version,
            started_at=started,
            ended_at=started + timedelta(minutes=9),
            cost_kopecks=15000,
        )
    add_session(world.guest, world.stand_a, world.tariff_version, started_at=now)  # busy now
    folder = artifacts / "charts"
    folder.mkdir(exist_ok=True)
    for width, height in SIZES:
        context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": height})
        page = context.new_page()
        violations, errors = csp_violations(page), script_errors(page)
        log_in(page, live_server, world.phone("owner"))
        busy = page.locator("#busy-posts .figure-value").inner_text().replace("\xa0", " ")
        assert busy == "1 из 2"
        assert page.locator("#today-revenue").is_visible()
        assert page.locator("#today-sessions").is_visible()
        heat = page.locator("#heatmap")
        assert heat.is_visible()
        cells = heat.locator("td").evaluate_all("cells => cells.map(c => Number(c.textContent))")
        assert len(cells) == 7 * 24 and sum(cells) >= 110  # today's and those at the edge aside
        box = heat.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert page.evaluate(OVERFLOW) <= 0, width
        page.screenshot(path=str(folder / f"dashboard-{width}x{height}.png"), full_page=True)
        assert violations == [] and errors == []
        context.close()
