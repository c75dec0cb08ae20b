"""The charts' library is shipped with the package and nothing is loaded from outside: the
vendored Chart.js is the pinned file of its npm tarball, with its licence; no template, static
file or page names an external address; the figures reach the page as JSON that no label can
break out of (the Content-Security-Policy allows scripts only from /static)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import cloud
from cloud.models import Client
from cloud.reports.charts import Bar, Chart, top_bars
from tests.cloud.charthelp import chart_data, chart_table

CLOUD = Path(cloud.__file__).resolve().parent
VENDOR = CLOUD / "static" / "vendor" / "chartjs"
CHARTJS_VERSION = "4.6.2"
CHARTJS_SHA256 = "3f288f4f26882c26b58931fb586a9b4f30370b5de38d69dc005b0bd05b08e113"
# An address outside this site in an attribute, a CSS url() or an @import.
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:https?:)?//""",
    re.I,
)


def test_the_vendored_chartjs_is_the_pinned_file_with_its_licence():
    script = VENDOR / "chart.umd.min.js"
    assert hashlib.sha256(script.read_bytes()).hexdigest() == CHARTJS_SHA256
    assert script.read_text(encoding="utf-8").startswith(f"/*!\n * Chart.js v{CHARTJS_VERSION}\n")
    assert "MIT License" in (VENDOR / "LICENSE.md").read_text(encoding="utf-8")
    noted = (VENDOR / "VERSION.txt").read_text(encoding="utf-8")
    assert CHARTJS_VERSION in noted and CHARTJS_SHA256 in noted


def test_no_template_or_static_file_loads_anything_from_outside():
    files = [*CLOUD.glob("templates/**/*.html"), *CLOUD.glob("static/**/*.js")]
    files += [*CLOUD.glob("static/**/*.css")]
    checked = [path for path in files if VENDOR not in path.parents]
    assert len(checked) > 50
    offenders = [
        f"{path.relative_to(CLOUD)}: {match.group(0)}"
        for path in checked
        for match in EXTERNAL.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_external_pattern_catches_what_it_should():
    for text in [
        '<script src="https://cdn.jsdelivr.net/npm/chart.js"></script>',
        "<link href='//fonts.googleapis.com/css' rel=stylesheet>",
        "background: url(https://example.com/x.png)",
        '@import "https://example.com/a.css";',
    ]:
        assert EXTERNAL.search(text), text
    assert not EXTERNAL.search('<script src="/static/charts.js"></script>')


@pytest.mark.parametrize(
    "path",
    ["/", "/reports/sessions?group_by=day", "/reports/topups", "/reports/debts", "/reports/stands"],
)
def test_pages_with_charts_name_no_outside_address_and_keep_the_policy(world, as_role, path):
    response = as_role("owner").get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert EXTERNAL.search(page) is None
    policy = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    # every script of the page is a file of this site, or a data block that does not run
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert re.search(r'src="/static/', tag) or 'type="application/json"' in tag, tag


def test_a_label_cannot_break_out_of_the_figures_block(world, as_role):
    name = '</script><script>alert("x")</script> & Ко'
    Client.create(kind="member", name=name, home_site=world.site_a, balance_kopecks=-12345)
    page = as_role("owner").get("/reports/debts").get_data(as_text=True)
    assert "<script>alert" not in page
    data = chart_data(page, "debts-chart")
    assert data["labels"] == [name] and data["values"] == [12345]
    assert chart_table(page, "debts-chart")[0][0] == name


def test_chart_figures_and_top_bars():
    bars = [Bar(f"Пост {n}", n, f"{n}") for n in range(40)]
    shown = top_bars(bars)
    assert [bar.value for bar in shown] == list(range(39, 9, -1))
    chart = Chart("c", "Заголовок", shown, unit="duration", label_heading="Пост")
    data = chart.data()
    assert data["kind"] == "bars" and data["unit"] == "duration" and len(data["labels"]) == 30
    assert chart.height_px == 60 + 30 * 30
    with pytest.raises(ValueError):
        Chart("c", "t", [], unit="litres")
