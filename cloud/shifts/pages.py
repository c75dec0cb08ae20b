"""The Shifts page (Отчёты → Смены): attendants' shifts at the stands with their cash
reconciliation (opening cash, cash top-ups, expected, counted, difference, card and transfer
top-ups), filtered by site, stand, attendant, period and status, with the same rows as CSV;
a shift open for more than a day is flagged, and the top-ups taken outside any shift in the
period are counted below the table. Capability REPORTS."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from cloud.clock import app_now
from cloud.csvexport import csv_response, roubles_plain
from cloud.errors import ValidationFailed
from cloud.models import Site, Stand, User
from cloud.permissions import Capability, requires, site_scope
from cloud.shifts import service
from cloud.shifts.service import ShiftReport
from cloud.web import acting_user, local_time

bp = Blueprint("shifts", __name__, url_prefix="/shifts")


def _choices() -> dict[str, Any]:
    """The filters' options: the sites, stands and staff the user may see."""
    scope = site_scope(acting_user())
    sites = Site.select().order_by(Site.name)
    stands = Stand.select(Stand, Site).join(Site).order_by(Site.name, Stand.name)
    if scope is not None:
        sites = sites.where(Site.id.in_(sorted(scope) or [0]))
        stands = stands.where(Stand.site.in_(sorted(scope) or [0]))
    staff = User.select().where(User.deleted_at.is_null())
    return {
        "sites": list(sites),
        "stands": list(stands),
        "staff": list(staff.order_by(User.full_name)),
    }


def status_labels() -> dict[str, str]:
    return {"open": _("открытые"), "closed": _("закрытые"), "stale": _("открыты больше суток")}


@bp.get("")
@requires(Capability.REPORTS)
def index() -> Any:
    context = {"args": request.args, "statuses": status_labels(), **_choices()}
    now = app_now()
    try:
        wanted = service.filter_from(request.args, current_app.config["AQ"].timezone, now)
    except ValidationFailed as error:
        return render_template("shifts/index.html", error=error.message, **context), 400
    rows = service.shifts_for(acting_user(), wanted, now)
    outside = service.outside_shifts(acting_user(), wanted)
    return render_template(
        "shifts/index.html",
        error=None,
        rows=rows,
        period=wanted.period,
        outside=outside,
        limit=service.LIMIT,
        **context,
    )


def _csv_row(row: ShiftReport) -> list[Any]:
    t = row.totals
    return [
        row.id,
        row.site,
        row.stand,
        row.attendant,
        local_time(row.opened_at),
        local_time(row.closed_at) if row.closed_at else "",
        roubles_plain(t.opening_kopecks),
        roubles_plain(t.cash_kopecks),
        roubles_plain(t.expected_kopecks),
        roubles_plain(t.counted_kopecks) if t.counted_kopecks is not None else "",
        roubles_plain(t.difference_kopecks) if t.difference_kopecks is not None else "",
        roubles_plain(t.card_kopecks),
        roubles_plain(t.transfer_kopecks),
        t.topups,
        _("да") if row.stale else "",
    ]


@bp.get("/export.csv")
@requires(Capability.REPORTS)
def index_csv() -> Any:
    now = app_now()
    try:
        wanted = service.filter_from(request.args, current_app.config["AQ"].timezone, now)
    except ValidationFailed as error:
        return render_template("error.html", status=400, message=error.message), 400
    rows = service.shifts_for(acting_user(), wanted, now)
    header = [
        _("Смена №"),
        _("Площадка"),
        _("Пост"),
        _("Сотрудник"),
        _("Открыта"),
        _("Закрыта"),
        _("В кассе при открытии, ₽"),
        _("Наличные пополнения, ₽"),
        _("Ожидается наличных, ₽"),
        _("Пересчитано, ₽"),
        _("Разница, ₽"),
        _("Пополнения картой, ₽"),
        _("Переводы, ₽"),
        _("Пополнений"),
        _("Открыта больше суток"),
    ]
    name = f"shifts-{wanted.period.first.isoformat()}-{wanted.period.last.isoformat()}.csv"
    return csv_response(name, header, (_csv_row(row) for row in rows), {1, 2, 3})
