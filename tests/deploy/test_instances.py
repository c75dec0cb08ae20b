"""Two ``aquastand-cloud serve`` instances behind nginx (the shipped site file) on one
PostgreSQL: one is killed in the middle of a fleet's run and no event is lost or doubled; a
change made through one instance is seen by a stand polling the other at its next poll."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
import requests
from flask import Flask

from bench.nginxfront import Instances, NginxFront, upstream_counts
from cloud.db import db_proxy
from cloud.models import (
    Client,
    CodeSend,
    Credential,
    LedgerEntry,
    Session,
    StandEvent,
    TariffVersion,
)
from sync.directorywindow import WINDOW
from sync.document import format_utc
from tests.deploy.frontfleet import (
    FleetStand,
    make_fleet,
    run_fleet,
    session_cost,
    session_events,
    stand_headers,
)

pytestmark = pytest.mark.postgresql

STANDS = 30
SESSIONS = 8
PERIOD_S = 1.5


def _instances(central: Flask, count: int, workers: int) -> Instances:
    url = central.config["DATABASE_URL_FOR_INSTANCES"]
    return Instances(url, central.config["AQ"].data_dir, count=count, workers=workers)


def test_an_instance_killed_mid_run_loses_and_doubles_no_event(
    central: Flask, tmp_path: Path
) -> None:
    fleet = make_fleet(STANDS)
    with (
        _instances(central, 2, workers=2) as instances,
        NginxFront(instances.ports, tmp_path / "nginx") as front,
    ):
        runs, threads = run_fleet(front.url, front.ca_file, fleet, SESSIONS, PERIOD_S)
        time.sleep(0.5 + 2.5 * PERIOD_S)  # two and a half rounds in
        before = upstream_counts(front.access_lines())
        doomed, survivor = (f"127.0.0.1:{port}" for port in instances.ports)
        instances.members[0].kill()
        for thread in threads:
            thread.join(timeout=120)
        lines = front.access_lines()
    assert all(not thread.is_alive() for thread in threads)
    # Both instances served the fleet before the kill; after it nginx found the dead one
    # refusing and sent those requests on to the other (a line naming both).
    assert before.get(doomed, 0) > 0 and before.get(survivor, 0) > 0, before
    assert any(f"up={doomed}, {survivor}" in line for line in lines), lines[-20:]

    sent = [event_id for run in runs for event_id in run.acked_ids]
    assert [len(run.acked_ids) for run in runs] == [2 * SESSIONS] * STANDS
    assert len(set(sent)) == len(sent) == 2 * SESSIONS * STANDS
    stored = [row.event_uuid for row in StandEvent.select(StandEvent.event_uuid)]
    assert sorted(stored) == sorted(sent)  # every acknowledged event once, nothing else
    assert Session.select().where(Session.ended_at.is_null(False)).count() == SESSIONS * STANDS
    # Each session's end charged its client once: one entry per ended event, the balance the
    # sum of the fleet's prices.
    charges = (
        LedgerEntry.select(LedgerEntry.event, pw.fn.COUNT(LedgerEntry.id))
        .where(LedgerEntry.kind == "charge")
        .group_by(LedgerEntry.event)
        .tuples()
    )
    assert sorted(count for _event, count in charges) == [1] * (SESSIONS * STANDS)
    expected = -sum(session_cost(n) for n in range(SESSIONS))
    for stand in fleet.stands:
        total = (
            LedgerEntry.select(pw.fn.SUM(LedgerEntry.amount_kopecks))
            .where(LedgerEntry.client == stand.client_id)
            .scalar()
        )
        assert total == expected, Client.get_by_id(stand.client_id).name


def _poll(port: int, stand: FleetStand, cursor: int) -> dict[str, Any]:
    """One poll of the directory from ``cursor`` at the instance on ``port``: everything."""
    reply = requests.get(
        f"http://127.0.0.1:{port}/sync/v1/directory",
        params={"cursor": cursor},
        headers=stand_headers(stand),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    page: dict[str, Any] = reply.json()
    assert page["more"] is False
    return page


def _client(page: dict[str, Any], client_id: int) -> dict[str, Any]:
    found = [c for c in page["upserts"]["clients"] if c["id"] == client_id]
    assert len(found) == 1, page["upserts"]["clients"]
    return found[0]


def test_a_change_through_one_instance_is_seen_by_a_stand_polling_the_other(
    central: Flask,
) -> None:
    """Every in-process cache of the service (the directory's client entries) is checked
    against the database's change log: a stand polling B sees what A changed at its next
    poll, however warm B's cache is."""
    fleet = make_fleet(2)
    stand, other = fleet.stands
    member = stand.client_id
    card = Credential.get(Credential.value == stand.card)
    with _instances(central, 2, workers=1) as instances:  # one worker: one cache per instance
        a, b = instances.ports
        api = f"http://127.0.0.1:{a}/api/v1"
        auth = {"Authorization": f"Bearer {fleet.owner_token}"}

        def through_a(method: str, path: str, body: dict[str, Any]) -> None:
            reply = requests.request(method, api + path, json=body, headers=auth, timeout=10)
            assert reply.status_code in (200, 201), reply.text

        cursor = fleet.cursor
        through_a("POST", f"/clients/{member}/topups", {"amount_kopecks": 10000, "method": "cash"})
        page = _poll(b, stand, cursor)
        assert _client(page, member)["balance_kopecks"] == 10000  # now in B's cache
        cursor = page["cursor"]

        through_a("POST", f"/clients/{member}/topups", {"amount_kopecks": 5000, "method": "card"})
        page = _poll(b, stand, cursor)
        assert _client(page, member)["balance_kopecks"] == 15000
        cursor = page["cursor"]

        # The member's session at the other post, sent through A, charges the balance.
        at_other = replace(other, client_id=member)
        events = session_events(at_other, 0, fleet.tariff_version_id, cursor, str(uuid.uuid4()))
        reply = requests.post(
            f"http://127.0.0.1:{a}/sync/v1/events",
            json={"events": events},
            headers=stand_headers(other),
            timeout=10,
        )
        assert reply.json()["acked_seq"] == 2, reply.text
        page = _poll(b, stand, cursor)
        assert _client(page, member)["balance_kopecks"] == 15000 - session_cost(0)
        assert _client(page, member)["blocked"] is False
        cursor = page["cursor"]

        through_a("POST", f"/clients/{member}/cards/{card.id}/lost", {})
        page = _poll(b, stand, cursor)
        lost = [c for c in page["upserts"]["credentials"] if c["value"] == stand.card]
        gone = [c for c in page["tombstones"]["credentials"] if c["value"] == stand.card]
        assert [c["lost"] for c in lost] == [True] or gone, page
        cursor = page["cursor"]

        through_a("PATCH", f"/clients/{member}", {"blocked": True, "blocked_reason": "долг"})
        page = _poll(b, stand, cursor)
        assert _client(page, member)["blocked"] is True
        cursor = page["cursor"]

        tariff_id = TariffVersion.get_by_id(fleet.tariff_version_id).tariff_id
        starts = format_utc(datetime.now(UTC) + timedelta(hours=1))
        through_a(
            "POST",
            f"/tariffs/{tariff_id}/versions",
            {
                "member_per_minute_kopecks": 1200,
                "guest_per_minute_kopecks": 1700,
                "effective_from": starts,
            },
        )
        page = _poll(b, stand, cursor)
        (tariff,) = page["upserts"]["tariffs"]
        rates = [v["rates"]["member_per_minute"] for v in tariff["versions"]]
        assert rates == [1000, 1200]


def test_sms_code_limits_hold_across_instances_under_parallel_requests(central: Flask) -> None:
    """The sends counted against SMS bombing are rows in the database, counted one request
    at a time per key: parallel requests to two instances (two workers each) get exactly the
    phone's allowance of codes, not one more per process."""
    allowance = central.config["AQ"].cabinet_codes_per_phone
    with _instances(central, 2, workers=2) as instances:
        urls = [f"http://127.0.0.1:{port}/api/client/v1/login/code" for port in instances.ports]
        start = threading.Barrier(16)

        def ask(index: int) -> int:
            start.wait()
            reply = requests.post(urls[index % 2], json={"phone": "+79161234567"}, timeout=30)
            return reply.status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = sorted(pool.map(ask, range(16)))
    assert statuses == [202] * allowance + [429] * (16 - allowance), statuses
    assert CodeSend.select().where(CodeSend.key == "phone:+79161234567").count() == allowance


def test_a_closed_directory_window_is_served_to_every_stand_from_nginx_cache(
    central: Flask, tmp_path: Path
) -> None:
    """Sync protocol 2 through the shipped site: a closed window is fetched from an instance
    once and then served from nginx's cache to any stand with a valid token; the open window
    (the tail) is always asked of an instance."""
    first, second = make_fleet(2).stands
    with db_proxy.atomic():
        for number in range(WINDOW // 2 + 10):  # each two directory changes: window 0 closes
            Client.create(kind="guest", name=f"Гость {number}")
    with (
        _instances(central, 1, workers=2) as instances,
        NginxFront(instances.ports, tmp_path / "nginx") as front,
    ):

        def get(start: int, stand: FleetStand | None, form: str = "") -> requests.Response:
            headers = stand_headers(stand) if stand else {}
            return requests.get(
                f"{front.url}/sync/v1/directory/window/{start}{form}",
                headers=headers,
                verify=front.ca_file,
                timeout=30,
            )

        closed = [get(0, first), get(0, first), get(0, second)]
        forged = get(0, replace(second, token="forged"))
        tail = [get(WINDOW, first), get(WINDOW, second)]
        compact = [get(0, first, "?protocol=3"), get(0, second, "?protocol=3")]
    assert [r.status_code for r in closed] == [200] * 3
    assert [r.headers["X-Cache-Status"] for r in closed] == ["MISS", "HIT", "HIT"]
    assert (
        len({r.content for r in closed}) == 1 and "immutable" in closed[0].headers["Cache-Control"]
    )
    assert forged.status_code == 401
    assert [r.status_code for r in tail] == [200, 200]
    assert [r.headers["X-Cache-Status"] for r in tail] == ["MISS", "MISS"]
    # Protocol 3's form of the window is cached apart (the key has the query).
    assert [r.headers["X-Cache-Status"] for r in compact] == ["MISS", "HIT"]
    assert [r.json()["protocol"] for r in compact + closed[:1]] == [3, 3, 2]
