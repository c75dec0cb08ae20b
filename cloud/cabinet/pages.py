"""The cabinet's pages under ``/my/`` (mobile first): joining the club, the home page
(balance, points, what expires), the QR code, washes and top-ups, cards and plates, settings
and sessions, and the PWA's manifest and service worker. The log-in is in
``cloud.cabinet.loginpages``; every page here is a logged-in client's and shows only their own
data (``current_client()``), looking up any id in the path within it."""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext as _

from cloud.cabinet import auth, membership, overview
from cloud.cabinet.auth import client_required, current_client
from cloud.cabinet.loginpages import bp, log_in, verified_phone
from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.clock import app_now, iso_utc
from cloud.errors import DomainError
from cloud.loyalty.settings import effective_rules
from sync.errors import RuleError
from sync.money import format_kopecks

STATIC_DIR = "static/cabinet"


def _config() -> Any:
    return current_app.config["AQ"]


def _page(template: str, tab: str, status: int = 200, **context: Any) -> Any:
    return render_template(template, tab=tab, signed_in=True, **context), status


@bp.route("/join", methods=["GET", "POST"])
def join() -> Any:
    """Join the club with a phone whose code was right (``loginpages.login_code``)."""
    phone = verified_phone()
    if phone is None:
        return redirect(url_for("cabinet.login"))
    form, error, status = request.form, "", 200
    if request.method == "POST":
        try:
            client = membership.join(
                phone,
                name=form.get("name", ""),
                email=form.get("email", ""),
                plates=form.get("plates", "").replace(";", ",").split(","),
                consent=form.get("consent") == "1",
                foreign=form.get("foreign") == "1",
                config=_config(),
                now=app_now(),
            )
        except (DomainError, RuleError) as failure:
            error, status = failure.message, getattr(failure, "status", 400)
        else:
            session.pop("cabinet_verified", None)
            flash(_("Добро пожаловать в клуб!"), "success")
            return log_in(client)
    version = _config().cabinet_consent_version
    page = render_template(
        "cabinet/join.html", phone=phone, form=form, error=error, consent_version=version
    )
    return page, status


@bp.get("/")
@client_required
def home() -> Any:
    client = current_client()
    config = _config()
    rules = effective_rules(config)
    return _page(
        "cabinet/home.html",
        "home",
        client=client,
        expiring=overview.expiring_points(client, rules.expiry_days, app_now()),
        point_value=rules.value_kopecks,
        washes=overview.washes(client, limit=3),
        as_of=iso_utc(app_now()),
    )


@bp.get("/qr")
@client_required
def qr() -> Any:
    """The QR code, large, for the stand's camera; the page asks to turn the brightness up."""
    token, token_id = overview.qr_of(current_client(), _config())
    svg = segno.make(token, error="m").svg_inline(border=4, omitsize=True, scale=8)
    return _page("cabinet/qr.html", "qr", svg=svg, token_id=token_id, as_of=iso_utc(app_now()))


@bp.post("/qr/reissue")
@client_required
def reissue_qr() -> Any:
    """A new QR code; the old one is revoked at the stands with the next directory."""
    client_credentials.issue_qr(None, current_client(), _config())
    flash(_("Выпущен новый QR-код, прежний больше не действует"), "success")
    return redirect(url_for("cabinet.qr"))


@bp.get("/washes")
@client_required
def washes() -> Any:
    client = current_client()
    return _page(
        "cabinet/washes.html",
        "washes",
        washes=overview.washes(client),
        topups=overview.topups(client),
    )


@bp.get("/cards")
@client_required
def cards() -> Any:
    cards, plates = overview.cards_and_plates(current_client())
    return _page("cabinet/cards.html", "cards", cards=cards, plates=plates)


@bp.post("/cards/<int:credential_id>/lost")
@client_required
def card_lost(credential_id: int) -> Any:
    """Disable a lost card, as staff do: the stands refuse it from their next directory."""
    client_credentials.mark_card_lost(None, current_client(), credential_id)
    flash(_("Карта отмечена потерянной: посты больше её не примут"), "success")
    return redirect(url_for("cabinet.cards"))


@bp.route("/settings", methods=["GET", "POST"])
@client_required
def settings() -> Any:
    """E-mail, mailings (the client's ``unsubscribed`` flag), language; the sessions."""
    client = current_client()
    error, status = "", 200
    if request.method == "POST":
        try:
            clientbook.update_client(
                None,
                client,
                email=request.form.get("email", ""),
                unsubscribed=request.form.get("mailings") != "1",
            )
            locale = request.form.get("locale", "")
            if locale:
                membership.set_locale(client, locale)
                session["lang"] = locale
        except (DomainError, RuleError) as failure:
            error, status = failure.message, getattr(failure, "status", 400)
        else:
            flash(_("Настройки сохранены"), "success")
            return redirect(url_for("cabinet.settings"))
    return _page(
        "cabinet/settings.html",
        "settings",
        status,
        client=client,
        account=membership.account_of(client),
        sessions=auth.live_sessions(client),
        this_session=auth.current_session().id,
        error=error,
    )


@bp.post("/sessions/<int:session_id>/end")
@client_required
def end_session(session_id: int) -> Any:
    auth.end_sessions(current_client(), session_id=session_id)
    if session_id == auth.current_session().id:
        return auth.clear_cookie(make_response(redirect(url_for("cabinet.login"))))
    flash(_("Сеанс завершён"), "success")
    return redirect(url_for("cabinet.settings"))


@bp.post("/sessions/end-all")
@client_required
def end_all_sessions() -> Any:
    """End every session of the client, this one too (a lost phone, a shared computer)."""
    auth.end_sessions(current_client())
    return auth.clear_cookie(make_response(redirect(url_for("cabinet.login"))))


@bp.get("/state.json")
@client_required
def state() -> Any:
    """What the service worker keeps for offline use: the balance and points, with the time."""
    client = current_client()
    return jsonify(
        balance=format_kopecks(client.balance_kopecks),
        points=client.points_balance,
        as_of=iso_utc(app_now()),
    )


# --- PWA ---------------------------------------------------------------------------------------


@bp.get("/manifest.webmanifest")
def manifest() -> Any:
    body = {
        "name": _("Аквастенд — личный кабинет"),
        "short_name": _("Аквастенд"),
        "start_url": url_for("cabinet.home"),
        "scope": url_for("cabinet.home"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b6bcb",
        "icons": [
            {
                "src": url_for("static", filename=f"cabinet/icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size in (192, 512)
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker() -> Any:
    """The service worker, served from ``/my/`` so that its scope is the cabinet."""
    response = send_from_directory(
        f"{current_app.root_path}/{STATIC_DIR}", "sw.js", mimetype="text/javascript"
    )
    response.headers["Service-Worker-Allowed"] = url_for("cabinet.home")
    return response
