"""Stands' heartbeats: ``POST /sync/v1/heartbeat`` with the stand's token stores the latest
state of the stand, and a history row at most once a minute."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.models import Stand, StandHeartbeat, StandHeartbeatLog
from cloud.standsync.heartbeat import parse_heartbeat, record_heartbeat
from sync.document import format_utc
from tests.cloud.conftest import World
from tests.cloud.test_syncapi import enrolled, headers

URL = "/sync/v1/heartbeat"


def beat(**changes: Any) -> dict[str, Any]:
    body = {
        "version": "0.4.0",
        "uptime_s": 3600,
        "outbox": 3,
        "oldest_unacked_at": format_utc(utcnow() - timedelta(seconds=40)),
        "cursor": 1234,
        "last_sync_at": format_utc(utcnow() - timedelta(seconds=2)),
        "reader": {"device": "usb", "state": "ok", "last_error": "", "reconnects": 0},
        "camera": {"source": "picamera2", "state": "failed", "last_error": "нет кадров"},
    }
    body.update(changes)
    return body


def test_a_heartbeat_is_stored_as_the_stands_latest_state(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    body = beat(future_field={"anything": 1})

    response = client.post(URL, headers=headers(token), json=body)

    assert response.status_code == 200
    assert set(response.get_json()) == {"server_time"}
    latest = StandHeartbeat.get(StandHeartbeat.stand == world.stand_a.id)
    assert (latest.version, latest.uptime_s, latest.outbox, latest.cursor) == (
        "0.4.0",
        3600,
        3,
        1234,
    )
    assert format_utc(latest.oldest_unacked_at) == body["oldest_unacked_at"]
    assert json.loads(latest.camera) == body["camera"]
    assert Stand.get_by_id(world.stand_a.id).clock_skew_ms is not None


def test_the_next_heartbeat_replaces_the_latest_and_history_keeps_one_a_minute(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    for outbox in (5, 4, 0):
        response = client.post(URL, headers=headers(token), json=beat(outbox=outbox))
        assert response.status_code == 200

    assert [row.outbox for row in StandHeartbeat.select()] == [0]
    assert [row.outbox for row in StandHeartbeatLog.select()] == [5]

    stand = Stand.get_by_id(world.stand_a.id)
    record_heartbeat(stand, parse_heartbeat(beat(outbox=7)), utcnow() + timedelta(seconds=61))
    log = StandHeartbeatLog.select().order_by(StandHeartbeatLog.received_at)
    assert [(row.outbox, row.camera_state) for row in log] == [(5, "failed"), (7, "failed")]


@pytest.mark.parametrize(
    "body",
    [
        beat(outbox="3"),
        beat(outbox=-1),
        beat(outbox=True),
        beat(uptime_s=1.5),
        beat(version=None),
        beat(version="v" * 51),
        beat(oldest_unacked_at="вчера"),
        beat(oldest_unacked_at="2026-03-02T09:00:00"),  # no time zone
        beat(reader="ok"),
        {key: value for key, value in beat().items() if key != "cursor"},
        [beat()],
    ],
)
def test_a_bad_heartbeat_is_refused_and_nothing_stored(
    client: FlaskClient, world: World, body: Any
) -> None:
    token = enrolled(client, world)

    response = client.post(URL, headers=headers(token), json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["message"]
    assert StandHeartbeat.select().count() == 0
    assert StandHeartbeatLog.select().count() == 0


def test_a_heartbeat_without_the_stands_token_is_refused(client: FlaskClient, world: World) -> None:
    enrolled(client, world)
    no_token = client.post(URL, headers={"X-Stand-Clock": format_utc(utcnow())}, json=beat())
    staff_token = client.post(
        URL, headers=headers(world.bearer("owner")["Authorization"].split()[1]), json=beat()
    )

    assert no_token.status_code == 401
    assert staff_token.status_code == 401
    assert StandHeartbeat.select().count() == 0


def test_device_reports_keep_plain_values_only(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    reader = {"state": "ok", "nested": {"a": 1}, "list": [1], "last_error": "x" * 1000}

    client.post(URL, headers=headers(token), json=beat(reader=reader))

    stored = json.loads(StandHeartbeat.get().reader)
    assert stored == {"state": "ok", "last_error": "x" * 200}
