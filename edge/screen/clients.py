"""Clients: the search box and the client's account (start, end, top up, comment)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from edge.refusals import refusal
from edge.screen.context import (
    bp,
    clock_text,
    display_name,
    error_text,
    rate_cards,
    stand_parts,
)
from edge.screen.dashboard import cards_of_open_sessions
from edge.screen.login import staff_required
from edge.store import AnyClient
from sync.errors import RuleError
from sync.events import PAYMENT_METHODS
from sync.money import format_kopecks, parse_roubles
from sync.phones import normalise_phone
from sync.plates import normalise_plate


def _search(query: str) -> list[AnyClient]:
    # One box for all three: whatever the text can be read as is searched for.
    plate = phone = None
    with contextlib.suppress(RuleError):
        plate = normalise_plate(query)
    with contextlib.suppress(RuleError):
        phone = normalise_phone(query)
    name = query if len(query) >= 2 and any(ch.isalpha() for ch in query) else None
    return stand_parts().store.find_clients(plate=plate, phone=phone, name=name)


@bp.get("/clients")
@staff_required
def search() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:100]
    found = _search(query) if query else []
    store = stand_parts().store
    plates = store.first_plates({int(c.id) for c in found}) if found else {}
    rows = [
        {
            "id": int(c.id),
            "name": display_name(c, plates.get(int(c.id))),
            "kind": c.kind,
            "plate": plates.get(int(c.id), ""),
            "balance": store.balance_of(int(c.id)),
            "blocked": bool(c.blocked),
        }
        for c in found
    ]
    return render_template("search.html", query=query, rows=rows)


def _client_or_404(client_id: int) -> AnyClient:
    """The client, if the stand has their details: a client of another site (who has not
    visited this one) is for taps only, never opened, topped up or commented here."""
    client = stand_parts().store.client(client_id)
    if client is None or not client.details:
        abort(404)
    return client


# The client page's tabs; a failed action shows its own tab again, with the red line.
TABS = ("session", "topup", "comments", "history", "cards")
TAB_OF_ACTION = {"screen.topup": "topup", "screen.comment": "comments", "screen.link_card": "cards"}


def _active_tab() -> str:
    asked = request.args.get("tab", "")
    return TAB_OF_ACTION.get(request.endpoint or "") or (asked if asked in TABS else TABS[0])


def _render_client(client_id: int, error: str | None = None, status: int = 200) -> Any:
    parts = stand_parts()
    store, engine = parts.store, parts.engine
    client = _client_or_404(client_id)
    plates = store.credentials_of(client_id, "plate")
    open_session = store.open_session_of(client_id)
    card = None
    if open_session is not None:
        card = next((c for c in cards_of_open_sessions() if c["id"] == open_session.uuid), None)
    tariffs = store.active_tariffs(engine.clock.now())
    history = [
        {
            "started_at": s.started_at,
            "tariff": store.tariff_name_of_version(s.tariff_version_id),
            "duration_s": s.duration_s if s.ended_at else engine.elapsed_s(s),
            "cost": s.cost_kopecks if s.ended_at else engine.running_cost(s),
            "open": s.ended_at is None,
            "end_method": s.end_method,
        }
        for s in store.sessions_of(client_id)
    ]
    body = render_template(
        "client.html",
        client=client,
        name=display_name(client, plates[0] if plates else None),
        plates=plates,
        cards=store.credentials_of(client_id, "card"),
        phones=list(client.phones),
        balance=store.balance_of(client_id),
        points=store.points_of(client_id),
        card=card,
        tariffs=tariffs,
        # A running session's rates are on its end page (its card): no room for them here.
        rate_cards=rate_cards() if open_session is None else [],
        default_tariff=client.default_tariff_id or store.default_tariff_id(),
        open_elsewhere=engine.open_elsewhere(client),
        history=history,
        comments=store.comments_of(client_id),
        methods=PAYMENT_METHODS,
        shift_open=store.open_shift_of(g.staff.id) is not None,
        form=request.form if request.method == "POST" else {},
        error=error,
        active_tab=_active_tab(),
    )
    return body, status


@bp.get("/clients/<int(signed=True):client_id>")
@staff_required
def client(client_id: int) -> ResponseReturnValue:
    result: ResponseReturnValue = _render_client(client_id)
    return result


def _client_action(
    client_id: int, action: Callable[[], str], tab: str | None = None
) -> ResponseReturnValue:
    """Run ``action`` (which returns the flash message) for an existing client and show the
    account (at ``tab``); on a RuleError show it again with the red line and status 400."""
    _client_or_404(client_id)
    try:
        message = action()
    except RuleError as error:
        result: ResponseReturnValue = _render_client(client_id, error_text(error), 400)
        return result
    flash(message, "success")
    return redirect(url_for("screen.client", client_id=client_id, tab=tab))


def tariff_choice(raw: str) -> int | None:
    """The tariff chosen in a form (empty: the default); RuleError if it is not a number."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise refusal("no_tariff")
    return int(raw)


@bp.post("/clients/<int(signed=True):client_id>/start")
@staff_required
def start(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        tariff_id = tariff_choice(request.form.get("tariff_id", ""))
        plate = request.form.get("plate", "").strip() or None
        stand_parts().engine.start_session(client_id, tariff_id, g.staff.id, plate)
        return gettext("Сеанс начат")

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/end")
@staff_required
def end(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        open_session = stand_parts().store.open_session_of(client_id)
        if open_session is None:
            raise RuleError("Сеанс не найден или уже завершён", "not_open")
        comment = request.form.get("comment", "")
        ended = stand_parts().engine.end_session(open_session.uuid, g.staff.id, comment, "screen")
        return gettext(
            "Сеанс завершён: %(time)s, %(cost)s",
            time=clock_text(ended.duration_s or 0),
            cost=format_kopecks(ended.cost_kopecks or 0),
        )

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/topup")
@staff_required
def topup(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        amount = parse_roubles(request.form.get("amount", ""))
        method = request.form.get("method", "")
        stand_parts().engine.record_topup(client_id, amount, method, g.staff.id)
        return gettext("Баланс пополнен на %(amount)s", amount=format_kopecks(amount))

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/comment")
@staff_required
def comment(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        stand_parts().engine.add_comment(client_id, request.form.get("text", ""), g.staff.id)
        return gettext("Комментарий сохранён")

    return _client_action(client_id, action, "comments")


@bp.post("/clients/<int(signed=True):client_id>/card")
@staff_required
def link_card(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        uid = stand_parts().engine.link_card(client_id, request.form.get("card", ""), g.staff.id)
        return gettext("Карта %(uid)s привязана", uid=uid)

    return _client_action(client_id, action, "cards")
