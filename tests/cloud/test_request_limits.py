"""Request bodies have a size limit, and the client's address comes from the socket unless a
trusted proxy count is configured (DESIGN.md, Security)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from cloud.models import Client, LoginThrottle
from tests.cloud.conftest import World, login


def test_an_oversized_api_body_is_refused_with_413_and_stores_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    before = Client.select().count()
    limit = app.config["AQ"].max_request_bytes
    body = '{"kind": "member", "name": "' + "я" * limit + '"}'
    response = client.post(
        "/api/v1/clients",
        data=body,
        content_type="application/json",
        headers=world.bearer("owner"),
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "Слишком большой запрос"
    assert Client.select().count() == before


def test_a_forged_forwarded_for_does_not_move_the_address_lock(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["AQ"].login_free_failures_per_address = 2
    for spoofed in ("10.0.0.1", "10.0.0.2"):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = spoofed
        login(client, world.phone("operator"), "wrong-password")
    keys = {row.key for row in LoginThrottle.select() if row.key.startswith("addr:")}
    assert keys == {"addr:127.0.0.1"}
    # The address is throttled although each attempt claimed another origin.
    assert login(client, world.phone("owner")).status_code == 429
