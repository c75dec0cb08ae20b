"""The dashboard of open sessions: the cards with live time and cost, and ending a session
from its card."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from edge.screen.context import (
    bp,
    clock_text,
    display_name,
    error_text,
    rate_cards,
    stand_parts,
    status,
)
from edge.screen.login import staff_required
from edge.store import LocalSession
from sync.errors import RuleError
from sync.money import format_kopecks


def cards_of_open_sessions() -> list[dict[str, Any]]:
    """The open sessions as the dashboard shows them, oldest first."""
    store, engine = stand_parts().store, stand_parts().engine
    sessions = store.open_sessions()
    plates = store.first_plates({s.client_id for s in sessions}) if sessions else {}
    cards = []
    for s in sessions:
        client = store.client(s.client_id)
        cost = engine.running_cost(s)
        cards.append(
            {
                "id": s.uuid,
                "client_id": s.client_id,
                "name": display_name(client, plates.get(s.client_id)),
                "plate": plates.get(s.client_id, ""),
                "tariff": store.tariff_name_of_version(s.tariff_version_id),
                "elapsed_s": engine.elapsed_s(s),
                "cost_kopecks": cost,
                "cost": format_kopecks(cost),
            }
        )
    return cards


@bp.get("/")
@staff_required
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", cards=cards_of_open_sessions())


@bp.get("/live")
@staff_required
def live() -> ResponseReturnValue:
    """Open sessions' time and cost (priced by the engine) and the status bar, for the page's
    script; ``?active=1`` when the attendant touched the page since the last poll."""
    keys = ("id", "elapsed_s", "cost_kopecks", "cost")
    response = jsonify(
        {
            "sessions": [{key: card[key] for key in keys} for card in cards_of_open_sessions()],
            "status": status(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/cards")
@staff_required
def cards() -> ResponseReturnValue:
    """The dashboard's cards alone, for the script when sessions open or end."""
    return render_template("_cards.html", cards=cards_of_open_sessions())


@bp.route("/sessions/<session_uuid>/end", methods=["GET", "POST"])
@staff_required
def end_from_dashboard(session_uuid: str) -> ResponseReturnValue:
    found = stand_parts().store.session(session_uuid)
    if found is None:
        abort(404)
    card = next((c for c in cards_of_open_sessions() if c["id"] == session_uuid), None)
    if request.method == "GET" or card is None:
        if card is None:
            return redirect(_client_page(found.client_id))
        return render_template("end.html", card=card, rate_cards=rate_cards(found))
    comment = request.form.get("comment", "")
    try:
        ended = stand_parts().engine.end_session(session_uuid, g.staff.id, comment, "dashboard")
    except RuleError as error:
        page = render_template(
            "end.html", card=card, rate_cards=rate_cards(found), error=error_text(error)
        )
        return page, 400
    _flash_ended(ended)
    return redirect(_client_page(ended.client_id))


def _client_page(client_id: int) -> str:
    """The client's page, or the dashboard for a client of another site (not shown here)."""
    client = stand_parts().store.client(client_id)
    if client is None or not client.details:
        return url_for("screen.dashboard")
    return url_for("screen.client", client_id=client_id)


def _flash_ended(session_row: LocalSession) -> None:
    flash(
        gettext(
            "Сеанс завершён: %(time)s, %(cost)s",
            time=clock_text(session_row.duration_s or 0),
            cost=format_kopecks(session_row.cost_kopecks or 0),
        ),
        "success",
    )
