"""A fleet of simulated stands for the tests of several central instances behind nginx
(tests/deploy/test_instances.py, test_nginx_front.py): a fresh PostgreSQL schema per test with
its stands enrolled, and stands that push their events over HTTP(S) and, like the sync agent,
send a batch again until it is acknowledged."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from bench.scratch import postgres_schema
from cloud import create_app
from cloud.changes import adopt_unlogged, current_position
from cloud.db import release, utcnow
from cloud.migrations import upgrade
from cloud.models import Client, Credential, Site, Tariff, TariffVersion
from cloud.staff.auth import new_api_token
from cloud.staff.service import create_staff
from cloud.standsync.standauth import enrol, provision_stand
from sync.document import format_utc
from tests.cloud.conftest import POSTGRES_URL
from tests.conftest import need

STANDS_PER_SITE = 10


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Flask]:
    """The central app in this process on a fresh PostgreSQL schema (dropped afterwards), its
    context pushed; the instances started by the test share its database and data directory
    (``central.config["AQ"].data_dir``)."""
    need(shutil.which("nginx") is not None, "nginx (scripts/system-deps.sh nginx)")
    with postgres_schema(POSTGRES_URL, prefix="aqnginx") as url:
        need(url is not None, "PostgreSQL at " + POSTGRES_URL)
        assert url is not None
        app = create_app(data_dir=tmp_path / "data", database_url=url, secret_key="test-secret")
        app.config["DATABASE_URL_FOR_INSTANCES"] = url
        upgrade(app.extensions["aquastand_db"])
        with app.app_context():
            yield app
        release(app.extensions["aquastand_db"])


@dataclass(frozen=True)
class FleetStand:
    stand_id: int
    token: str
    client_id: int
    card: str


@dataclass
class Fleet:
    tariff_version_id: int
    stands: list[FleetStand]
    cursor: int  # where a stand enrolled now starts polling
    owner_token: str


def make_fleet(count: int) -> Fleet:
    """``count`` stands enrolled, ten to a site, each with a member of its own (with a card),
    one tariff and an owner with an API token."""
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
        step_s=60,
        min_charge=5000,
    )
    stands = []
    for number in range(count):
        if number % STANDS_PER_SITE == 0:
            site = Site.create(name=f"Мойка {number // STANDS_PER_SITE + 1}")
        code = provision_stand(site, f"Пост {number % STANDS_PER_SITE + 1}", utcnow()).code
        stand, token = enrol(code, utcnow())
        client = Client.create(kind="member", name=f"Клиент {number}", home_site=site)
        card = f"04AA{number:010X}"
        Credential.create(client=client, kind="card", value=card)
        stands.append(FleetStand(stand.id, token, client.id, card))
    owner = create_staff(
        name="Владелец",
        phone="+79000000004",
        role="owner",
        password="correct-horse-1",
        pin="444444",
        site_names=[Site.get_by_id(1).name],
    )
    adopt_unlogged()
    return Fleet(version.id, stands, current_position(), new_api_token(owner))


def session_events(
    stand: FleetStand, number: int, tariff_version_id: int, cursor: int, boot_id: str
) -> list[dict[str, Any]]:
    """The stand's ``number``-th session (from 0), started and ended: seqs 2n+1 and 2n+2."""
    occurred = datetime.now(UTC)
    duration = 300 + number
    common = {
        "stand_id": stand.stand_id,
        "boot_id": boot_id,
        "actor": "card",
        "directory_version": cursor,
    }
    session = str(uuid.uuid4())
    return [
        {
            **common,
            "id": str(uuid.uuid4()),
            "seq": 2 * number + 1,
            "type": "session.started",
            "occurred_at": format_utc(occurred - timedelta(seconds=duration)),
            "mono_ms": 1_000 + number * 1_000_000,
            "payload": {
                "session_uuid": session,
                "client_id": stand.client_id,
                "client_uuid": None,
                "tariff_version_id": tariff_version_id,
                "client_kind": "member",
                "method": "card",
            },
        },
        {
            **common,
            "id": str(uuid.uuid4()),
            "seq": 2 * number + 2,
            "type": "session.ended",
            "occurred_at": format_utc(occurred),
            "mono_ms": 1_000 + number * 1_000_000 + duration * 1000,
            "payload": {
                "session_uuid": session,
                "duration_s": duration,
                "cost_kopecks": session_cost(number),
                "method": "card",
                "auto": False,
                "comment": "",
            },
        },
    ]


def session_cost(number: int) -> int:
    """What the ``number``-th session costs by the fleet's tariff: each started minute."""
    return -(-(300 + number) // 60) * 1000


def stand_headers(stand: FleetStand) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {stand.token}",
        "X-Stand-Clock": format_utc(datetime.now(UTC)),
    }


@dataclass
class StandRun:
    """What one simulated stand saw: the event ids acknowledged to it, the answers that were
    not an acknowledgement (each followed by a resend), and its directory polls."""

    acked_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    polls: int = 0
    poll_failures: int = 0


def run_stand(
    url: str,
    verify: str | bool,
    stand: FleetStand,
    fleet: Fleet,
    sessions: int,
    period_s: float,
    start_at: float,
    run: StandRun,
) -> None:
    """Every ``period_s`` from ``start_at``: push one session (started and ended) until it is
    acknowledged, resending the same events (same ids and seqs) after any failure, as the
    agent does; then poll the directory once."""
    http = requests.Session()  # verify per request: REQUESTS_CA_BUNDLE overrides a session's
    boot_id = str(uuid.uuid4())
    cursor = fleet.cursor
    for number in range(sessions):
        time.sleep(max(0.0, start_at + number * period_s - time.time()))
        events = session_events(stand, number, fleet.tariff_version_id, cursor, boot_id)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, (
                f"stand {stand.stand_id}: not acknowledged: {run.failures[-3:]}"
            )
            try:
                reply = http.post(
                    f"{url}/sync/v1/events",
                    json={"events": events},
                    headers=stand_headers(stand),
                    timeout=10,
                    verify=verify,
                )
                if reply.status_code == 200 and reply.json()["acked_seq"] == events[-1]["seq"]:
                    run.acked_ids += [event["id"] for event in events]
                    break
                run.failures.append(f"HTTP {reply.status_code} {reply.text[:200]}")
            except requests.RequestException as error:
                run.failures.append(f"{type(error).__name__}: {error}")
            time.sleep(0.2)
        try:
            reply = http.get(
                f"{url}/sync/v1/directory",
                params={"cursor": cursor},
                headers=stand_headers(stand),
                timeout=10,
                verify=verify,
            )
            run.polls += 1
            if reply.status_code == 200:
                cursor = reply.json()["cursor"]
            else:
                run.poll_failures += 1
        except requests.RequestException:
            run.poll_failures += 1


def run_fleet(
    url: str, verify: str | bool, fleet: Fleet, sessions: int, period_s: float
) -> tuple[list[StandRun], list[threading.Thread]]:
    """Every stand of ``fleet`` in a thread of its own, spread over the period; started, not
    joined."""
    start_at = time.time() + 0.5
    runs, threads = [], []
    for index, stand in enumerate(fleet.stands):
        run = StandRun()
        offset = start_at + index * period_s / len(fleet.stands)
        thread = threading.Thread(
            target=run_stand,
            args=(url, verify, stand, fleet, sessions, period_s, offset, run),
            daemon=True,
        )
        thread.start()
        runs.append(run)
        threads.append(thread)
    return runs, threads
