"""The OpenAPI 3.1 document, built from the registered routes and their ``api_doc``."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from pydantic import BaseModel

from cloud.api import MAX_LIMIT, MAX_OFFSET, bp
from cloud.db import MAX_ROW_ID
from cloud.fields import DAY_PATTERN, MONTH_PATTERN, PHONE_PATTERN

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                # phone_taken: the other client with the phone (null: not the caller's to see)
                "client_id": {"type": ["integer", "null"]},
                "phone": {"type": "string"},
            },
        }
    },
}

STAFF_SCHEME = "a staff member's API token (aqs_…), issued in the central app"
CLIENT_SCHEME = (
    "a client's cabinet token (aqc_…) from POST /api/client/v1/login (phone and SMS code); "
    "it reaches only /api/client/v1/ routes, and a staff token never reaches them"
)

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

# A row id, or empty for none (the code reads an empty parameter as an absent one).
_ROW_ID = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
        {"type": "string", "maxLength": 0},
    ]
}
# A day, or empty for the default (the code reads an empty parameter as an absent one).
_DAY = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": DAY_PATTERN},
        {"type": "string", "maxLength": 0},
    ]
}
# What a query parameter of a given name accepts, wherever it appears (an endpoint may give its
# own schema instead, as ``(description, schema)``); a name not here is free text.
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    "site_id": _ROW_ID,
    "stand_id": _ROW_ID,
    "client_id": _ROW_ID,
    "staff_id": _ROW_ID,
    "from": _DAY,
    "to": _DAY,
    "month": {"type": "string", "pattern": f"^$|{MONTH_PATTERN}"},
    "phone": {"type": "string", "pattern": f"^$|{PHONE_PATTERN}"},
    "blocked": {"type": "string", "enum": ["true", "false", "1", "0"]},
    "active": {"type": "string", "enum": ["true", "false", "all", "1", "0", "yes", "no"]},
    "kind": {"type": "string", "enum": ["member", "guest"]},
    "status": {"type": "string", "enum": ["open", "ended"]},
}


def _query_parameter(name: str, spec: str | tuple[str, dict[str, Any]]) -> dict[str, Any]:
    text, schema = spec if isinstance(spec, tuple) else (spec, QUERY_SCHEMAS.get(name))
    if schema is not None and "enum" in schema and "" not in schema["enum"]:
        schema = {**schema, "enum": ["", *schema["enum"]]}  # empty reads as absent
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text,
        "schema": schema or {"type": "string"},
    }


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _error(description: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {"description": description, "content": content}


def _errors(method: str, doc: Any) -> dict[int, str]:
    """The error statuses an operation can answer, with what each means there."""
    if doc.errors is not None:
        return dict(doc.errors)
    errors = {
        400: "malformed: a value the schema refuses, or a body that is not the JSON object asked",
        401: "no valid bearer token",
        403: "the caller's role may not do this",
        404: "no such row (of the right kind) for an id in the path or the body",
    }
    if method != "GET":
        errors[409] = "the data's state forbids it (taken, in use, already done, not set up)"
    if doc.body is not None:
        errors[413] = "body too large"
    if doc.body is not None or {"from", "to"} & set(doc.query):
        errors[422] = (
            "well-formed, but breaks a rule between values (a period ending before it starts)"
        )
    return errors


def _operation(rule: Any, method: str, doc: Any, components: dict[str, Any]) -> dict[str, Any]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if converter == "int" else "string"},
        }
        for converter, name in _PARAM.findall(rule.rule)
    ]
    params += [_query_parameter(name, spec) for name, spec in doc.query.items()]
    success: dict[str, Any] = {"description": "OK"}
    if doc.response is not None:
        success["content"] = {"application/json": {"schema": _schema_ref(doc.response, components)}}
    errors = {str(status): _error(text) for status, text in _errors(method, doc).items()}
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": f"{rule.endpoint.split('.')[-1]}_{method.lower()}",
        "parameters": params,
        "responses": {
            str(doc.status): success,
            **errors,
        },
        "tags": [doc.tag],
        "security": [{doc.security: []}] if doc.security else [],
    }
    if doc.capability is not None:
        operation["x-capability"] = str(doc.capability)
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(doc.body, components)}},
        }
    return operation


def build_document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions[rule.endpoint]
        doc = getattr(view, "api_doc", None)
        if doc is None:
            continue
        path = _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, method, doc, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Aquastand central API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": STAFF_SCHEME},
                "clientBearer": {"type": "http", "scheme": "bearer", "description": CLIENT_SCHEME},
            },
        },
        "tags": [
            {"name": "staff", "description": "integrations, with a staff member's API token"},
            {"name": "client", "description": CLIENT_SCHEME},
        ],
    }


@bp.route("/openapi.json")
def openapi_document() -> Any:
    return jsonify(build_document())
