"""The OpenAPI document is generated from the code and kept true: every API route is in it,
and what the endpoints answer fits the schemas it gives."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from tests.cloud.conftest import World


def _document(client: Any) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_every_api_route_is_documented(app: Flask, client: Any) -> None:
    document = _document(client)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    expected = set()
    for rule in app.url_map.iter_rules():
        documented_prefix = rule.rule.startswith(("/api/v1/", "/api/client/v1/"))
        if not documented_prefix or rule.endpoint == "api.openapi_document":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        expected |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert expected - documented == set()
    assert documented - expected == set()


def test_document_declares_bearer_security_and_json_errors(client: Any) -> None:
    document = _document(client)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operation = document["paths"]["/api/v1/clients"]["post"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert operation["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert operation["x-capability"] == "serve_clients"


def _success_validator(
    document: dict[str, Any], path: str, method: str
) -> Draft202012Validator | None:
    responses = document["paths"][path][method]["responses"]
    status = next(code for code in responses if code.startswith("2"))
    content = responses[status].get("content")
    if not content:
        return None
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    return Draft202012Validator(schema)


@pytest.mark.parametrize("role", ["owner"])
def test_get_answers_fit_their_documented_schemas(
    app: Flask, client: Any, world: World, role: str
) -> None:
    document = _document(client)
    values = {
        "client_id": world.member.id,
        "tariff_id": world.tariff.id,
        "site_id": world.site_a.id,
        "stand_id": world.stand_a.id,
        "user_id": world.users["attendant"].id,
    }
    checked = 0
    for path, operations in document["paths"].items():
        if "get" not in operations or path.endswith("openapi.json"):
            continue
        if operations["get"]["tags"] == ["client"]:  # tests/cloud/test_cabinet_api.py
            continue
        names = re.findall(r"{(\w+)}", path)
        if any(name not in values for name in names):
            continue
        url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
        response = client.get(url, headers=world.bearer(role))
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
        validator = _success_validator(document, path, "get")
        assert validator is not None, f"{path} documents no response schema"
        errors = [error.message for error in validator.iter_errors(response.get_json())]
        assert errors == [], (url, errors[:3])
        checked += 1
    assert checked >= 10


def test_error_answers_fit_the_error_schema(client: Any, world: World) -> None:
    document = _document(client)
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Error", "components": document["components"]}
    )
    for response in (
        client.get("/api/v1/clients"),
        client.get("/api/v1/clients", headers={"Authorization": "Bearer nope"}),
        client.get("/api/v1/clients/999999", headers=world.bearer("owner")),
        client.post("/api/v1/clients", json={"kind": "alien"}, headers=world.bearer("owner")),
        client.post("/api/v1/tariffs", json={}, headers=world.bearer("operator")),
    ):
        assert 400 <= response.status_code < 500
        assert list(validator.iter_errors(response.get_json())) == []
