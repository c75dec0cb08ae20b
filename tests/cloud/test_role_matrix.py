"""Every route × every role (and anonymous) against the permission matrix of DESIGN.md.

The routes are read from the app itself, so a new route without a stated capability fails here
by itself, and so does a route that lets in a role the matrix does not."""

from __future__ import annotations

import re
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from cloud import create_app
from cloud.models import (
    ClientDriver,
    Credential,
    LedgerEntry,
    Mailing,
    OnlinePayment,
    Receipt,
    Segment,
    Session,
    StandCommand,
)
from cloud.permissions import ALL_ROLES, role_can
from cloud.staff.service import create_staff
from tests.cloud.conftest import PASSWORD, World, csrf_token
from tests.cloud.heldrows import add_held_topup

PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "auth.logout",
    "auth.set_language",
    "api.openapi_document",
    # A signed per-client token is the key (tests/cloud/test_unsubscribe.py).
    "unsubscribe.page",
    # Stands' API: authenticated by stand tokens, not staff roles (tests/cloud/test_syncapi.py
    # checks that each of these answers 401 without a stand token).
    "syncapi.enrol_stand",
    "syncapi.status",
    "syncapi.events",
    "syncapi.heartbeat",
    "syncapi.directory",
    "syncapi.directory_window_page",
    "syncapi.directory_head_page",
    # The payment provider's notifications: no log-in, the body is verified by asking the
    # provider (tests/cloud/test_online_payments.py).
    "payments_webhook.yookassa_notify",
    # The client cabinet's log-in and PWA files (tests/cloud/test_cabinet_login.py).
    "cabinet.login",
    "cabinet.login_code",
    "cabinet.join",
    "cabinet.manifest",
    "cabinet.service_worker",
    "clientapi.login_code",
    "clientapi.login",
    "syncapi.openapi_document",  # the stands' API document, public like the staff API's
}

# Rules past the matrix, for the walk's target (another staff member): an administrator has
# manage_staff but issues API tokens only for themselves (cloud/staff/service.py).
REFUSED_BEYOND_THE_MATRIX = {("staff.create_token", "administrator")}


def _routes() -> list[tuple[str, str, str]]:
    app = create_app(data_dir=tempfile.mkdtemp(prefix="aq-routes-"), secret_key="routes")
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, rule.endpoint, method))
    return sorted(found)


ROUTES = _routes()


def test_every_route_states_a_capability() -> None:
    app = create_app(data_dir=tempfile.mkdtemp(prefix="aq-routes-"), secret_key="routes")
    missing = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in PUBLIC_ENDPOINTS
        and not hasattr(app.view_functions[rule.endpoint], "required_capability")
        and not _is_client_route(app, rule.endpoint)
    ]
    assert missing == []


def _is_client_route(app: Flask, endpoint: str) -> bool:
    """A route of the client cabinet (``client_required``) or the client API: no staff role
    reaches it; tests/cloud/test_cabinet_walk.py walks them with two clients."""
    return getattr(app.view_functions[endpoint], "client_route", False)


def _fill(rule: str, world: World, extra: dict[str, int]) -> str:
    values = {
        "client_id": world.member.id,
        "tariff_id": world.tariff.id,
        "version_id": world.tariff_version.id,
        "site_id": world.site_a.id,
        "stand_id": world.stand_a.id,
        **extra,
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(2)
        assert name in values, f"the role-matrix test has no value for <{name}> in {rule}"
        return str(values[name])

    return re.sub(r"<(?:(\w+):)?(\w+)>", substitute, rule)


def _objects(world: World) -> dict[str, int]:
    """Objects in the attendant's own site for the routes that name them."""
    target = create_staff(
        name="Цель проверки",
        phone="+79000000099",
        role="attendant",
        password=PASSWORD,
        site_names=[world.site_a.name],
    )
    card = Credential.get((Credential.client == world.member) & (Credential.kind == "card"))
    session = Session.create(
        client=world.member,
        stand=world.stand_a,
        site=world.site_a,
        tariff_version=world.tariff_version,
        client_kind="member",
        started_at=datetime.now(UTC) - timedelta(minutes=5),
        start_method="card",
    )
    segment = Segment.create(name="Все клиенты")
    mailing = Mailing.create(
        segment=segment, segment_name=segment.name, subject="Тема", body="Текст"
    )
    driver = ClientDriver.create(client=world.member, name="Водитель проверки", card=card)
    held = add_held_topup(world, datetime.now(UTC), 10_000_000)
    now = datetime.now(UTC)
    payment = OnlinePayment.create(
        client=world.member,
        provider="yookassa",
        idempotence_key=str(uuid.uuid4()),
        amount_kopecks=10_000,
        created_at=now,
        updated_at=now,
    )
    start = StandCommand.create(
        stand=world.stand_a,
        type="start_session",
        client=world.member,
        session_uuid=str(uuid.uuid4()),
        created_at=now,
    )
    return {
        "command_id": start.id,
        "user_id": target.id,
        "credential_id": card.id,
        "session_id": session.id,
        "segment_id": segment.id,
        "mailing_id": mailing.id,
        "driver_id": driver.id,
        "held_id": held.id,
        "receipt_id": _receipt(world).id,
        "payment_id": payment.id,
    }


def _receipt(world: World) -> Receipt:
    """A fiscal receipt the register refused (cloud/fiscal/), to be sent again."""
    entry = LedgerEntry.create(
        client=world.member, kind="topup", amount_kopecks=1_000, method="cash"
    )
    return Receipt.create(
        entry=entry,
        client=world.member,
        kind="advance",
        amount_kopecks=1_000,
        payment_method="advance",
        external_id=f"aq-role-matrix-{entry.id}",
        status="failed",
    )


def _request(app: Flask, world: World, role: str | None, rule: str, method: str) -> Any:
    browser = app.test_client()
    path = _fill(rule, world, _objects(world))
    if path.startswith("/api/"):
        headers = world.bearer(role) if role else {}
        body = {} if method in {"POST", "PATCH", "PUT"} else None
        return browser.open(path, method=method, headers=headers, json=body)
    if role:
        user = world.users[role]
        with browser.session_transaction() as session:
            session["_user_id"] = f"{user.id}:{user.session_version}"
            session["login_at"] = session["seen_at"] = datetime.now(UTC).timestamp()
            session["_fresh"] = True
    data = {"csrf_token": csrf_token(browser)} if method != "GET" else None
    return browser.open(path, method=method, data=data)


def _refused_to_anonymous(response: Any, rule: str) -> bool:
    if rule.startswith("/api/"):
        return response.status_code == 401
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def _refused_to_client_route(response: Any, rule: str) -> bool:
    """A staff member (session or API token) or nobody at a client's route: the API's 401, or
    the cabinet's log-in page."""
    if rule.startswith("/api/"):
        return response.status_code == 401
    location = response.headers.get("Location", "")
    return response.status_code == 302 and location.startswith("/my/login")


@pytest.mark.parametrize(
    ("rule", "endpoint", "method"), ROUTES, ids=[f"{m} {r}" for r, _e, m in ROUTES]
)
@pytest.mark.parametrize("role", [None, *ALL_ROLES], ids=["anonymous", *ALL_ROLES])
def test_route_answers_role_as_the_matrix_says(
    app: Flask, world: World, role: str | None, rule: str, endpoint: str, method: str
) -> None:
    if _is_client_route(app, endpoint):
        response = _request(app, world, role, rule, method)
        assert _refused_to_client_route(response, rule), (response.status_code, response.headers)
        return
    capability = app.view_functions[endpoint].required_capability
    beyond = (endpoint, role) in REFUSED_BEYOND_THE_MATRIX
    response = _request(app, world, role, rule, method)
    assert response.status_code != 500, response.get_data(as_text=True)[:500]
    if role is None:
        assert _refused_to_anonymous(response, rule), (
            response.status_code,
            response.headers.get("Location"),
        )
    elif (capability is not None and not role_can(role, capability)) or beyond:
        assert response.status_code == 403, response.get_data(as_text=True)[:300]
    else:
        assert response.status_code not in (401, 403), response.get_data(as_text=True)[:300]
        assert not _refused_to_anonymous(response, rule)
