"""The stands' API document (``/sync/v1/openapi.json``) and what Schemathesis made the API do:
the document is served without a token and names every operation with the stand's security;
a refused envelope is refused like any bad event (422, the events before it applied); bad
headers and query values are 400s, never 500s; 405 says what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cloud.clock import app_now
from cloud.models import StandEvent
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream
from tests.cloud.test_directory_feed import SYNC, enrolled, headers


def test_the_document_is_served_without_a_token_and_covers_every_operation(
    client: FlaskClient,
) -> None:
    response = client.get(f"{SYNC}/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == {
        ("/enrol", "post"),
        ("/status", "get"),
        ("/directory", "get"),
        ("/directory/window/{start}", "get"),
        ("/directory/head", "get"),
        ("/events", "post"),
        ("/heartbeat", "post"),
    }
    assert operations[("/enrol", "post")]["security"] == []
    stand = [{"standToken": [], "standClock": []}]
    assert all(op["security"] == stand for key, op in operations.items() if key[0] != "/enrol")
    assert {"200", "400", "401", "409", "413", "422"} <= set(
        operations[("/events", "post")]["responses"]
    )
    batch = document["components"]["schemas"]["EventBatch"]["properties"]["events"]
    assert batch["maxItems"] == 500


def test_an_envelope_the_model_refuses_is_refused_after_the_events_before_it(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stand_id = client.get(f"{SYNC}/status", headers=headers(token)).get_json()["stand_id"]
    stream = Stream(stand_id, app_now())
    attendant = str(world.users["attendant"].id)
    good = stream.topup(world.member.id, 10_000, attendant)
    bad = stream.topup(world.member.id, 10_000, attendant)
    bad["mono_ms"] = -1

    response = client.post(f"{SYNC}/events", json={"events": [good, bad]}, headers=headers(token))

    assert response.status_code == 422
    answer = response.get_json()
    assert answer["acked_seq"] == good["seq"]
    assert answer["refused"]["seq"] == bad["seq"]
    assert answer["refused"]["code"] == "bad_event"
    assert "mono_ms" in answer["refused"]["message"]
    assert StandEvent.select().count() == 1


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ("cursor=²", {}),
        ("limit=١٠", {}),
        ("cursor=0&since=5", {}),
        ("", {"X-Stand-Mono-Ms": "²"}),
        ("", {"X-Stand-Boot": "not-a-uuid"}),
    ],
)
def test_bad_query_values_and_headers_are_400s(
    client: FlaskClient, world: World, query: str, extra: dict[str, Any]
) -> None:
    token = enrolled(client, world)

    response = client.get(f"{SYNC}/directory?{query}", headers={**headers(token), **extra})

    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


def test_a_wrong_method_is_405_with_allow(client: FlaskClient, world: World) -> None:
    response = client.get(f"{SYNC}/events", headers=headers(enrolled(client, world)))

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
