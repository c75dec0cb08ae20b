"""Log-in and log-out pages (Flask-Login) and the language switch.

A web session carries the user's ``session_version``; bumping it (log-out, deactivation, role or
password change) ends every session of that user at once.

A session ends ``session_idle_minutes`` after the last page the user opened or form they sent
(a page's own background requests, ``Sec-Fetch-Mode`` other than ``navigate``, do not count)
and ``session_max_hours`` after the log-in, whatever happens.

A successful log-in also leaves a signed device cookie (``DEVICE_COOKIE``, a year): the browser
is then known for that account, and failed log-ins from elsewhere never slow it down (see
``cloud.staff.auth``'s notes on throttling)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from cloud.clock import app_now
from cloud.models import User
from cloud.staff.auth import KnownBrowser, authenticate

DEVICE_COOKIE = "aq_device"
DEVICE_COOKIE_DAYS = 365
bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None


class StaffPrincipal(UserMixin):
    """The logged-in staff member as Flask-Login sees them; ``row`` is the ``User`` record."""

    def __init__(self, row: User):
        self.row = row
        self.id = row.id
        self.role = row.role
        self.full_name = row.full_name

    def get_id(self) -> str:
        return f"{self.row.id}:{self.row.session_version}"


@login_manager.user_loader
def load_user(token: str) -> StaffPrincipal | None:
    user_id, _sep, version = token.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    row = User.get_or_none((User.id == int(user_id)) & User.active & User.deleted_at.is_null())
    if row is None or row.session_version != int(version):
        return None
    return StaffPrincipal(row)


class LoginForm(FlaskForm):
    phone = StringField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


def local_target(target: str) -> str | None:
    """``target`` if it is a path on this site (a safe place to send someone after log-in)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _fresh_session() -> None:
    """An empty session (no fixation), keeping only the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def _start_session(user: User) -> None:
    _fresh_session()
    login_user(StaffPrincipal(user))
    session["login_at"] = session["seen_at"] = app_now().timestamp()


@bp.before_app_request
def _end_stale_session() -> None:
    """Sign out a session idle too long or open too long (see the module's notes)."""
    if "_user_id" not in session:
        return
    config = current_app.config["AQ"]
    now = app_now().timestamp()
    started, seen = session.get("login_at"), session.get("seen_at")
    if (
        not isinstance(started, float | int)
        or not isinstance(seen, float | int)
        or now - seen > config.session_idle_minutes * 60
        or now - started > config.session_max_hours * 3600
    ):
        logout_user()
        _fresh_session()
    elif request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate":
        session["seen_at"] = now


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="aquastand-known-browser")


def known_browser() -> KnownBrowser | None:
    """The account this browser logged in to before, from its signed device cookie."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    try:
        user_id, device_id = _device_signer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(user_id, int) or not isinstance(device_id, str):
        return None
    return KnownBrowser(user_id, device_id)


def _remember_browser(response: Any, user: User, browser: KnownBrowser | None) -> Any:
    """Mark this browser as known for ``user`` (keeping its id if it was already)."""
    same = browser is not None and browser.user_id == user.id
    device_id = browser.device_id if browser is not None and same else secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _device_signer().dumps([user.id, device_id]),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "POST":
        if not form.validate():
            flash(_("Введите телефон и пароль"), "error")
            return render_template("login.html", form=form), 400
        browser = known_browser()
        result = authenticate(
            form.phone.data or "",
            form.password.data or "",
            request.remote_addr or "",
            browser,
            current_app.config["AQ"],
            app_now(),
        )
        if result.user is not None:
            _start_session(result.user)
            target = local_target(request.args.get("next", "")) or url_for("dashboard.index")
            return _remember_browser(redirect(target), result.user, browser)
        if result.wait_s:
            # Throttled the same way whether the phone is anyone's or not.
            wait = _("Слишком много неудачных попыток. Повторите через %(s)d с.", s=result.wait_s)
            flash(wait, "error")
            page = render_template("login.html", form=form)
            return page, 429, {"Retry-After": str(result.wait_s)}
        # One answer for an unknown phone, a wrong password or an inactive account.
        flash(_("Неверный телефон или пароль"), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session and every other session of the user (the version moves on)."""
    if current_user.is_authenticated:
        User.update(session_version=User.session_version + 1).where(
            User.id == current_user.id
        ).execute()
    logout_user()
    _fresh_session()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    if code in ("ru", "en"):
        session["lang"] = code
    referrer = urlsplit(request.referrer or "")
    back = "/"
    if referrer.netloc == request.host:
        back = local_target(referrer.path + ("?" + referrer.query if referrer.query else "")) or "/"
    return redirect(back)
