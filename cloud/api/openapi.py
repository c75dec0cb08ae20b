"""The OpenAPI 3.1 document, built from the registered routes and their ``api_doc``."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from pydantic import BaseModel

from cloud.api import MAX_LIMIT, MAX_OFFSET, bp
from cloud.db import MAX_ROW_ID

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")

# A row id, or empty for none (the code reads an empty parameter as an absent one).
_ROW_ID = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
        {"type": "string", "maxLength": 0},
    ]
}
# A day, or empty for the default (the code reads an empty parameter as an absent one).
_DAY = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}
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
    "month": {"type": "string", "pattern": "^$|^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"},
    "phone": {"type": "string", "pattern": "^(\\+7|8)[0-9]{10}$"},
    "blocked": {"type": "string", "enum": ["true", "false", "1", "0"]},
    "active": {"type": "string", "enum": ["true", "false", "all", "1", "0", "yes", "no"]},
    "kind": {"type": "string", "enum": ["member", "guest"]},
    "status": {"type": "string", "enum": ["open", "ended"]},
}


def _query_parameter(name: str, spec: str | tuple[str, dict[str, Any]]) -> dict[str, Any]:
    text, schema = spec if isinstance(spec, tuple) else (spec, QUERY_SCHEMAS.get(name))
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
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": f"{rule.endpoint.split('.')[-1]}_{method.lower()}",
        "parameters": params,
        "responses": {
            str(doc.status): success,
            "400": error,
            "401": error,
            "403": error,
            "404": error,
            **({} if method == "GET" else {"409": error}),
        },
        "security": [{"bearer": []}],
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.route("/openapi.json")
def openapi_document() -> Any:
    return jsonify(build_document())
