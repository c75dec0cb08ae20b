"""Registering a guest (by car plate, their session starts at once) or a member."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from edge.screen.clients import tariff_choice
from edge.screen.context import bp, error_text, rate_cards, stand_parts
from edge.screen.login import staff_required
from sync.errors import RuleError
from sync.plates import normalise_plate


@bp.route("/guests/new", methods=["GET", "POST"])
@staff_required
def new_guest() -> ResponseReturnValue:
    """A guest by car plate; their session starts at once (the seed's rule)."""
    parts = stand_parts()
    tariffs = parts.store.active_tariffs(parts.engine.clock.now())
    default = parts.store.default_tariff_id()
    if request.method == "GET":
        return render_template(
            "guest.html", tariffs=tariffs, rate_cards=rate_cards(), default_tariff=default, form={}
        )
    try:
        tariff_id = tariff_choice(request.form.get("tariff_id", ""))
        guest, _session = parts.engine.register_guest(
            request.form.get("plate", ""),
            tariff_id,
            g.staff.id,
            foreign=request.form.get("foreign") == "1",
        )
    except RuleError as error:
        owner = stranger = None
        if error.code == "credential_taken":
            taken = parts.store.credential("plate", normalise_plate(request.form["plate"]))
            if taken is not None and taken.client.details:
                owner = taken.client_id
            elif taken is not None:  # another site's client: the plate in full is their "tap"
                stranger = taken.value
        page = render_template(
            "guest.html",
            tariffs=tariffs,
            rate_cards=rate_cards(),
            default_tariff=default,
            form=request.form,
            error=error_text(error),
            owner=owner,
            stranger=stranger,
        )
        return page, 400
    plate = parts.store.credentials_of(int(guest.id), "plate")[0]
    flash(gettext("Гость %(plate)s зарегистрирован, сеанс начат", plate=plate), "success")
    return redirect(url_for("screen.dashboard"))


@bp.post("/guests/start")
@staff_required
def start_by_plate() -> ResponseReturnValue:
    """A session for the holder of a plate typed in full, a client of another site whose
    details this stand does not have: the car at the post is what a tap would be. The client
    is not opened; the session shows on the dashboard."""
    parts = stand_parts()
    try:
        plate = normalise_plate(request.form.get("plate", ""))
        taken = parts.store.credential("plate", plate)
        if taken is None:
            raise RuleError("Клиент не найден", "unknown")
        tariff_id = tariff_choice(request.form.get("tariff_id", ""))
        parts.engine.start_session(taken.client_id, tariff_id, g.staff.id, plate)
    except RuleError as error:
        tariffs = parts.store.active_tariffs(parts.engine.clock.now())
        page = render_template(
            "guest.html",
            tariffs=tariffs,
            rate_cards=rate_cards(),
            default_tariff=parts.store.default_tariff_id(),
            form=request.form,
            error=error_text(error),
        )
        return page, 400
    flash(gettext("Сеанс начат"), "success")
    return redirect(url_for("screen.dashboard"))


@bp.route("/members/new", methods=["GET", "POST"])
@staff_required
def new_member() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("member.html", form={})
    form = request.form

    def listed(key: str) -> list[str]:
        value = form.get(key, "").strip()
        return [value] if value else []

    try:
        member = stand_parts().engine.register_member(
            form.get("name", ""),
            listed("phone"),
            listed("plate"),
            listed("card"),
            g.staff.id,
            foreign=form.get("foreign") == "1",
        )
    except RuleError as error:
        return render_template("member.html", form=form, error=error_text(error)), 400
    flash(gettext("Клиент %(name)s зарегистрирован", name=member.name), "success")
    return redirect(url_for("screen.client", client_id=member.id))
