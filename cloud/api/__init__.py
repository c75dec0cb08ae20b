"""The JSON API under ``/api/v1/``: bearer-token authentication, one decorator per endpoint that
states its capability and its schemas, JSON errors, and the OpenAPI document built from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from cloud.clock import app_now
from cloud.errors import DomainError, Forbidden, ValidationFailed
from cloud.fields import query_row_id
from cloud.permissions import Capability, role_can
from cloud.staff.auth import user_for_api_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 500
MAX_OFFSET = 10**9  # far past any list; keeps the number inside a database's integer


@dataclass
class EndpointDoc:
    """What the OpenAPI document says of one endpoint; attached to its view as ``api_doc``."""

    capability: Capability | None
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # name -> description, or (description, JSON schema) where the name's usual one won't do
    query: dict[str, str | tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # The client API (cloud/cabinet/clientapi.py) documents itself under its own tag and
    # security scheme ("" for none: its log-in), with the error statuses it states.
    tag: str = "staff"
    security: str = "bearer"
    errors: dict[int, str] | None = None


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def _bearer_user() -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Нужен заголовок Authorization: Bearer <токен>"))
    user = user_for_api_token(token.strip(), app_now())
    if user is None:
        raise Unauthorized(_("Токен недействителен или отозван"))
    return user


def parse_body(model: type[BaseModel]) -> Any:
    """The request's JSON body validated by ``model`` as JSON (so strings are never taken for
    numbers or dates); a 400 when it does not fit, in the words of the rule that refused it
    (``cloud.fields.said_by``) or pydantic's own."""
    if not request.is_json:
        raise ValidationFailed(_("Тело запроса должно быть JSON-объектом"), "bad_json")
    try:
        return model.model_validate_json(request.get_data())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        context = first.get("ctx") or {}
        if context.get("refused"):
            raise ValidationFailed(context["message"], first["type"]) from None
        if first["type"] in ("json_invalid", "model_type") and not first["loc"]:
            raise ValidationFailed(
                _("Тело запроса должно быть JSON-объектом"), "bad_json"
            ) from None
        raise ValidationFailed(f"{where}: {first['msg']}", "invalid") from None


def api_endpoint(
    capability: Capability | None,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    query: dict[str, str | tuple[str, dict[str, Any]]] | None = None,
) -> Callable[[Any], Any]:
    """Authenticate by bearer token, check ``capability`` (None: any authenticated user), parse
    ``body`` into the view's ``body`` argument, and answer JSON with ``status``."""

    doc = EndpointDoc(capability, summary, body, response, status, query or {})

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = _bearer_user()
            if capability is not None and not role_can(user.role, capability):
                raise Forbidden()
            g.api_user = user
            if body is not None:
                kwargs["body"] = parse_body(body)
            result = view(*args, **kwargs)
            if result is None:
                return "", status
            return jsonify(result), status

        wrapped.api_doc = doc  # type: ignore[attr-defined]
        wrapped.required_capability = capability  # type: ignore[attr-defined]
        return wrapped

    return decorator


_WHOLE = re.compile(r"-?[0-9]{1,12}")


def page_args() -> tuple[int, int]:
    """``limit`` (1..500, default 50) and ``offset`` query parameters of a list endpoint."""
    limit, offset = request.args.get("limit", "50"), request.args.get("offset", "0")
    if not _WHOLE.fullmatch(limit) or not _WHOLE.fullmatch(offset):
        raise ValidationFailed(
            _("limit и offset должны быть целыми числами"), "bad_paging"
        ) from None
    if not 1 <= int(limit) <= MAX_LIMIT or not 0 <= int(offset) <= MAX_OFFSET:
        raise ValidationFailed(_("limit от 1 до 500, offset не меньше 0"), "bad_paging")
    return int(limit), int(offset)


def id_arg(name: str) -> int | None:
    """An optional row id in the query string (``site_id=3``); None when absent or empty."""
    return query_row_id(request.args.get(name), name)


__all__ = ["api_endpoint", "bp", "id_arg", "page_args", "parse_body"]
