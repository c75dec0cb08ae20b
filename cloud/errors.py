"""Domain errors: each carries a user-facing message (Russian) and a machine code; the web
pages show the message, the API answers ``{"error": {"code", "message"}}`` with ``status``."""

from __future__ import annotations

from flask_babel import gettext as _


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        # More for a program than the message says (the API adds it to its error object).
        self.details: dict[str, object] = {}
        if code:
            self.code = code
        if status:
            self.status = status


class NotFound(DomainError):
    status = 404
    code = "not_found"

    def __init__(self, message: str | None = None, code: str | None = None):
        super().__init__(message or _("Не найдено"), code)


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"

    def __init__(self, message: str | None = None, code: str | None = None):
        super().__init__(message or _("Недостаточно прав"), code)


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"


class Unprocessable(ValidationFailed):
    """A well-formed request whose values each fit the API's schema but break a rule between
    them, or with the clock (a period that ends before it starts, a member without a name):
    422, so a client can tell it from a malformed request (400)."""

    status = 422
    code = "unprocessable"
