"""The dashboard: every open session across the user's sites as a card with live time and
running cost. The page ticks the time in the browser (static/dashboard.js) and refreshes the
cards from ``live.json``, whose costs come from the shared pricing code on the server.

A forgotten session can be ended remotely from its card (cloud/standsync/commands.py): the stand ends it
at its next poll, and the card shows "завершение запрошено" until then."""

from __future__ import annotations

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
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from cloud.clock import app_now, iso_utc
from cloud.errors import DomainError, NotFound
from cloud.models import Site
from cloud.permissions import Capability, requires, site_scope
from cloud.sessions.service import live_views, open_sessions
from cloud.standsync.commands import pending_session_ids, request_end
from cloud.web import acting_user, format_duration
from sync.money import format_kopecks

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
