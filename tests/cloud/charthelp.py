"""Reading a page's chart (cloud/reports/charts.py) as the tests do: the figures charts.js draws
(the JSON block) and the table of the same numbers under the chart."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any


def chart_box(page: str, chart_id: str) -> str:
    start = page.index(f'<figure class="chart-box" data-chart="{chart_id}">')
    return page[start : page.index("</figure>", start)]


def chart_data(page: str, chart_id: str) -> dict[str, Any]:
    """The figures charts.js draws the chart from."""
    box = chart_box(page, chart_id)
    found = re.search(
        r'<script type="application/json" class="chart-data">(.*?)</script>', box, re.S
    )
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def chart_table(page: str, chart_id: str) -> list[tuple[str, str]]:
    """The chart's table view: (label, value as written) per row."""
    box = chart_box(page, chart_id)
    table = box[box.index('<details class="chart-table"') :]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td class="num">(.*?)</td></tr>', table, re.S)
    return [(htmllib.unescape(label), htmllib.unescape(value)) for label, value in rows]


def assert_chart_agrees(page: str, chart_id: str) -> dict[str, Any]:
    """The drawn figures and the table say the same, bar for bar; returns the figures."""
    data = chart_data(page, chart_id)
    assert chart_table(page, chart_id) == list(zip(data["labels"], data["texts"], strict=True))
    assert len(data["values"]) == len(data["labels"])
    return data
