"""The attendant's shift: ``/shift`` opens one with the cash in the drawer or, with one open,
shows its report so far and closes it by counting the cash; ``/shift/<uuid>`` is a closed
shift's report (cash top-ups taken, expected cash, counted, difference, card and transfer
top-ups). Every amount is typed on the screen's keyboard (digits)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from edge.screen.context import bp, error_text, stand_parts
from edge.screen.login import staff_required
from sync.errors import RuleError
from sync.money import format_kopecks, parse_roubles


def _page(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    parts = stand_parts()
    shift = parts.store.open_shift_of(g.staff.id)
    report = parts.engine.shift_report(shift) if shift is not None else None
    page = render_template(
        "shift.html",
        shift=shift,
        report=report,
        last=parts.store.last_closed_shift_of(g.staff.id) if shift is None else None,
        form=request.form if request.method == "POST" else {},
        error=error,
    )
    return page, status


@bp.get("/shift")
@staff_required
def shift() -> ResponseReturnValue:
    return _page()


@bp.post("/shift/open")
@staff_required
def open_shift() -> ResponseReturnValue:
    try:
        cash = parse_roubles(request.form.get("cash", ""))
        stand_parts().engine.open_shift(g.staff.id, cash)
    except RuleError as error:
        return _page(error_text(error), 400)
    flash(gettext("Смена открыта: в кассе %(cash)s", cash=format_kopecks(cash)), "success")
    return redirect(url_for("screen.shift"))


@bp.post("/shift/close")
@staff_required
def close_shift() -> ResponseReturnValue:
    try:
        counted = parse_roubles(request.form.get("counted", ""))
        closed, _report = stand_parts().engine.close_shift(g.staff.id, counted)
    except RuleError as error:
        return _page(error_text(error), 400)
    flash(gettext("Смена закрыта"), "success")
    return redirect(url_for("screen.shift_report", shift_uuid=closed.uuid))


@bp.get("/shift/<shift_uuid>")
@staff_required
def shift_report(shift_uuid: str) -> ResponseReturnValue:
    """A closed shift's report, for the attendant whose shift it was."""
    parts = stand_parts()
    closed = parts.store.shift(shift_uuid[:36])
    if closed is None or closed.staff_id != g.staff.id or closed.closed_seq is None:
        abort(404)
    report = parts.engine.shift_report(closed)
    return render_template("shift_report.html", shift=closed, report=report)
