"""The stands' API under /sync/v1 over HTTP: enrolment, stand-token authentication with the
stand's clock on every request, and event batches answered with ``acked_seq``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.ledger.service import ledger_balance
from cloud.models import Client, LedgerEntry, Session, Stand, StandEvent
from cloud.standsync.standauth import CONTACT_REFRESH, issue_code, provision_stand, revoke
from sync.document import format_utc
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream

SYNC = "/sync/v1"


def enrolled(client: FlaskClient, world: World) -> str:
    code = provision_stand(world.site_a, world.stand_a.name, utcnow()).code
    response = client.post(f"{SYNC}/enrol", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["token"])


def headers(token: str, stand_time: datetime | None = None, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Stand-Clock": format_utc(stand_time or utcnow()),
        **extra,
    }


def test_enrolment_exchanges_the_code_for_the_stands_token(
    client: FlaskClient, world: World
) -> None:
    code = provision_stand(world.site_a, "Пост 1", utcnow()).code

    response = client.post(f"{SYNC}/enrol", json={"code": code})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["stand_id"], body["site_id"]) == (world.stand_a.id, world.site_a.id)
    status = client.get(f"{SYNC}/status", headers=headers(body["token"]))
    assert status.status_code == 200
    assert status.get_json()["stand_id"] == world.stand_a.id
    assert status.get_json()["acked_seq"] == 0


def test_a_used_code_is_refused_with_a_message(client: FlaskClient, world: World) -> None:
    code = provision_stand(world.site_a, "Пост 1", utcnow()).code
    first = client.post(f"{SYNC}/enrol", json={"code": code})

    second = client.post(f"{SYNC}/enrol", json={"code": code})

    assert second.status_code == 409
    assert second.get_json()["error"] == {
        "code": "code_used",
        "message": "Код подключения уже использован",
    }
    assert (
        client.get(f"{SYNC}/status", headers=headers(first.get_json()["token"])).status_code == 200
    )


def test_an_expired_code_is_refused(client: FlaskClient, world: World) -> None:
    code = issue_code(world.stand_a, now=utcnow() - timedelta(days=2)).code

    response = client.post(f"{SYNC}/enrol", json={"code": code})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "code_expired"
    assert Stand.get_by_id(world.stand_a.id).token_hash is None


@pytest.mark.parametrize("body", [None, [], {"code": 5}, {"code": "x" * 101}, {}])
def test_an_enrolment_without_a_code_is_refused_clearly(
    client: FlaskClient, world: World, body: Any
) -> None:
    response = client.post(f"{SYNC}/enrol", json=body)

    assert response.status_code in (400, 401)
    assert response.get_json()["error"]["message"]


def _stand_routes(app: Flask) -> list[tuple[str, str]]:
    return [
        (rule.rule.replace("<text>", "0"), method)  # a window's start
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("syncapi.")
        and rule.endpoint not in ("syncapi.enrol_stand", "syncapi.openapi_document")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def test_every_stand_route_answers_401_without_a_stand_token(
    app: Flask, client: FlaskClient, world: World
) -> None:
    routes = _stand_routes(app)
    assert {f"{SYNC}/status", f"{SYNC}/events", f"{SYNC}/heartbeat"} <= {
        rule for rule, _method in routes
    }
    staff_token = world.bearer("owner")["Authorization"].split()[1]
    for rule, method in routes:
        for auth in ({}, headers("1.not-the-token"), headers(staff_token)):
            response = client.open(rule, method=method, headers=auth, json={"events": []})
            assert response.status_code == 401, (rule, auth)
            assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_stands_token_is_refused_at_once(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    assert client.get(f"{SYNC}/status", headers=headers(token)).status_code == 200

    revoke(world.stand_a, utcnow())

    response = client.post(f"{SYNC}/events", headers=headers(token), json={"events": []})
    assert response.status_code == 401
    assert "отозван" in response.get_json()["error"]["message"]


def test_every_request_records_the_stands_clock_skew_and_last_contact(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    boot = "3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

    client.get(
        f"{SYNC}/status",
        headers=headers(token, utcnow() - timedelta(minutes=5), **{"X-Stand-Boot": boot}),
    )

    stand = Stand.get_by_id(world.stand_a.id)
    assert 300_000 <= stand.clock_skew_ms < 305_000
    assert utcnow() - stand.last_seen_at < timedelta(seconds=5)
    assert stand.boot_id == boot


def test_a_contact_is_written_again_only_when_it_says_something_new(
    client: FlaskClient, world: World
) -> None:
    """A poll right after a push (same boot, same skew) writes nothing; a clock that moved, a
    new boot, or a contact older than CONTACT_REFRESH is written."""
    token = enrolled(client, world)
    boot = "3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

    def contact(behind: timedelta, boot_id: str = boot) -> Stand:
        stand_clock = utcnow() - behind
        client.get(
            f"{SYNC}/status", headers=headers(token, stand_clock, **{"X-Stand-Boot": boot_id})
        )
        return Stand.get_by_id(world.stand_a.id)

    first = contact(timedelta(minutes=5))
    again = contact(timedelta(minutes=5))
    assert (again.last_seen_at, again.clock_skew_ms) == (first.last_seen_at, first.clock_skew_ms)

    moved = contact(timedelta(minutes=5, seconds=2))
    assert moved.last_seen_at > first.last_seen_at
    assert moved.clock_skew_ms >= first.clock_skew_ms + 1_500

    other_boot = "0c1d2e3f-1c2d-4e5f-8a9b-3f2b8a4e4a5b"
    rebooted = contact(timedelta(minutes=5, seconds=2), other_boot)
    assert rebooted.boot_id == other_boot and rebooted.last_seen_at > moved.last_seen_at

    Stand.update(last_seen_at=utcnow() - CONTACT_REFRESH).where(
        Stand.id == world.stand_a.id
    ).execute()
    refreshed = contact(timedelta(minutes=5, seconds=2), other_boot)
    assert utcnow() - refreshed.last_seen_at < timedelta(seconds=2)


@pytest.mark.parametrize(
    "extra",
    [
        {"X-Stand-Clock": ""},
        {"X-Stand-Clock": "2026-03-02 09:00"},
        {"X-Stand-Boot": "not-a-uuid"},
        {"X-Stand-Mono-Ms": "-5"},
    ],
)
def test_a_request_without_a_readable_stand_clock_is_refused(
    client: FlaskClient, world: World, extra: dict[str, str]
) -> None:
    token = enrolled(client, world)

    response = client.post(
        f"{SYNC}/events", headers={**headers(token), **extra}, json={"events": []}
    )

    assert response.status_code == 400
    assert (
        response.get_json()["error"]["message"].startswith("X-Stand-")
        or "X-Stand-Clock" in (response.get_json()["error"]["message"])
    )
    assert Stand.get_by_id(world.stand_a.id).last_seen_at is None


def test_a_batch_is_applied_and_acknowledged_and_a_resend_is_acknowledged_again(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=20))
    topup = stream.topup(world.member.id, 20_000, str(world.users["attendant"].id))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    batch = {"events": [topup, started, stream.ended(session_uuid, 600, 10_000)]}

    first = client.post(f"{SYNC}/events", headers=headers(token), json=batch)
    again = client.post(f"{SYNC}/events", headers=headers(token), json=batch)

    assert first.status_code == again.status_code == 200
    assert first.get_json()["acked_seq"] == again.get_json()["acked_seq"] == 3
    assert "refused" not in first.get_json()
    server_time = datetime.fromisoformat(first.get_json()["server_time"])
    assert abs(server_time - utcnow()) < timedelta(seconds=5)
    member = Client.get_by_id(world.member.id)
    assert member.balance_kopecks == ledger_balance(member) == 10_000
    assert LedgerEntry.select().where(LedgerEntry.kind == "charge").count() == 1
    assert Session.get().ended_at is not None


def test_a_reused_seq_answers_409_seq_conflict(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id)
    client.post(
        f"{SYNC}/events",
        headers=headers(token),
        json={"events": [stream.topup(world.member.id, 1_000, "card")]},
    )
    reused = stream.topup(world.member.id, 9_000, "card")
    reused["seq"] = 1

    response = client.post(f"{SYNC}/events", headers=headers(token), json={"events": [reused]})

    assert response.status_code == 409
    body = response.get_json()
    assert body["acked_seq"] == 1 and body["refused"]["code"] == "seq_conflict"
    assert body["refused"]["seq"] == 1 and body["refused"]["message"]
    assert ledger_balance(world.member) == 1_000


def test_a_bad_event_answers_422_with_the_reason_and_what_was_applied(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id)
    good = stream.topup(world.member.id, 1_000, "card")
    bad = stream.topup(world.member.id, 1_000, "card")
    del bad["payload"]["amount_kopecks"]

    response = client.post(f"{SYNC}/events", headers=headers(token), json={"events": [good, bad]})

    assert response.status_code == 422
    body = response.get_json()
    assert body["acked_seq"] == 1
    assert body["refused"]["code"] == "bad_event" and body["refused"]["seq"] == 2
    assert "amount_kopecks" in body["refused"]["message"]


def test_an_event_in_another_stands_name_is_refused(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    foreign = Stream(world.stand_b.id).topup(world.other_site_client.id, 1_000, "card")

    response = client.post(f"{SYNC}/events", headers=headers(token), json={"events": [foreign]})

    assert response.status_code == 422
    assert response.get_json()["refused"]["code"] == "wrong_stand"
    assert LedgerEntry.select().count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [({"events": {}}, "bad_batch"), ([1], "bad_json"), ({"events": [{}] * 501}, "batch_too_large")],
)
def test_a_malformed_batch_is_refused_whole(
    client: FlaskClient, world: World, body: Any, code: str
) -> None:
    token = enrolled(client, world)

    response = client.post(f"{SYNC}/events", headers=headers(token), json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert StandEvent.select().count() == 0


def test_a_batch_over_the_size_limit_answers_413(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    huge = '{"events": [], "pad": "' + "x" * (3 * 1024 * 1024) + '"}'

    response = client.post(
        f"{SYNC}/events",
        headers={**headers(token), "Content-Type": "application/json"},
        data=huge,
    )

    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "Слишком большой запрос"


def test_times_from_before_the_clock_was_set_are_corrected_from_the_boots_monotonic_clock(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id, start=datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 10_000)
    stream.wait(60)
    extra = {"X-Stand-Boot": stream.boot_id, "X-Stand-Mono-Ms": str(stream.mono_ms)}

    before = utcnow()
    response = client.post(
        f"{SYNC}/events",
        headers=headers(token, stream.clock, **extra),
        json={"events": [started, ended]},
    )
    after = utcnow()

    assert response.status_code == 200
    session = Session.get()
    assert before - timedelta(seconds=60) <= session.ended_at <= after - timedelta(seconds=60)
    assert session.ended_at - session.started_at == timedelta(seconds=600)
