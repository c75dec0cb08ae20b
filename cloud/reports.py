"""Reports: the sessions summary for a period (number of sessions, total time, revenue) by
site, stand or tariff, as a table with a bar chart, and the same figures as CSV for Excel."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import gettext as _

from cloud.charts import Bar, bar_chart
from cloud.db import utcnow
from cloud.errors import ValidationFailed
from cloud.permissions import Capability, requires
from cloud.sessionbook import Summary, summary_for
from cloud.web import acting_user
from sync.money import format_kopecks

bp = Blueprint("reports", __name__, url_prefix="/reports")

# Excel opens a UTF-8 CSV correctly only with a byte order mark; ";" is its list separator in
# the Russian locale, where "," is the decimal separator.
CSV_BOM = "\ufeff"
CSV_SEPARATOR = ";"


def hours_minutes(seconds: int) -> str:
    """Total time as ``h:mm`` (whole minutes, rounded down): 5430 -> "1:30"."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}"


def roubles_plain(kopecks: int) -> str:
    """Roubles with a decimal comma and no grouping or sign of currency, for spreadsheets."""
    sign = "-" if kopecks < 0 else ""
    roubles, rest = divmod(abs(kopecks), 100)
    return f"{sign}{roubles},{rest:02d}"


def grouping_labels() -> dict[str, str]:
    return {"site": _("Площадка"), "stand": _("Пост"), "tariff": _("Тариф")}


def _summary_from_request() -> Summary:
    args = request.args
    timezone = current_app.config["AQ"].timezone
    return summary_for(
        acting_user(), args.get("from"), args.get("to"), args.get("group_by"), timezone, utcnow()
    )


def _chart(summary: Summary) -> Any:
    title = _("Выручка: %(grouping)s", grouping=grouping_labels()[summary.group_by].lower())
    bars = [
        Bar(row.label, row.revenue_kopecks, format_kopecks(row.revenue_kopecks))
        for row in summary.rows
    ]
    description = _(
        "Выручка с %(first)s по %(last)s, всего %(total)s",
        first=summary.period.first.strftime("%d.%m.%Y"),
        last=summary.period.last.strftime("%d.%m.%Y"),
        total=format_kopecks(summary.total.revenue_kopecks),
    )
    return bar_chart(title, bars, chart_id="revenue-chart", description=description)


@bp.route("/sessions")
@requires(Capability.REPORTS)
def sessions() -> Any:
    context: dict[str, Any] = {
        "groupings": grouping_labels(),
        "hours_minutes": hours_minutes,
        "args": request.args,
    }
    try:
        summary = _summary_from_request()
    except ValidationFailed as error:
        return render_template(
            "reports/sessions.html", summary=None, error=error.message, **context
        ), 400
    return render_template(
        "reports/sessions.html", summary=summary, chart=_chart(summary), error=None, **context
    )


def _safe_cell(text: str) -> str:
    """Keep a spreadsheet from reading a name like ``=1+1`` as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def summary_csv(summary: Summary) -> str:
    """The summary's table as CSV text (without the byte order mark)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR)
    writer.writerow(
        [
            grouping_labels()[summary.group_by],
            _("Сессий"),
            _("Время, ч:мм"),
            _("Время, с"),
            _("Выручка, ₽"),
            _("Выручка, коп."),
        ]
    )
    for row in [*summary.rows, summary.total]:
        writer.writerow(
            [
                _safe_cell(row.label),
                row.sessions,
                hours_minutes(row.duration_s),
                row.duration_s,
                roubles_plain(row.revenue_kopecks),
                row.revenue_kopecks,
            ]
        )
    return out.getvalue()


@bp.route("/sessions.csv")
@requires(Capability.REPORTS)
def sessions_csv() -> Any:
    summary = _summary_from_request()
    name = f"sessions_{summary.period.first}_{summary.period.last}_{summary.group_by}.csv"
    return Response(
        (CSV_BOM + summary_csv(summary)).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
