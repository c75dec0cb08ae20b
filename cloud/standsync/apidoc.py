"""The OpenAPI 3.1 document of the stands' API, served at ``/sync/v1/openapi.json``: generated
from the models the API checks its requests with (cloud/standsync/wire.py, the heartbeat's in
cloud/standsync/heartbeat.py) and the bounds its code reads (cursor, limit, batch size), with
every status each operation answers. tests/cloud/test_sync_schemathesis.py holds the API to it.

A stand authenticates with two headers, stated as two security schemes required together: its
token (``Authorization: Bearer``) and its clock (``X-Stand-Clock``, RFC 3339 with an offset, so
the service measures the skew). ``X-Stand-Boot`` and ``X-Stand-Mono-Ms`` are optional
parameters."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import BaseModel

from cloud.api.openapi import ERROR_SCHEMA
from cloud.standsync.api import MONO_MS_PATTERN, bp
from cloud.standsync.feed import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT
from cloud.standsync.heartbeat import HeartbeatBody
from cloud.standsync.wire import (
    DirectoryHeadAnswer,
    DirectoryPageAnswer,
    EnrolAnswer,
    EnrolBody,
    EventBatch,
    EventsAnswer,
    ServerTime,
    StatusAnswer,
    WindowPageAnswer,
)
from sync.directorywindow import PROTOCOLS, WINDOW
from sync.events import UUID

PREFIX = "/sync/v1"
STAND = [{"standToken": [], "standClock": []}]
_HEADERS = [
    {
        "name": "X-Stand-Boot",
        "in": "header",
        "required": False,
        "description": "the stand's boot id: with X-Stand-Mono-Ms, corrects times stamped "
        "before its clock was set (empty: none)",
        "schema": {"type": "string", "pattern": f"^(?:{UUID.pattern})?$"},
    },
    {
        "name": "X-Stand-Mono-Ms",
        "in": "header",
        "required": False,
        "description": "the stand's monotonic clock in this boot, milliseconds",
        "schema": {"type": "string", "pattern": f"^{MONO_MS_PATTERN}$"},
    },
]
_QUERY = [
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "the cursor of the last page applied; 0 (or none): a full walk",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR, "default": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "changes per page at most",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
]
ERRORS = {
    400: "malformed: a value the schema refuses, a missing or bad X-Stand-Clock",
    401: "no valid stand token (enrolment: an unknown code)",
    409: "enrolment: the code was used already",
    413: "body too large",
}


def _ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    components: dict[str, Any],
    answer: type[BaseModel],
    errors: tuple[int, ...],
    body: type[BaseModel] | None = None,
    stand: bool = True,
) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": list(_HEADERS) if stand else [],
        "responses": {
            "200": _json("OK", _ref(answer, components)),
            **{str(status): _json(ERRORS[status], error) for status in errors},
        },
        "security": STAND if stand else [],
    }
    if body is not None:
        schema = _ref(body, components)
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


PROTOCOL_PARAMETER = {
    "name": "protocol",
    "in": "query",
    "required": False,
    "description": "3: balance-only changes compact (``balances``) and, in the head, the details "
    "of the clients whose details changed; 2 (the default): whole client entries",
    "schema": {"type": "integer", "enum": list(PROTOCOLS)},
}


def _window(components: dict[str, Any]) -> dict[str, Any]:
    operation = _operation(
        "A window of the directory, shared by every stand (protocol 2, or 3 when asked)",
        components,
        WindowPageAnswer,
        (400, 401),
    )
    operation["parameters"] += [
        PROTOCOL_PARAMETER,
        {
            "name": "start",
            "in": "path",
            "required": True,
            "description": f"the window's start: a multiple of {WINDOW}",
            "schema": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_CURSOR - MAX_CURSOR % WINDOW,
                "multipleOf": WINDOW,
            },
        },
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "the ETag of the window held: unchanged, the answer is 304",
            "schema": {"type": "string"},
        },
        {
            "name": "X-Directory-Cursor",
            "in": "header",
            "required": False,
            "description": "the directory cursor the stand holds: the open window may then be "
            "answered with the one built moments ago if it reaches that far",
            "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        },
    ]
    operation["responses"]["304"] = {"description": "unchanged since the ETag given"}
    return operation


def _head(components: dict[str, Any]) -> dict[str, Any]:
    operation = _operation(
        "The stand's own part of a poll: commands, staff, its clients' details (protocol 2 or 3)",
        components,
        DirectoryHeadAnswer,
        (400, 401),
    )
    operation["parameters"] += [
        _QUERY[0],
        PROTOCOL_PARAMETER,
        {
            "name": "since",
            "in": "query",
            "required": False,
            "description": "details of the site's clients changed after this position "
            "(default: the start of the cursor's window)",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR},
        },
    ]
    return operation


def build_document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    events = _operation(
        "Send a batch of events (applied in seq order, at least once, exactly once in effect)",
        components,
        EventsAnswer,
        (400, 401, 413),
        EventBatch,
    )
    refused = _ref(EventsAnswer, components)
    events["responses"]["409"] = _json(
        "the sequence is refused (gap, seq_conflict, event_id_conflict): the events before it "
        "are acknowledged",
        refused,
    )
    events["responses"]["422"] = _json(
        "an event is refused (its envelope or payload, another stand's, an unknown client or "
        "tariff): the events before it are acknowledged",
        refused,
    )
    directory = _operation(
        "What changed since the cursor", components, DirectoryPageAnswer, (400, 401)
    )
    directory["parameters"] += _QUERY
    paths = {
        "/enrol": {
            "post": _operation(
                "Exchange a one-time enrolment code for the stand's token",
                components,
                EnrolAnswer,
                (400, 401, 409, 413),
                EnrolBody,
                stand=False,
            )
        },
        "/status": {
            "get": _operation(
                "The stand as this service knows it", components, StatusAnswer, (400, 401)
            )
        },
        "/directory": {"get": directory},
        "/directory/window/{start}": {"get": _window(components)},
        "/directory/head": {"get": _head(components)},
        "/events": {"post": events},
        "/heartbeat": {
            "post": _operation(
                "The stand's health", components, ServerTime, (400, 401, 413), HeartbeatBody
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Aquastand stands' sync API", "version": "1"},
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "standToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the stand's token, from enrolment",
                },
                "standClock": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Stand-Clock",
                    "description": "the stand's clock: RFC 3339 with an offset "
                    "(2024-03-01T10:00:00Z); missing or bad: 400",
                },
            },
        },
    }


@bp.route("/openapi.json")
def openapi_document() -> Any:
    return jsonify(build_document())
