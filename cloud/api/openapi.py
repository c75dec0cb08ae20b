"""The OpenAPI 3.1 document, built from the registered routes and their ``api_doc``."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from pydantic import BaseModel

from cloud.api import bp

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
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in doc.query.items()
    ]
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
