"""Aquastand central service: clients, credentials, tariffs, staff, sites, ledger and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from cloud.clock import EXTENSION as CLOCK_EXTENSION
from cloud.clock import Clock, SystemClock
from cloud.config import CloudConfig, ensure_secret_key, load_config, prepare_data_dir
from cloud.db import MAX_ROW_ID, bind
from cloud.fiscal.settings import EXTENSION as FISCAL_EXTENSION
from cloud.fiscal.settings import FiscalSettings
from cloud.loyalty.bonus import PointsRules

csrf = CSRFProtect()
babel = Babel()


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in routes: a row id. An id past 2³¹−1 (where PostgreSQL's integer columns
    end) is a 404 at once rather than a database error."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ROW_ID:
            raise NotFound()
        return number


def _select_locale() -> str:
    from flask import current_app, has_request_context

    # Commands (demo data, imports) run in an app context without a request, hence no session.
    chosen = session.get("lang") if has_request_context() else None
    return chosen or current_app.config["AQ"].default_locale


def create_app(
    config: CloudConfig | None = None, clock: Clock | None = None, **overrides: Any
) -> Flask:
    """Build the central Flask app; ``overrides`` are configuration fields (tests use them).

    ``clock`` is where every decision about the time comes from (``cloud.clock``; default: the
    wall clock); tests give a ``FixedClock``."""
    config = config or load_config(**overrides)
    PointsRules.from_config(config)  # a bad bonus setting stops the start, not a later request
    fiscal = FiscalSettings.from_config(config)  # so does a bad fiscal one
    prepare_data_dir(config)
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        AQ=config,
        SECRET_KEY=ensure_secret_key(config),
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.cookies_need_tls,
        BABEL_DEFAULT_LOCALE=config.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    if config.trusted_proxy_count > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.trusted_proxy_count, x_proto=config.trusted_proxy_count
        )
    database = bind(config.effective_database_url, pooled=True)
    app.extensions["aquastand_db"] = database
    app.extensions[CLOCK_EXTENSION] = clock or SystemClock()
    app.extensions[FISCAL_EXTENSION] = fiscal

    from cloud import routes

    routes.register(app, csrf, babel, _select_locale)

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    app.after_request(_security_headers)
    return app


# Inline style attributes are still used by a few pages (no script can be injected through
# them: every value is escaped); scripts come only from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(response: Response) -> Response:
    """On every answer: no framing, no sniffing, referrers only to this site; nothing but the
    static files is cached (pages show one-time secrets, e.g. tokens and enrolment codes, and
    personal data); the stands' directory windows say themselves how they may be cached
    (cloud/standsync/windows.py)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint not in {"static", "syncapi.directory_window_page"}:
        headers["Cache-Control"] = "no-store"
    return response
