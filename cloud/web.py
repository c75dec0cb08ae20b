"""What every page shares: template helpers (money, local time, capabilities), error pages,
and the acting staff member."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from cloud.errors import DomainError
from cloud.models import User
from cloud.permissions import Capability, role_can
from sync.errors import RuleError
from sync.lengths import MAX_COMMENT, MAX_NAME
from sync.money import format_kopecks


def acting_user() -> User:
    """The staff member behind this request: the API token's user or the logged-in user."""
    if "api_user" in g:
        return g.api_user
    return current_user.row


def local_time(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """``value`` in the service's time zone; one at the edge of the calendar (a stand's clock
    once stored 9999-12-31 UTC, beyond which local time does not exist) is shown in UTC."""
    if value is None:
        return "—"
    try:
        return value.astimezone(ZoneInfo(current_app.config["AQ"].timezone)).strftime(fmt)
    except OverflowError:
        return value.strftime(fmt) + " UTC"


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _can(capability: str) -> bool:
    return current_user.is_authenticated and role_can(current_user.role, Capability(capability))


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_kopecks
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.globals["can"] = _can
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["max_name"] = MAX_NAME  # form limits of the shared rules
    app.jinja_env.globals["max_comment"] = MAX_COMMENT

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        if _is_api():
            body = {**getattr(error, "details", {}), "code": error.code, "message": error.message}
            return jsonify(error=body), error.status
        return render_template(
            "error.html", status=error.status, message=error.message
        ), error.status

    @app.errorhandler(RuleError)
    def _rule_error(error: RuleError) -> Any:
        return _domain_error(DomainError(error.message, error.code))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        status = error.code or 500
        messages = {
            400: _("Некорректный запрос"),
            401: _("Требуется вход"),
            403: _("Недостаточно прав"),
            404: _("Не найдено"),
            405: _("Метод не поддерживается"),
            413: _("Слишком большой запрос"),
        }
        message = messages.get(status, error.description or error.name)
        if isinstance(error, CSRFError):
            message = _("Форма устарела или открыта не отсюда: обновите страницу и повторите")
        # What the exception says besides its body (a 405's Allow: the methods there are).
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if _is_api():
            code = (error.name or "error").lower().replace(" ", "_")
            return jsonify(error={"code": code, "message": message}), status, headers
        return render_template("error.html", status=status, message=message), status, headers
