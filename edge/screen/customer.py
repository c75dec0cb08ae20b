"""The customer's display (:mod:`edge.display`) as a page: ``GET /customer`` with no log-in,
the stand's own screen while no attendant is signed in and any second screen facing the
customer. The page asks ``GET /customer/display`` every second and redraws itself without a
reload. Russian unless the address says ``?lang=en`` (the page's RU/EN buttons): a screen
facing customers keeps its language whoever signed in or out at the stand."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from edge.display import Display, customer_display
from edge.screen.context import LANGUAGES, bp, clock_text, stand_parts
from sync.money import format_kopecks

# What each figure is called, by the kind of view that shows it.
ELAPSED = _l("Время")
COST = {"running": _l("Стоимость"), "ended": _l("Списано")}
BALANCE = {"started": _l("Баланс"), "running": _l("Остаток"), "ended": _l("Баланс")}


def customer_language() -> str:
    """The page's language: ``?lang=`` if it names one of ours, else Russian."""
    lang = request.args.get("lang", "")
    return lang if lang in LANGUAGES else "ru"


def _line(label: Any, value: str, negative: bool = False) -> dict[str, Any]:
    return {"label": str(label), "value": value, "negative": negative}


def figure_lines(display: Display) -> list[dict[str, Any]]:
    """The view's figures as the page lists them: label, value, and whether it is negative."""
    lines = []
    if display.elapsed_s is not None:
        lines.append(_line(ELAPSED, clock_text(display.elapsed_s)))
    if display.cost_kopecks is not None and display.kind in COST:
        lines.append(_line(COST[display.kind], format_kopecks(display.cost_kopecks)))
    balance = display.balance_kopecks
    if balance is not None and display.kind in BALANCE:
        lines.append(_line(BALANCE[display.kind], format_kopecks(balance), balance < 0))
    return lines


def _view(lang: str) -> dict[str, Any]:
    with force_locale(lang):
        display = customer_display(stand_parts().engine, gettext)
        return {**display.as_json(), "lines": figure_lines(display)}


@bp.get("/customer")
def customer() -> ResponseReturnValue:
    lang = customer_language()
    view = _view(lang)
    with force_locale(lang):
        return render_template("customer.html", view=view, lang=lang)


@bp.get("/customer/display")
def customer_view() -> ResponseReturnValue:
    """The display in the page's language, for its script (no log-in, nothing but the view)."""
    response = jsonify(_view(customer_language()))
    response.headers["Cache-Control"] = "no-store"
    return response
