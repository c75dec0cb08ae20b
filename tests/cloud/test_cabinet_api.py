"""The client API (/api/client/v1/): log-in by phone and code for a token, the client's own
account, sessions, a lost card, a new QR code; answers fit the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Flask
from jsonschema import Draft202012Validator

from cloud.models import CabinetSession, Credential
from tests.cloud.cabinethelp import last_code
from tests.cloud.conftest import World

PHONE = "+79161234567"


def _token(app: Flask) -> str:
    browser = app.test_client()
    sent = browser.post("/api/client/v1/login/code", json={"phone": "8 916 123-45-67"})
    assert sent.status_code == 202
    answer = browser.post(
        "/api/client/v1/login", json={"phone": PHONE, "code": last_code(app, PHONE)}
    )
    assert answer.status_code == 200, answer.get_json()
    token: str = answer.get_json()["token"]
    assert token.startswith("aqc_") and len(token) >= 40
    return token


def _validator(app: Flask, path: str, method: str) -> Draft202012Validator:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = document["paths"][path][method]
    assert operation["tags"] == ["client"]
    responses = operation["responses"]
    status = next(code for code in responses if code.startswith("2"))
    schema = responses[status]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


def _get(app: Flask, token: str, path: str) -> Any:
    return app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_member_logs_in_and_reads_their_account(app: Flask, world: World) -> None:
    token = _token(app)
    me = _get(app, token, "/api/client/v1/me")
    assert me.status_code == 200
    body = me.get_json()
    assert body["id"] == world.member.id and body["name"] == "Иван Петров"
    assert body["qr"]["payload"].startswith("AQ2:")  # the compact form (issue 18)
    assert [card["uid"] for card in body["cards"]] == ["04A1B2C3D4E5F6"]
    assert [plate["plate"] for plate in body["plates"]] == ["А123ВС77"]
    assert list(_validator(app, "/api/client/v1/me", "get").iter_errors(body)) == []
    sessions = _get(app, token, "/api/client/v1/sessions").get_json()
    assert sessions["total"] == 1 and sessions["items"][0]["current"] is True
    assert list(_validator(app, "/api/client/v1/sessions", "get").iter_errors(sessions)) == []


def test_document_puts_the_client_api_under_its_own_tag_and_scheme(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "clientBearer" in document["components"]["securitySchemes"]
    me = document["paths"]["/api/client/v1/me"]["get"]
    assert me["security"] == [{"clientBearer": []}]
    assert document["paths"]["/api/client/v1/login"]["post"]["security"] == []
    assert document["paths"]["/api/v1/clients"]["get"]["security"] == [{"bearer": []}]


def test_wrong_code_is_401_and_bad_body_400(app: Flask, world: World) -> None:
    browser = app.test_client()
    browser.post("/api/client/v1/login/code", json={"phone": PHONE})
    code = last_code(app, PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answer = browser.post("/api/client/v1/login", json={"phone": PHONE, "code": wrong})
    assert answer.status_code == 401
    assert browser.post("/api/client/v1/login", json={"phone": PHONE}).status_code == 400
    assert CabinetSession.select().count() == 0


def test_a_phone_of_no_member_gets_no_token(app: Flask, world: World) -> None:
    browser = app.test_client()
    phone = "+79035550000"
    browser.post("/api/client/v1/login/code", json={"phone": phone})
    answer = browser.post(
        "/api/client/v1/login", json={"phone": phone, "code": last_code(app, phone)}
    )
    assert answer.status_code == 404
    assert CabinetSession.select().count() == 0


def test_lost_card_and_new_qr(app: Flask, world: World) -> None:
    token = _token(app)
    headers = {"Authorization": f"Bearer {token}"}
    card = Credential.get((Credential.client == world.member) & (Credential.kind == "card"))
    lost = app.test_client().post(f"/api/client/v1/cards/{card.id}/lost", headers=headers)
    assert lost.status_code == 200 and lost.get_json()["lost"] is True
    assert Credential.get_by_id(card.id).lost
    first = _get(app, token, "/api/client/v1/me").get_json()["qr"]
    second = app.test_client().post("/api/client/v1/qr", headers=headers).get_json()
    assert second["token_id"] != first["token_id"]
    old = Credential.get((Credential.kind == "qr") & (Credential.value == first["token_id"]))
    assert old.unlinked_at is not None


def test_points_expiring_and_the_send_limit(app: Flask, world: World) -> None:
    from cloud.ledger.service import post_entry

    post_entry(world.member, "bonus_accrual", 0, amount_points=40)
    post_entry(world.member, "bonus_spend", 0, amount_points=-15)
    token = _token(app)  # the first of the phone's five codes this hour
    body = _get(app, token, "/api/client/v1/me").get_json()
    assert body["points"] == 25
    assert [item["points"] for item in body["points_expiring"]] == [25]
    browser = app.test_client()
    answers = [
        browser.post("/api/client/v1/login/code", json={"phone": PHONE}).status_code
        for _ in range(5)
    ]
    assert answers == [202, 202, 202, 202, 429]
