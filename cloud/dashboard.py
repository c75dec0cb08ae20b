"""The dashboard: every open session across the user's sites as a card with live time and
running cost. The page ticks the time in the browser (static/dashboard.js) and refreshes the
cards from ``live.json``, whose costs come from the shared pricing code on the server."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from cloud.db import utcnow
from cloud.models import Site
from cloud.permissions import Capability, requires, site_scope
from cloud.sessionbook import iso_utc, live_views, open_sessions
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
    now = utcnow()
    cards = live_views(open_sessions(acting_user(), site_id), now)
    for card in cards:
        card["client_url"] = client_url(card["client_id"])
        card["kind_label"] = _("Клуб") if card["client_kind"] == "member" else _("Гость")
        card["elapsed_text"] = format_duration(card["elapsed_s"])
        card["running_cost_text"] = format_kopecks(card["running_cost_kopecks"])
    return cards, iso_utc(now) or ""


def _sites() -> list[Site]:
    scope = site_scope(acting_user())
    query = Site.select().order_by(Site.name)
    if scope is not None:
        query = query.where(Site.id.in_(sorted(scope)))
    return list(query)


@bp.route("/")
@requires(Capability.VIEW_CLIENTS)
def index() -> Any:
    site_id = request.args.get("site_id", type=int)
    cards, server_time = _cards(site_id)
    return render_template(
        "dashboard/index.html",
        cards=cards,
        server_time=server_time,
        sites=_sites(),
        site_id=site_id,
        refresh_seconds=REFRESH_SECONDS,
    )


@bp.route("/dashboard/live.json")
@requires(Capability.VIEW_CLIENTS)
def live() -> Any:
    cards, server_time = _cards(request.args.get("site_id", type=int))
    return jsonify(server_time=server_time, cards=cards)
