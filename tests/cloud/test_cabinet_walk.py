"""A client sees only their own data: every cabinet page and client API route, read from the
app itself, is walked with client A's credentials and client B's ids (B's cabinet sessions,
cards, plates, QR token), like the staff role matrix. Each answers 404 (nothing of B's moves)
and a route without ids shows none of B's data; A's own ids work, so the walk is not empty.
A client token never reaches a staff route either."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.cabinet import auth
from cloud.clients.credentials import issue_qr
from cloud.models import CabinetSession, Client, ClientPhone, Credential, OnlinePayment
from tests.cloud.cabinethelp import cabinet_login, post
from tests.cloud.conftest import World

PUBLIC = {
    "cabinet.login",
    "cabinet.login_code",
    "cabinet.join",
    "cabinet.manifest",
    "cabinet.service_worker",
    "clientapi.login_code",
    "clientapi.login",
}
# Routes that start something from a form or body the walk does not fill (an online top-up):
# refused with a 4xx that shows none of B's data (the top-up off, or no amount).
REFUSED_EMPTY = {("/my/topup", "POST"), ("/api/client/v1/topups", "POST")}


def _client_routes() -> list[tuple[str, str, str]]:
    app = create_app(data_dir=tempfile.mkdtemp(prefix="aq-walk-"), secret_key="walk")
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in PUBLIC or not getattr(view, "client_route", False):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, rule.endpoint, method))
    return sorted(found)


CLIENT_ROUTES = _client_routes()
STAFF_API = [
    (rule, method)
    for rule, method in sorted(
        (r.rule, m)
        for r in create_app(data_dir=tempfile.mkdtemp(), secret_key="walk").url_map.iter_rules()
        if r.rule.startswith("/api/v1/") and r.endpoint != "api.openapi_document"
        for m in r.methods - {"HEAD", "OPTIONS"}
    )
]


@dataclass
class Pair:
    a_web: FlaskClient
    a_token: str
    b: Client
    b_ids: dict[str, list[int]]
    a_ids: dict[str, int]
    b_secrets: list[str]


@pytest.fixture
def pair(app: Flask, world: World) -> Pair:
    config = app.config["AQ"]
    b = Client.create(kind="member", name="Борис Чужой", email="boris@example.ru")
    ClientPhone.create(client=b, phone="+79265550011")
    b_card = Credential.create(client=b, kind="card", value="04BB00000000B0")
    b_plate = Credential.create(client=b, kind="plate", value="В555ВВ77")
    b_qr_token = issue_qr(None, b, config)
    b_qr = Credential.get((Credential.client == b) & (Credential.kind == "qr"))
    auth.open_session(b, "web")
    auth.open_session(b, "api")
    b_sessions = [row.id for row in CabinetSession.select().where(CabinetSession.client == b)]
    a_web = cabinet_login(app, "+79161234567")
    a_token = auth.open_session(world.member, "api")
    issue_qr(None, world.member, config)
    a_card = Credential.get((Credential.client == world.member) & (Credential.kind == "card"))
    a_session = CabinetSession.get(
        (CabinetSession.client == world.member) & (CabinetSession.kind == "web")
    )
    a_payment, b_payment = (_payment(client) for client in (world.member, b))
    return Pair(
        a_web=a_web,
        a_token=a_token,
        b=b,
        b_ids={
            "credential_id": [b_card.id, b_plate.id, b_qr.id],
            "session_id": b_sessions,
            "payment_id": [b_payment.id],
        },
        a_ids={"credential_id": a_card.id, "session_id": a_session.id, "payment_id": a_payment.id},
        b_secrets=[
            "Борис Чужой",
            "boris@example.ru",
            "04BB00000000B0",
            "В555ВВ77",
            b_qr.value,
            b_qr_token,
        ],
    )


def _payment(client: Client) -> OnlinePayment:
    now = datetime.now(UTC)
    return OnlinePayment.create(
        client=client,
        provider="yookassa",
        idempotence_key=f"walk-{client.id}",
        amount_kopecks=10_000,
        created_at=now,
        updated_at=now,
    )


def _params(rule: str) -> list[str]:
    return [match[1] for match in re.findall(r"<(?:(\w+):)?(\w+)>", rule)]


def _fill(rule: str, values: dict[str, int]) -> str:
    for name in _params(rule):
        assert name in values, f"the walk has no value for <{name}> in {rule}"
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule)


def _call(pair: Pair, path: str, method: str) -> Any:
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {pair.a_token}"}
        return pair.a_web.open(path, method=method, headers=headers)
    if method == "GET":
        return pair.a_web.get(path)
    return post(pair.a_web, path)


def _b_untouched(pair: Pair) -> None:
    live = CabinetSession.select().where(
        (CabinetSession.client == pair.b) & CabinetSession.ended_at.is_null()
    )
    assert live.count() == 2
    card = Credential.get(Credential.id == pair.b_ids["credential_id"][0])
    assert not card.lost
    qr = Credential.get(Credential.id == pair.b_ids["credential_id"][2])
    assert qr.unlinked_at is None


@pytest.mark.parametrize(
    ("rule", "endpoint", "method"), CLIENT_ROUTES, ids=[f"{m} {r}" for r, _e, m in CLIENT_ROUTES]
)
def test_client_a_reaches_nothing_of_client_b(
    pair: Pair, rule: str, endpoint: str, method: str
) -> None:
    names = _params(rule)
    if names:
        for index in range(max(len(pair.b_ids[name]) for name in names)):
            values = {name: pair.b_ids[name][index % len(pair.b_ids[name])] for name in names}
            response = _call(pair, _fill(rule, values), method)
            assert response.status_code == 404, (rule, values, response.status_code)
        _b_untouched(pair)
        own = _call(pair, _fill(rule, pair.a_ids), method)
        assert own.status_code in (200, 302), (rule, own.status_code)
        return
    response = _call(pair, rule, method)
    expected = (400, 404) if (rule, method) in REFUSED_EMPTY else (200, 302)
    assert response.status_code in expected, (rule, response.status_code)
    page = response.get_data(as_text=True)
    for secret in pair.b_secrets:
        assert secret not in page, (rule, secret)
    _b_untouched(pair)


@pytest.mark.parametrize(("rule", "method"), STAFF_API, ids=[f"{m} {r}" for r, m in STAFF_API])
def test_a_client_token_reaches_no_staff_route(
    app: Flask, world: World, rule: str, method: str
) -> None:
    token = auth.open_session(world.member, "api")
    path = re.sub(r"<(?:\w+:)?\w+>", "1", rule)
    response = app.test_client().open(
        path, method=method, headers={"Authorization": f"Bearer {token}"}, json={}
    )
    assert response.status_code == 401, (rule, response.status_code)


def test_a_staff_token_reaches_no_client_route(app: Flask, world: World) -> None:
    browser = app.test_client()
    for path in ("/api/client/v1/me", "/api/client/v1/sessions"):
        response = browser.get(path, headers=world.bearer("owner"))
        assert response.status_code == 401
