"""The cabinet's log-in: a phone, then the code from the SMS. A phone of a member logs in; any
other phone, once its code is right, may join the club (``/my/join``, ``cloud.cabinet.pages``).

Between the two steps the phone waits in the signed Flask session (``cabinet_phone``); a phone
whose code was right but that has no member yet waits as ``cabinet_verified`` with the time,
for ``VERIFIED_FOR`` (the join form must be sent by then)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from cloud.cabinet import auth
from cloud.cabinet.auth import client_required
from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.models import CabinetAccount
from cloud.staff.loginpages import local_target

bp = Blueprint("cabinet", __name__, url_prefix="/my")
VERIFIED_FOR_S = 30 * 60


def _address() -> str:
    return request.remote_addr or ""


def _next() -> str:
    target = local_target(request.args.get("next", "") or session.get("cabinet_next", ""))
    return target if target and target.startswith("/my") else url_for("cabinet.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Step 1: the phone; a code goes to it by SMS."""
    if auth.cookie_session() is not None:
        return redirect(_next())
    if request.args.get("next"):
        session["cabinet_next"] = _next()
    phone, error, status = request.form.get("phone", ""), "", 200
    if request.method == "POST":
        try:
            sent_to = auth.request_code(
                phone, _address(), current_app.config["AQ"], current_app.config["SECRET_KEY"]
            )
        except DomainError as failure:
            error, status = failure.message, failure.status
        else:
            session["cabinet_phone"] = sent_to
            return redirect(url_for("cabinet.login_code"))
    return render_template("cabinet/login.html", phone=phone, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Any:
    """Step 2: the code. A member's phone logs in; another goes on to join the club."""
    phone = session.get("cabinet_phone")
    if not phone:
        return redirect(url_for("cabinet.login"))
    error, status = "", 200
    if request.method == "POST":
        try:
            auth.check_code(phone, request.form.get("code", ""), current_app.config["SECRET_KEY"])
        except DomainError as failure:
            error, status = failure.message, failure.status
        else:
            session.pop("cabinet_phone", None)
            client = auth.client_by_phone(phone)
            if client is None or client.kind != "member":
                session["cabinet_verified"] = {"phone": phone, "at": app_now().timestamp()}
                return redirect(url_for("cabinet.join"))
            return log_in(client)
    return render_template("cabinet/code.html", phone=phone, error=error), status


def device_label() -> str:
    return (request.user_agent.string or "")[:120]


def log_in(client: Any) -> Any:
    """Open a cabinet session for ``client``, set its cookie and the client's language."""
    token = auth.open_session(client, "web", device_label())
    account = CabinetAccount.get(CabinetAccount.client == client.id)
    if account.locale:
        session["lang"] = account.locale
    target = _next()
    session.pop("cabinet_next", None)
    return auth.set_cookie(make_response(redirect(target)), token)


def verified_phone() -> str | None:
    """The phone whose code was right in this browser lately and that has no member yet."""
    verified = session.get("cabinet_verified") or {}
    at = verified.get("at", 0)
    if not verified.get("phone") or app_now().timestamp() - at > VERIFIED_FOR_S:
        return None
    return str(verified["phone"])


@bp.post("/logout")
@client_required
def logout() -> Any:
    """End this browser's session only (the settings page ends all of them)."""
    auth.end_sessions(auth.current_client(), session_id=auth.current_session().id)
    g.pop("cabinet_session", None)
    return auth.clear_cookie(make_response(redirect(url_for("cabinet.login"))))
