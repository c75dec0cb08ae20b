"""The dashboard: the day's figures (today's revenue and sessions against the same weekday a
week ago, the posts busy now, the last four weeks' sessions by weekday and hour as a heat map:
cloud/reports/overview.py; revenue and the heat map for those who see reports, the busy posts
for everyone; drawn with the page, not refreshed by live.json), and every open session across
the user's sites as a card with live time and running cost. The page ticks the time in the browser (static/dashboard.js) and refreshes the
cards from ``live.json``, whose costs come from the shared pricing code on the server.

A forgotten session can be ended remotely from its card (cloud/standsync/commands.py): the stand ends it
at its next poll, and the card shows "завершение запрошено" until then."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from cloud.clock import app_now, iso_utc
from cloud.errors import DomainError, NotFound
from cloud.models import Site
from cloud.permissions import Capability, requires, role_can, site_scope
from cloud.reports import overview
from cloud.sessions.service import live_views, open_sessions
from cloud.standsync.commands import pending_session_ids, request_end
from cloud.web import acting_user, format_duration
from sync.money import NBSP, format_kopecks

bp = Blueprint("dashboard", __name__)

REFRESH_SECONDS = 5


def client_url(client_id: int) -> str:
    try:
        return url_for("clients.view", client_id=client_id)
    except BuildError:
        return f"/clients/{client_id}"


def _cards(site_id: int | None) -> tuple[list[dict[str, Any]], str]:
    """The open sessions as cards (with display texts and the client page link), and the time."""
    now = app_now()
    long_s = _long_seconds()
    cards = live_views(open_sessions(acting_user(), site_id), now)
    ending = pending_session_ids([card["id"] for card in cards])
    for card in cards:
        card["end_requested"] = card["id"] in ending
        card["end_url"] = url_for("dashboard.end_session", session_id=card["id"])
        card["client_url"] = client_url(card["client_id"])
        card["kind_label"] = _("Клуб") if card["client_kind"] == "member" else _("Гость")
        card["elapsed_text"] = format_duration(card["elapsed_s"])
        card["running_cost_text"] = format_kopecks(card["running_cost_kopecks"])
        card["long"] = card["elapsed_s"] >= long_s
    return cards, iso_utc(now) or ""


def _long_seconds() -> int:
    """From how long an open session is highlighted (``long_session_minutes``)."""
    return int(current_app.config["AQ"].long_session_minutes) * 60


def _sites() -> list[Site]:
    scope = site_scope(acting_user())
    query = Site.select().order_by(Site.name)
    if scope is not None:
        query = query.where(Site.id.in_(sorted(scope)))
    return list(query)


def _site_filter(site_id: int | None) -> list[int] | None:
    """The sites the figures count: the one chosen (within the user's), else all the user's."""
    scope = site_scope(acting_user())
    if site_id is None:
        return None if scope is None else sorted(scope)
    return [site_id] if scope is None or site_id in scope else []


def signed_money(kopecks: int) -> str:
    return ("+" if kopecks > 0 else "") + format_kopecks(kopecks)


def signed_count(count: int) -> str:
    return f"{count:+d}" if count else "0"


def percent_text(percent: float | None) -> str:
    """``+25 %``, ``-12,5 %`` (Russian: decimal comma, a no-break space before the sign)."""
    if percent is None:
        return "—"
    if percent == 0:
        return "0" + NBSP + "%"
    shown = (
        f"{percent:+.0f}" if abs(percent) >= 10 or percent == int(percent) else f"{percent:+.1f}"
    )
    return shown.replace(".", ",") + NBSP + "%"


HEAT_LEVELS = 5
A_MONDAY = date(2024, 1, 1)


def weekday_names() -> list[str]:
    """Monday to Sunday, short, in the page's language (пн, вт, ...)."""
    return [format_date(A_MONDAY + timedelta(days=n), "EEE") for n in range(7)]


def heat_level(count: int, largest: int) -> int:
    """A heat map cell's colour step: 0 for none, 1..HEAT_LEVELS in proportion to the largest."""
    if count <= 0 or largest <= 0:
        return 0
    return max(1, -(-count * HEAT_LEVELS // largest))


def _day(site_id: int | None) -> dict[str, Any]:
    """The day's figures; revenue and the heat map only for those who see reports."""
    sites = _site_filter(site_id)
    now, timezone = app_now(), current_app.config["AQ"].timezone
    figures: dict[str, Any] = {"busy": overview.busy_posts(sites)}
    if role_can(acting_user().role, Capability.REPORTS):
        figures["day"] = overview.day_comparison(now, timezone, sites)
        figures["heat"] = overview.heat_map(now, timezone, sites)
    return figures


def _page(site_id: int | None, error: str = "", status: int = 200) -> Any:
    cards, server_time = _cards(site_id)
    page = render_template(
        "dashboard/index.html",
        cards=cards,
        server_time=server_time,
        sites=_sites(),
        site_id=site_id,
        refresh_seconds=REFRESH_SECONDS,
        long_seconds=_long_seconds(),
        long_minutes=current_app.config["AQ"].long_session_minutes,
        error=error,
        format_money=format_kopecks,
        format_count=str,
        signed_money=signed_money,
        signed_count=signed_count,
        percent_text=percent_text,
        heat_level=heat_level,
        heat_levels=HEAT_LEVELS,
        weekdays=weekday_names(),
        **_day(site_id),
    )
    return page, status


@bp.route("/")
@requires(Capability.VIEW_CLIENTS)
def index() -> Any:
    return _page(request.args.get("site_id", type=int))


@bp.route("/sessions/<int:session_id>/end", methods=["POST"])
@requires(Capability.SERVE_CLIENTS)
def end_session(session_id: int) -> Any:
    """Ask the session's stand to end it (a forgotten session); the stand does at its next poll.
    Then the client's page, to top up (seed 000: ending a session leads to the client's account,
    as the stand's screen does); ``back=client`` from the client page says the same."""
    try:
        command = request_end(acting_user(), session_id, request.form.get("comment", ""))
    except NotFound:
        raise
    except DomainError as error:
        return _page(None, error.message, error.status)
    flash(_("Завершение запрошено: пост завершит сессию при следующем обмене"), "success")
    return redirect(client_url(command.session.client_id) + "#topup")


@bp.route("/dashboard/live.json")
@requires(Capability.VIEW_CLIENTS)
def live() -> Any:
    cards, server_time = _cards(request.args.get("site_id", type=int))
    return jsonify(server_time=server_time, cards=cards)
