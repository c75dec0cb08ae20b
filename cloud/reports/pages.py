"""Report pages, each with a chart read at a glance and the same figures as CSV for Excel:
sessions (count, total and average time, revenue) by day, week, month, site, stand, tariff,
client kind or who started them; top-ups by period, payment method, site or staff member, and
the top-up history of any client; balances that went negative and the sessions that made
them; stand health over a period (offline time, outbox peaks, re-priced sessions).

The figures come from ``cloud.sessions.service``, ``cloud.reports.topups``, ``cloud.reports.debts`` and
``cloud.reports.stands``; the JSON API gives the same (cloud/reports/api.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from cloud.clock import app_now
from cloud.csvexport import csv_download, csv_response, csv_text, hours_minutes, roubles_plain
from cloud.errors import ValidationFailed
from cloud.periods import Period, period_for
from cloud.permissions import Capability, requires
from cloud.reports import debts as debtreport
from cloud.reports import stands as standreport
from cloud.reports import topups as topupreport
from cloud.reports.charts import Bar, Chart, top_bars
from cloud.reports.sessions import Summary, SummaryRow, summary_for
from cloud.reports.timebuckets import unit_labels
from cloud.standsync.heartbeat import ONLINE_WITHIN
from cloud.web import acting_user, format_duration, local_time
from sync.money import format_kopecks

bp = Blueprint("reports", __name__, url_prefix="/reports")


def grouping_labels() -> dict[str, str]:
    return {
        **unit_labels(),
        "site": _("Площадка"),
        "stand": _("Пост"),
        "tariff": _("Тариф"),
        "client_kind": _("Вид клиента"),
        "started_by": _("Кто начал"),
    }


def topup_grouping_labels() -> dict[str, str]:
    return {
        **unit_labels(),
        "method": _("Способ оплаты"),
        "site": _("Площадка"),
        "staff": _("Сотрудник"),
    }


def _period_from_request() -> Period:
    args, timezone = request.args, current_app.config["AQ"].timezone
    return period_for(args.get("from"), args.get("to"), timezone, app_now())


def _page(template: str, build: Callable[[], dict[str, Any]], **context: Any) -> Any:
    """Render a report page from what ``build`` makes of the request; bad parameters give the
    page again with the message, and 400."""
    context = {"args": request.args, "hours_minutes": hours_minutes, **context}
    try:
        built = build()
    except ValidationFailed as error:
        return render_template(template, error=error.message, **context), 400
    return render_template(template, **{**context, "error": None, **built})


def _chart_of(
    title: str,
    bars: list[Bar],
    over_time: bool,
    chart_id: str,
    text: str,
    *,
    unit: str = "money",
    headings: tuple[str, str] = ("", ""),
) -> Chart:
    """A time series for days, weeks or months; else bars (the largest, if too many)."""
    shown = bars if over_time else top_bars(bars)
    note = ""
    if len(shown) < len(bars):
        note = _("(на графике %(n)s наибольших)", n=len(shown))
    label_heading, value_heading = headings
    return Chart(
        chart_id,
        title,
        shown,
        unit=unit,
        label_heading=label_heading,
        value_heading=value_heading,
        description=text,
        over_time=over_time,
        note=note,
    )


def _dates(period: Period) -> dict[str, str]:
    return {"first": period.first.strftime("%d.%m.%Y"), "last": period.last.strftime("%d.%m.%Y")}


# --- sessions -----------------------------------------------------------------------------------


def _summary_from_request() -> Summary[SummaryRow]:
    args = request.args
    timezone = current_app.config["AQ"].timezone
    return summary_for(
        acting_user(), args.get("from"), args.get("to"), args.get("group_by"), timezone, app_now()
    )


def _chart(summary: Summary[SummaryRow]) -> Any:
    title = _("Выручка: %(grouping)s", grouping=grouping_labels()[summary.group_by].lower())
    bars = [
        Bar(row.label, row.revenue_kopecks, format_kopecks(row.revenue_kopecks))
        for row in summary.rows
    ]
    text = _(
        "Выручка с %(first)s по %(last)s, всего %(total)s",
        **_dates(summary.period),
        total=format_kopecks(summary.total.revenue_kopecks),
    )
    headings = (grouping_labels()[summary.group_by], _("Выручка"))
    return _chart_of(title, bars, summary.over_time, "revenue-chart", text, headings=headings)


@bp.route("/sessions")
@requires(Capability.REPORTS)
def sessions() -> Any:
    def build() -> dict[str, Any]:
        summary = _summary_from_request()
        return {"summary": summary, "chart": _chart(summary)}

    return _page(
        "reports/sessions.html",
        build,
        summary=None,
        groupings=grouping_labels(),
        duration=format_duration,
    )


def summary_csv(summary: Summary[SummaryRow]) -> str:
    """The summary's table as CSV text (without the byte order mark)."""
    header = [
        grouping_labels()[summary.group_by],
        _("Сессий"),
        _("Время, ч:мм"),
        _("Время, с"),
        _("Выручка, ₽"),
        _("Выручка, коп."),
        _("Среднее время, с"),
    ]
    rows = [
        [
            row.label,
            row.sessions,
            hours_minutes(row.duration_s),
            row.duration_s,
            roubles_plain(row.revenue_kopecks),
            row.revenue_kopecks,
            row.average_duration_s,
        ]
        for row in [*summary.rows, summary.total]
    ]
    return csv_text(header, rows, {0})


@bp.route("/sessions.csv")
@requires(Capability.REPORTS)
def sessions_csv() -> Any:
    summary = _summary_from_request()
    name = f"sessions_{summary.period.first}_{summary.period.last}_{summary.group_by}.csv"
    return csv_download(name, summary_csv(summary))


# --- top-ups ------------------------------------------------------------------------------------


def _topup_summary() -> topupreport.TopupSummary:
    period = _period_from_request()
    group_by = topupreport.check_grouping(request.args.get("group_by"))
    return topupreport.summarise_topups(acting_user(), period, group_by)


def _topup_chart(summary: topupreport.TopupSummary) -> Any:
    grouping = topup_grouping_labels()[summary.group_by].lower()
    bars = [
        Bar(row.label, row.amount_kopecks, format_kopecks(row.amount_kopecks))
        for row in summary.rows
    ]
    text = _(
        "Пополнения с %(first)s по %(last)s, всего %(total)s",
        **_dates(summary.period),
        total=format_kopecks(summary.total.amount_kopecks),
    )
    title = _("Пополнения: %(grouping)s", grouping=grouping)
    headings = (topup_grouping_labels()[summary.group_by], _("Сумма"))
    return _chart_of(title, bars, summary.over_time, "topups-chart", text, headings=headings)


@bp.route("/topups")
@requires(Capability.REPORTS)
def topups() -> Any:
    def build() -> dict[str, Any]:
        summary = _topup_summary()
        return {"summary": summary, "chart": _topup_chart(summary)}

    return _page("reports/topups.html", build, summary=None, groupings=topup_grouping_labels())


@bp.route("/topups.csv")
@requires(Capability.REPORTS)
def topups_csv() -> Any:
    summary = _topup_summary()
    header = [
        topup_grouping_labels()[summary.group_by],
        _("Пополнений"),
        _("Сумма, ₽"),
        _("Сумма, коп."),
    ]
    rows = [
        [row.label, row.topups, roubles_plain(row.amount_kopecks), row.amount_kopecks]
        for row in [*summary.rows, summary.total]
    ]
    name = f"topups_{summary.period.first}_{summary.period.last}_{summary.group_by}.csv"
    return csv_response(name, header, rows, {0})


def _history() -> topupreport.TopupHistory:
    chosen = topupreport.history_filter(request.args, current_app.config["AQ"].timezone)
    return topupreport.topup_history(acting_user(), chosen)


def _method_labels() -> dict[str, str]:
    from cloud.labels import method_labels

    return method_labels()


@bp.route("/topups/history")
@requires(Capability.REPORTS)
def topup_history() -> Any:
    from cloud.catalog.sites import visible_sites

    return _page(
        "reports/topup_history.html",
        lambda: {"history": _history()},
        history=None,
        methods=_method_labels(),
        sites=visible_sites(acting_user()),
        limit=topupreport.HISTORY_LIMIT,
        parsed=_parsed,
    )


def _parsed(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@bp.route("/topups/history.csv")
@requires(Capability.REPORTS)
def topup_history_csv() -> Any:
    history = _history()
    methods = _method_labels()
    header = [
        _("Когда"),
        _("Клиент №"),
        _("Клиент"),
        _("Сумма, ₽"),
        _("Сумма, коп."),
        _("Способ оплаты"),
        _("Площадка"),
        _("Сотрудник"),
    ]
    rows = [
        [
            local_time(_parsed(item["created_at"])),
            item["client_id"],
            item["client_name"],
            roubles_plain(item["amount_kopecks"]),
            item["amount_kopecks"],
            methods.get(item["method"] or "", item["method"] or ""),
            item["site_name"] or "",
            item["staff_name"] or "",
        ]
        for item in history.items
    ]
    return csv_response("topups_history.csv", header, rows, {2, 6, 7})


# --- balances -----------------------------------------------------------------------------------


def _debt_chart(report: debtreport.DebtReport) -> Any:
    bars = [
        Bar(debt.client_name, -debt.balance_kopecks, format_kopecks(-debt.balance_kopecks))
        for debt in report.debts
    ]
    text = _(
        "Должников: %(n)s, долг всего %(total)s",
        n=report.debtors,
        total=format_kopecks(report.owed_kopecks),
    )
    headings = (_("Клиент"), _("Долг"))
    return _chart_of(_("Крупнейшие долги"), bars, False, "debts-chart", text, headings=headings)


@bp.route("/debts")
@requires(Capability.REPORTS)
def debts() -> Any:
    def build() -> dict[str, Any]:
        report = debtreport.debt_report(acting_user())
        return {"report": report, "chart": _debt_chart(report)}

    return _page(
        "reports/debts.html",
        build,
        report=None,
        limit=debtreport.DEBTORS_LIMIT,
        shown=debtreport.SESSIONS_SHOWN,
    )


def _yes_no(value: bool) -> str:
    return _("да") if value else _("нет")


@bp.route("/debts.csv")
@requires(Capability.REPORTS)
def debts_csv() -> Any:
    """One row per listed session of each debt (a debt without sessions: one row)."""
    report = debtreport.debt_report(acting_user())
    header = [
        _("Клиент №"),
        _("Клиент"),
        _("Баланс, ₽"),
        _("Баланс, коп."),
        _("Долг с"),
        _("Сессий в долге"),
        _("Два поста офлайн"),
        _("Сессия №"),
        _("Пост"),
        _("Начало"),
        _("Окончание"),
        _("Стоимость, ₽"),
        _("Одновременно с сессией №"),
    ]
    rows = []
    for debt in report.debts:
        first = [
            debt.client_id,
            debt.client_name,
            roubles_plain(debt.balance_kopecks),
            debt.balance_kopecks,
            local_time(debt.since),
            debt.sessions_count,
            _yes_no(debt.two_stands),
        ]
        if not debt.sessions:
            rows.append([*first, "", "", "", "", "", ""])
        for session in debt.sessions:
            rows.append(
                [
                    *first,
                    session.session_id,
                    f"{session.site_name} · {session.stand_name}",
                    local_time(session.started_at),
                    local_time(session.ended_at),
                    roubles_plain(session.cost_kopecks),
                    session.overlaps_with or "",
                ]
            )
    return csv_response("debts.csv", header, rows, {1, 8})


# --- stand health -------------------------------------------------------------------------------


def _stand_report() -> standreport.StandReport:
    return standreport.stand_report(acting_user(), _period_from_request(), app_now())


def _stand_chart(report: standreport.StandReport) -> Any:
    bars = [
        Bar(
            f"{row.site_name} · {row.stand_name}",
            row.offline_s or 0,
            hours_minutes(row.offline_s or 0),
        )
        for row in report.rows
    ]
    text = _("Время без связи с %(first)s по %(last)s, ч:мм", **_dates(report.period))
    headings = (_("Пост"), _("Без связи, ч:мм"))
    return _chart_of(
        _("Время без связи"), bars, False, "offline-chart", text, unit="duration", headings=headings
    )


@bp.route("/stands")
@requires(Capability.REPORTS)
def stands() -> Any:
    def build() -> dict[str, Any]:
        report = _stand_report()
        return {"report": report, "chart": _stand_chart(report)}

    return _page(
        "reports/stands.html",
        build,
        report=None,
        limit=standreport.REPRICED_LIMIT,
        parsed=_parsed,
        online_s=int(ONLINE_WITHIN.total_seconds()),
    )


@bp.route("/stands.csv")
@requires(Capability.REPORTS)
def stands_csv() -> Any:
    report = _stand_report()
    header = [
        _("Площадка"),
        _("Пост"),
        _("Без связи, ч:мм"),
        _("Без связи, с"),
        _("Перерывов связи"),
        _("Очередь событий, пик"),
        _("Пик очереди"),
        _("Пересчитано иначе"),
        _("Разница, ₽"),
        _("Разница, коп."),
    ]
    rows = [
        [
            row.site_name,
            row.stand_name,
            hours_minutes(row.offline_s) if row.offline_s is not None else "",
            row.offline_s if row.offline_s is not None else "",
            row.outages,
            row.outbox_peak,
            local_time(row.outbox_peak_at) if row.outbox_peak_at else "",
            row.repriced,
            roubles_plain(row.repriced_difference_kopecks),
            row.repriced_difference_kopecks,
        ]
        for row in report.rows
    ]
    name = f"stands_{report.period.first}_{report.period.last}.csv"
    return csv_response(name, header, rows, {0, 1})
