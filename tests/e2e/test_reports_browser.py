"""A report in a real browser: an operator opens the sessions report by day, sees its chart
(Chart.js: one column per day, drawn to scale, both axes, roubles on the value axis), hovers a
column and reads its tooltip, opens the table view (the same numbers) and downloads the CSV,
which holds the figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session
from tests.e2e.charts import CHART_DRAWN, CHART_FIGURES, hover_column, roubles


def test_sessions_report_shows_its_chart_and_downloads_its_csv(
    page: Any, live_server: str, world: World, artifacts: Path
) -> None:
    made = {}  # Moscow day -> (count, kopecks)
    for day, minutes, cost in [(4, 10, 12000), (4, 20, 23000), (6, 5, 5000), (9, 30, 41000)]:
        ended = datetime(2024, 3, day, 9, tzinfo=UTC)  # 12:00 in Moscow, the same day
        add_session(
            world.member,
            world.stand_a,
            world.tariff_version,
            started_at=ended - timedelta(minutes=minutes),
            ended_at=ended,
            cost_kopecks=cost,
        )
        count, total = made.get(day, (0, 0))
        made[day] = (count + 1, total + cost)

    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("operator"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.click("nav >> text=Отчёты")
    page.wait_for_load_state()
    page.fill("input[name=from]", "2024-03-01")
    page.fill("input[name=to]", "2024-03-10")
    page.select_option("select[name=group_by]", "day")
    page.click("button:has-text('Показать')")
    page.wait_for_load_state()

    page.wait_for_function(CHART_DRAWN, arg="revenue-chart")
    drawn = page.evaluate(CHART_FIGURES, "revenue-chart")
    assert drawn["labels"] == [f"{day:02d}.03.2024" for day in range(1, 11)]  # quiet days too
    assert drawn["values"] == [made.get(day, (0, 0))[1] for day in range(1, 11)]
    heights = drawn["heights"]
    busiest = max(total for _n, total in made.values())
    for day in range(1, 11):
        revenue = made.get(day, (0, 0))[1]
        assert abs(heights[day - 1] - max(heights) * revenue / busiest) <= 1.5  # drawn to scale
    # Both axes, the value axis in roubles written the Russian way.
    assert drawn["axes"] == ["x", "y"]
    assert drawn["y_ticks"][0] == "0\xa0₽" and all("₽" in tick for tick in drawn["y_ticks"])
    assert "400\xa0₽" in drawn["y_ticks"]  # the busiest day is 410 ₽
    box = page.locator("canvas#revenue-chart").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100

    # Hovering a column shows its day and revenue in the tooltip.
    tooltip = page.locator("[data-chart=revenue-chart] .chart-tooltip")
    assert tooltip.is_hidden()
    hover_column(page, "revenue-chart", 8)  # 9 March
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text().replace("\xa0", " ").split("\n") == ["09.03.2024", "410,00 ₽"]
    hover_column(page, "revenue-chart", 3)  # 4 March: two sessions
    page.wait_for_function(
        "() => document.querySelector('[data-chart=revenue-chart] .chart-tooltip')"
        ".textContent.includes('04.03.2024')"
    )
    assert "350,00" in tooltip.inner_text()

    # The table view: closed at first, the same numbers when opened.
    table = page.locator("#revenue-chart-table table")
    assert table.is_hidden()
    page.click("#revenue-chart-table summary")
    assert table.is_visible()
    rows = [
        [cell.replace("\xa0", " ") for cell in row]
        for row in table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent.trim()))"
        )
    ]
    assert rows == [
        [f"{day:02d}.03.2024", roubles(made.get(day, (0, 0))[1])] for day in range(1, 11)
    ]
    page.screenshot(path=str(artifacts / "central-report-sessions.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("text=Скачать CSV")
    download = download_info.value
    assert download.suggested_filename == "sessions_2024-03-01_2024-03-10_day.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["День", "Сессий"]
    by_day = {row[0]: (int(row[1]), int(row[5])) for row in rows[1:-1]}
    assert len(by_day) == 10
    for day in range(1, 11):
        assert by_day[f"{day:02d}.03.2024"] == made.get(day, (0, 0))
    assert rows[-1][0] == "Итого"
    assert rows[-1][5] == str(sum(total for _n, total in made.values()))
    assert rows[-1][4] == "810,00"  # 120 + 230 + 50 + 410 roubles, decimal comma
