"""Charts drawn in the browser by Chart.js (vendored: cloud/static/vendor/chartjs/, nothing
loaded from outside), from figures the server puts in the page.

A ``Chart`` renders, where a template writes ``{{ chart }}`` (templates/charts/_chart.html), as
a ``<canvas>`` with its figures in a ``<script type="application/json">`` block that
static/charts.js reads (the Content-Security-Policy allows no inline script), and a table of
the same numbers under a ``<details>`` toggle: what a screen reader, a printout and the tests
read. Every value comes with its text as a person reads it (money the Russian way,
``1 250,00 ₽``), which the tooltip shows; the value axis is written by charts.js in the same
form (roubles for money, h:mm for time).

    chart = Chart("revenue-chart", "Выручка по площадкам", [Bar("Ленина", 125000, "1 250,00 ₽")],
                  unit="money", label_heading="Площадка", value_heading="Выручка")
    # {{ chart }} in a template, and charts.js with the vendored Chart.js in its scripts block
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template

UNITS = ("money", "duration", "count")
TOP_BARS = 30


@dataclass(frozen=True)
class Bar:
    label: str
    value: int  # drawn to scale (kopecks for money, seconds for time)
    value_text: str  # the value as a person reads it (e.g. money)


@dataclass(frozen=True)
class Chart:
    """One chart of a page: columns in time order (``over_time``) or horizontal bars."""

    chart_id: str
    title: str
    bars: list[Bar]
    unit: str = "money"
    label_heading: str = ""
    value_heading: str = ""
    description: str = ""
    over_time: bool = False
    note: str = ""  # e.g. "only the 30 largest are drawn"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(self.unit)

    def data(self) -> dict[str, Any]:
        """What charts.js draws: the labels, values and their texts, in order."""
        return {
            "id": self.chart_id,
            "title": self.title,
            "kind": "columns" if self.over_time else "bars",
            "unit": self.unit,
            "series": self.value_heading or self.title,
            "labels": [bar.label for bar in self.bars],
            "values": [bar.value for bar in self.bars],
            "texts": [bar.value_text for bar in self.bars],
            "label_axis": self.label_heading,
            "value_axis": self.value_heading,
        }

    @property
    def height_px(self) -> int:
        """The drawing's height: a time series is a fixed band, bars grow with their number."""
        if self.over_time:
            return 300
        return max(160, 60 + 30 * len(self.bars))

    def __html__(self) -> str:
        return str(render_template("charts/_chart.html", chart=self))

    def __str__(self) -> str:
        return self.__html__()


def top_bars(bars: list[Bar], limit: int = TOP_BARS) -> list[Bar]:
    """The bars as they are, or past ``limit`` the ``limit`` largest, largest first: nobody
    reads a bar chart of two hundred stands at a glance."""
    if len(bars) <= limit:
        return bars
    return sorted(bars, key=lambda bar: bar.value, reverse=True)[:limit]
