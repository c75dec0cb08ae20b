"""Small charts drawn on the server as inline SVG: no JavaScript and nothing loaded from outside,
readable by screen readers (a title, a description, and a label and value on every bar).

    svg = bar_chart("Выручка по площадкам", [Bar("Ленина", 125000, "1 250,00 ₽")], chart_id="rev")
    # {{ svg }} in a template
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
LABEL_W = 230  # left column for the group names
VALUE_W = 130  # right column for the values
ROW_H = 34
BAR_H = 22
PAD = 8
MAX_LABEL_CHARS = 30


@dataclass(frozen=True)
class Bar:
    label: str
    value: int  # non-negative; drawn to scale against the largest bar
    value_text: str  # the value as a person reads it (e.g. money)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def bar_chart(title: str, bars: list[Bar], *, chart_id: str, description: str = "") -> Markup:
    """A horizontal bar chart, one bar per item, scaled to the largest value."""
    bar_area = WIDTH - LABEL_W - VALUE_W - 2 * PAD
    largest = max((bar.value for bar in bars), default=0)
    height = PAD * 2 + ROW_H * max(len(bars), 1)
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(description or title)}</desc>',
    ]
    for index, bar in enumerate(bars):
        y = PAD + index * ROW_H
        width = round(bar_area * max(bar.value, 0) / largest) if largest > 0 else 0
        text_y = y + ROW_H / 2 + 5
        parts.append(
            f'<g class="bar-row"><title>{escape(bar.label)}: {escape(bar.value_text)}</title>'
            f'<text x="{LABEL_W - PAD}" y="{text_y}" text-anchor="end" font-size="14">'
            f"{escape(_clip(bar.label))}</text>"
            f'<rect class="bar" x="{LABEL_W}" y="{y + (ROW_H - BAR_H) / 2}" '
            f'width="{max(width, 1)}" height="{BAR_H}" fill="#0b6fb8" rx="3"/>'
            f'<text x="{LABEL_W + max(width, 1) + PAD}" y="{text_y}" font-size="14">'
            f"{escape(bar.value_text)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


SERIES_H = 260  # plot height of a time series
SERIES_LABEL_H = 40  # room under the plot for the dates
SERIES_LEFT = 20
MAX_AXIS_LABELS = 12


def column_chart(title: str, bars: list[Bar], *, chart_id: str, description: str = "") -> Markup:
    """A time series: one column per period in time order (left to right), scaled to the
    largest; every column has its label and value as a tooltip, and about a dozen dates are
    written under the axis so a year of days stays readable."""
    count = max(len(bars), 1)
    slot = (WIDTH - 2 * SERIES_LEFT) / count
    largest = max((bar.value for bar in bars), default=0)
    every = max(1, -(-count // MAX_AXIS_LABELS))  # ceil: at most MAX_AXIS_LABELS dates
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    height = PAD + SERIES_H + SERIES_LABEL_H
    parts = [
        f'<svg class="chart series" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(description or title)}</desc>',
        f'<line x1="{SERIES_LEFT}" y1="{PAD + SERIES_H}" x2="{WIDTH - SERIES_LEFT}" '
        f'y2="{PAD + SERIES_H}" stroke="#888"/>',
    ]
    for index, bar in enumerate(bars):
        x = SERIES_LEFT + index * slot
        tall = round(SERIES_H * max(bar.value, 0) / largest) if largest > 0 else 0
        parts.append(
            f'<g class="bar-row"><title>{escape(bar.label)}: {escape(bar.value_text)}</title>'
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{PAD + SERIES_H - tall}" '
            f'width="{max(slot * 0.8, 1):.1f}" height="{tall}" fill="#0b6fb8"/></g>'
        )
        if index % every == 0:
            parts.append(
                f'<text class="axis" x="{x + slot / 2:.1f}" y="{PAD + SERIES_H + 18}" '
                f'text-anchor="middle" font-size="12">{escape(_clip(bar.label))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


TOP_BARS = 30


def top_bars(bars: list[Bar], limit: int = TOP_BARS) -> list[Bar]:
    """The bars as they are, or past ``limit`` the ``limit`` largest, largest first: nobody
    reads a bar chart of two hundred stands at a glance."""
    if len(bars) <= limit:
        return bars
    return sorted(bars, key=lambda bar: bar.value, reverse=True)[:limit]
