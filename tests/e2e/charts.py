"""Reading a Chart.js chart of a page (static/charts.js) from the browser: what it drew (values,
bar sizes, axis ticks) and where a column is, to hover it."""

from __future__ import annotations

from typing import Any

from sync.money import NBSP

# True once charts.js has drawn the chart of the canvas with this id.
CHART_DRAWN = "id => Boolean(window.Chart && window.Chart.getChart(id))"

# What the chart of the canvas with this id drew.
CHART_FIGURES = """id => {
  const chart = window.Chart.getChart(id);
  const bars = chart.getDatasetMeta(0).data;
  return {
    labels: chart.data.labels,
    values: chart.data.datasets[0].data,
    heights: bars.map(b => Math.abs(b.base - b.y)),
    widths: bars.map(b => Math.abs(b.x - b.base)),
    axes: Object.keys(chart.scales).sort(),
    x_ticks: chart.scales.x.ticks.map(t => String(t.label)),
    y_ticks: chart.scales.y.ticks.map(t => String(t.label)),
  };
}"""

# Whether the labels of the x axis keep clear of each other: the distance between two shown
# labels, across the direction they are written in, is at least a line of text.
LABELS_CLEAR = """id => {
  const chart = window.Chart.getChart(id);
  const scale = chart.scales.x;
  const shown = scale.ticks.length;
  const font = scale.options.ticks.font || chart.options.font || {};
  const size = (font.size || window.Chart.defaults.font.size);
  const ctx = chart.ctx;
  ctx.save();
  ctx.font = size + "px " + (font.family || window.Chart.defaults.font.family);
  const widest = Math.max(...scale.ticks.map(t => ctx.measureText(String(t.label)).width));
  ctx.restore();
  let gap = Infinity;
  for (let i = 1; i < shown; i++) {
    gap = Math.min(gap, scale.getPixelForTick(i) - scale.getPixelForTick(i - 1));
  }
  const angle = scale.labelRotation * Math.PI / 180;
  const across = angle ? gap * Math.sin(angle) : gap;
  const needed = angle ? size : widest;
  return {shown: shown, rotation: scale.labelRotation, gap: gap, across: across, needed: needed,
          clear: across >= needed};
}"""


def hover_column(page: Any, chart_id: str, index: int) -> None:
    """Move the mouse to the middle of the chart's bar number ``index`` (scrolled into view)."""
    where = page.evaluate(
        """([id, i]) => {
          const chart = window.Chart.getChart(id);
          const bar = chart.getDatasetMeta(0).data[i];
          chart.canvas.scrollIntoView({block: "center"});
          const box = chart.canvas.getBoundingClientRect();
          const horizontal = chart.options.indexAxis === "y";
          const x = horizontal ? (bar.x + bar.base) / 2 : bar.x;
          const y = horizontal ? bar.y : (bar.y + bar.base) / 2;
          return {x: box.left + x, y: box.top + y};
        }""",
        [chart_id, index],
    )
    page.mouse.move(where["x"], where["y"])


def roubles(kopecks: int) -> str:
    """Money as the pages write it, spaces plain: 1 250,00 ₽."""
    whole = f"{kopecks // 100:,}".replace(",", " ")
    return f"{whole},{kopecks % 100:02d} ₽".replace(NBSP, " ")
