"""The stand's web app (:func:`create_state_app`): the JSON state for the screen and for tests
(``GET /api/state``), the customer's display (``customer``) and the attendant's touchscreen:
PIN log-in (``login``), the dashboard of open sessions (``dashboard``), client search and the
client account (``clients``), and registering guests and members (``registering``), a
member's card linked by tapping it on the reader (``cardlink``). Where a tariff is chosen (the
account's start, the guest form) the tariffs' rates by time of day are shown, the one in force
now marked, and a running session's end page shows the rates that session pays
(:mod:`edge.ratecard`, templates/_rate_cards.html). :class:`StateServer` serves
it with waitress in a background thread. Every text field has the on-screen keyboard of
``static/keyboard.js`` (the stand runs under cage with no physical keyboard), and every page
fits 800x480 without scrolling.

The customer's display: while no attendant is signed in, the stand's screen is the
customer's (``GET /customer``, no log-in, also for a second screen facing the customer).
It says "Приложите карту или покажите QR-код" at rest and answers a tap in large type:
started (the first word of the client's name, the tariff, the balance), ended (duration,
charge, balance after), refused (the reason in plain words, "ещё раз через … с" for an end
held back); a verdict stays ``edge.display.VERDICT_SHOW_S`` seconds, then the display shows
the session running at the post (time, running cost, balance left) or rests again. What it
shows is :mod:`edge.display`'s, also in ``/api/state``'s ``display``; the page redraws itself
every second from ``GET /customer/display`` (edge/static/customer.js, customer.css: black on
white, which holds up in daylight, verdicts in bands of colour with white type at 7:1 or
more). Russian, or English at ``?lang=en`` (its RU/EN buttons), whatever the attendant chose.
A discreet "Персонал" button leads to the staff's log-in.

The app needs only what :class:`edge.stand.StandParts` holds (configuration, store, engine,
the devices' health), so tests build it without hardware; a running ``Stand`` gives its own.

Every action goes through the engine, which writes its local effect and its event in one
transaction before the screen confirms it (a redirect with a flash). Bad input is answered
with a red line and status 400, and nothing is stored.

Log-in: from the customer's display ("Персонал") the attendant picks their name among the
site's staff and types the PIN, checked against the directory's werkzeug hash. The Flask
session holds the staff id, a tag of the PIN hash (a changed PIN or a removed staff member
ends the session at the next request) and the time of the last touch; after
``screen_idle_lock_s`` without one the attendant is signed out and the screen goes back to
the customer's display (the next request is sent there, and the page's script goes there by
itself; so do the staff list and the PIN keypad when left untouched that long). Five wrong
PINs in a row lock that staff member out for a minute, each next lock twice as long (at most
30 minutes); the count is in the stand's database, so a restart keeps it (``pins``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale, gettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import InternalServerError, NotFound

# The route modules add their pages to the blueprint when imported.
from edge.screen import (  # noqa: F401
    cardlink,
    clients,
    customer,
    dashboard,
    login,
    registering,
    shifts,
)
from edge.screen.context import EXTENSION, LANGUAGES, ScreenContext, bp, clock_text
from edge.screen.pins import PinGuard
from edge.screen.server import StateServer
from edge.stand import Stand, StandParts, parts_of, state_of
from sync.money import format_kopecks
from sync.privatefiles import make_private_dir

EDGE_DIR = Path(__file__).resolve().parent.parent  # templates, static files, translations
TRANSLATIONS = EDGE_DIR / "translations"
MAX_BODY_BYTES = 64 * 1024

__all__ = ["StateServer", "create_state_app", "ensure_secret_key", "init_app"]


def ensure_secret_key(data_dir: Path) -> str:
    """The screen's session key, created on first use and kept owner-only in ``data_dir``."""
    path = data_dir / "screen_secret_key"
    if not path.exists():
        make_private_dir(data_dir)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_state_app(stand: Stand | StandParts) -> Flask:
    """The Flask app serving ``stand``'s state and its touchscreen."""
    parts = parts_of(stand)
    app = Flask(__name__, root_path=str(EDGE_DIR))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.secret_key = ensure_secret_key(parts.config.data_dir)
    database = parts.store.database

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _disconnect(_error: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    @app.get("/api/state")
    def api_state() -> ResponseReturnValue:
        return jsonify(state_of(parts))  # never cached: see _security_headers

    init_app(app, parts, lambda: state_of(parts))
    return app


def init_app(app: Flask, parts: StandParts, state: Callable[[], dict[str, Any]]) -> None:
    """Add the touchscreen to ``app``: ``state()`` is what ``/api/state`` says."""
    app.extensions[EXTENSION] = ScreenContext(parts, state, PinGuard(parts.store))
    app.config.update(
        BABEL_DEFAULT_LOCALE="ru",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Strict",
        # The lock screen may stay open for hours; the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["money"] = format_kopecks
    app.jinja_env.filters["clock"] = clock_text
    zone = ZoneInfo(parts.config.timezone)
    app.jinja_env.filters["localtime"] = lambda moment, fmt="%d.%m.%Y %H:%M": local_time(
        moment, zone, fmt
    )
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error: CSRFError) -> ResponseReturnValue:
        message = gettext("Страница устарела: откройте её заново и повторите")
        return render_template("error.html", error=message), 400

    @app.errorhandler(NotFound)
    def _not_found(_error: NotFound) -> ResponseReturnValue:
        return render_template("error.html", error=gettext("Такой страницы нет")), 404

    @app.errorhandler(InternalServerError)
    def _server_error(_error: InternalServerError) -> ResponseReturnValue:
        # Flask has logged the exception; the kiosk needs words and a way back, not a bare page.
        message = gettext(
            "Что-то пошло не так, действие не выполнено. Вернитесь на главный экран и "
            "повторите; если повторится, сообщите администратору"
        )
        return render_template("error.html", error=message), 500

    app.after_request(_security_headers)


# Scripts and styles only from /static (the screen has no inline ones).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _security_headers(response: Response) -> Response:
    """On every answer: no framing, no sniffing, referrers only to the stand itself (the
    language toggle goes back by it); pages are not cached (they show clients' details)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    return response


def local_time(moment: datetime, zone: ZoneInfo, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """``moment`` (UTC-aware, as stored) on the stand's wall clock: the site's time zone."""
    return moment.astimezone(zone).strftime(fmt)


def _select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "ru"
