"""A report in a real browser: an operator opens the sessions report by day, sees its chart
(one column per day, drawn to scale) and downloads the CSV, which holds the figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.cloud.conftest import PASSWORD, World
from tests.cloud.sessionrows import add_session


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

    chart = page.locator("svg#revenue-chart")
    assert chart.is_visible()
    columns = chart.locator("rect.bar")
    assert columns.count() == 10  # a column per day, the quiet ones too
    heights = [float(columns.nth(i).get_attribute("height")) for i in range(10)]
    busiest = max(total for _n, total in made.values())
    for day in range(1, 11):
        revenue = made.get(day, (0, 0))[1]
        assert abs(heights[day - 1] - max(heights) * revenue / busiest) <= 1  # drawn to scale
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
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
