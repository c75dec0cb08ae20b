"""Events applied per second by the central ingest endpoint, over real HTTP, next to a bare
insert of the same rows.

For each database (PostgreSQL in a private schema dropped afterwards, and an SQLite file in a
temporary directory) the central app is served by werkzeug on 127.0.0.1 (a free port) in a
thread of this process. One stand is provisioned and enrolled through ``POST /sync/v1/enrol``,
then pushes ``--events`` events (sessions started and ended, and top-ups, of 50 members) in
batches of ``--batch`` with ``POST /sync/v1/events``, one request at a time, as a stand's agent
does. Each batch is validated and applied in one transaction (cloud/standsync/ingest/): the session
rows, the charges and top-ups in the ledger, the balances, the events table.

Beside it, in the same database and run: the same ``StandEvent`` rows (under a second stand
and fresh event ids, since ids are unique) written by a bare peewee ``insert_many``, one
transaction per batch of the same size. ``ratio`` is ingest_eps / bare_eps.

    .venv/bin/python bench/sync_ingest.py [--events 5000] [--batch 200] [--runs 5] [--sqlite-only]
        [--receipts] [--without-rollups]

Each database is measured ``--runs`` times, the databases taking turns, each run in a fresh
database; the figures are the runs' medians (a run lasts about a second: the bare insert's
own time varies by a third from run to run on this shared machine, so one run's ratio says
little).

``--without-rollups`` runs each database once more first with the report rollups' triggers
(cloud/rolluptriggers.py) dropped, to show what keeping the rollups costs a batch.

``--receipts`` turns fiscal receipts on (``fiscal_provider = "atol"``, nothing sent): each
top-up and charge then also queues its receipt in the batch's transaction (cloud/fiscal/).

Last lines: ``sync_ingest db=postgresql ingest_eps=… bare_eps=… ratio=… runs=…`` (medians)
and the same for ``db=sqlite``. PostgreSQL comes from ``AQUASTAND_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); without it the PostgreSQL line is skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee
import requests
from scratch import POSTGRES_URL, postgres_schema
from werkzeug.serving import make_server

from cloud import create_app, rolluptriggers
from cloud.db import open_database, release, utcnow
from cloud.migrations import upgrade
from cloud.models import Client, Receipt, Site, Stand, StandEvent, Tariff, TariffVersion
from cloud.standsync.ingest import StandClock, event_row
from cloud.standsync.standauth import provision_stand
from sync.document import format_utc
from sync.events import validate_event

MEMBERS = 50


class EventStream:
    """A stand's events numbered from 1: sessions of ``members`` started and ended in turn,
    with a top-up now and then; the clocks move a few seconds per event."""

    def __init__(self, stand_id: int, members: list[int], tariff_version_id: int) -> None:
        self.stand_id = stand_id
        self.members = members
        self.tariff_version_id = tariff_version_id
        self.seq = 0
        self.boot_id = str(uuid.uuid4())
        self.clock = datetime.now(UTC) - timedelta(days=1)
        self.mono_ms = 60_000
        self.open: dict[int, str] = {}  # client id -> session uuid
        self.random = random.Random(4)

    def _event(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        self.clock += timedelta(seconds=7)
        self.mono_ms += 7_000
        return {
            "id": str(uuid.uuid4()),
            "stand_id": self.stand_id,
            "seq": self.seq,
            "type": kind,
            "occurred_at": format_utc(self.clock),
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "actor": "card",
            "directory_version": 1,
            "payload": payload,
        }

    def next(self) -> dict[str, Any]:
        client = self.random.choice(self.members)
        if self.random.random() < 0.2:
            payload = {
                "topup_uuid": str(uuid.uuid4()),
                "client_id": client,
                "client_uuid": None,
                "amount_kopecks": 50_000,
                "method": "cash",
            }
            return self._event("topup.recorded", payload)
        if client in self.open:
            duration = self.random.randint(60, 1200)
            payload = {
                "session_uuid": self.open.pop(client),
                "duration_s": duration,
                "cost_kopecks": max(5000, -(-duration // 60) * 1000),
                "method": "card",
                "auto": False,
                "comment": "",
            }
            return self._event("session.ended", payload)
        self.open[client] = str(uuid.uuid4())
        payload = {
            "session_uuid": self.open[client],
            "client_id": client,
            "client_uuid": None,
            "tariff_version_id": self.tariff_version_id,
            "client_kind": "member",
            "method": "card",
        }
        return self._event("session.started", payload)


@contextmanager
def database_url(kind: str, directory: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a private PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'central.sqlite3'}"
        return
    with postgres_schema() as url:
        if url is None:
            raise SystemExit(f"postgresql: not available at {POSTGRES_URL}")
        yield url


@dataclass
class Result:
    kind: str
    events: int
    ingest_s: float
    bare_s: float

    @property
    def ingest_eps(self) -> float:
        return self.events / self.ingest_s

    @property
    def bare_eps(self) -> float:
        return self.events / self.bare_s

    @property
    def ratio(self) -> float:
        return self.ingest_eps / self.bare_eps


def world() -> tuple[Stand, Stand, list[int], int]:
    site = Site.create(name="Мойка на Ленина")
    stand = Stand.create(site=site, name="Пост 1")
    scratch = Stand.create(site=site, name="Пост для вставки")
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
        step_s=60,
        min_charge=5000,
    )
    members = [Client.create(kind="member", name=f"Клиент {n}").id for n in range(MEMBERS)]
    return stand, scratch, members, version.id


def push(base: str, token: str, batches: list[list[dict[str, Any]]]) -> float:
    """Send the batches one request at a time; the seconds it took."""
    http = requests.Session()
    started = time.perf_counter()
    for batch in batches:
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Stand-Clock": format_utc(datetime.now(UTC)),
        }
        reply = http.post(
            f"{base}/sync/v1/events", json={"events": batch}, headers=headers, timeout=60
        )
        if reply.status_code != 200 or reply.json()["acked_seq"] != batch[-1]["seq"]:
            raise SystemExit(f"ingest refused a batch: {reply.status_code} {reply.text[:300]}")
    elapsed = time.perf_counter() - started
    http.close()
    return elapsed


def event_rows(stand: Stand, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The StandEvent rows ingest writes for ``batch`` (its own row builder), under ``stand``
    with fresh ids."""
    now = datetime.now(UTC)
    clock = StandClock(now=now, stand_time=now)
    return [
        {**event_row(stand, validate_event(raw), raw, clock), "event_uuid": str(uuid.uuid4())}
        for raw in batch
    ]


def bare_insert(database: peewee.Database, batches: list[list[dict[str, Any]]]) -> float:
    """insert_many of each batch's rows in its own transaction; the seconds it took (rows are
    built beforehand, outside the clock)."""
    started = time.perf_counter()
    for rows in batches:
        with database.atomic():
            StandEvent.insert_many(rows).execute()
    return time.perf_counter() - started


# Receipts queued, never sent (nothing listens at the URL).
FISCAL = {
    "fiscal_provider": "atol",
    "atol_url": "http://127.0.0.1:9/possystem/v5",
    "atol_login": "bench",
    "atol_password": "bench",
    "atol_group_code": "bench",
    "fiscal_inn": "7701234567",
    "fiscal_payment_address": "bench",
    "fiscal_email": "bench@example.ru",
}


def run(kind: str, events: int, batch: int, receipts: bool = False, rollups: bool = True) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="aq-bench-") as temp,
        database_url(kind, Path(temp)) as url,
    ):
        app = create_app(
            data_dir=Path(temp) / "data",
            database_url=url,
            secret_key=secrets.token_hex(16),
            **(FISCAL if receipts else {}),
        )
        database = app.extensions["aquastand_db"]
        upgrade(database)
        if not rollups:
            rolluptriggers.drop_triggers(database)
        with app.app_context():
            stand, scratch, members, version_id = world()
            code = provision_stand(stand.site, stand.name, utcnow()).code
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            token = requests.post(f"{base}/sync/v1/enrol", json={"code": code}, timeout=10).json()[
                "token"
            ]
            stream = EventStream(stand.id, members, version_id)
            all_events = [stream.next() for _ in range(events)]
            batches = [all_events[i : i + batch] for i in range(0, events, batch)]
            ingest_s = push(base, token, batches)
        finally:
            server.shutdown()
            thread.join()
        with app.app_context():
            applied = StandEvent.select().where(StandEvent.stand == stand.id).count()
            if applied != events:
                raise SystemExit(f"{kind}: {applied} events applied of {events}")
            if receipts:
                print(f"{kind}: {Receipt.select().count()} receipts queued with the money")
            rows = [event_rows(scratch, chunk) for chunk in batches]
            bare_s = bare_insert(database, rows)
        release(database)
    return Result(kind, events, ingest_s, bare_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="runs per database (their median)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--receipts", action="store_true", help="fiscal receipts on")
    parser.add_argument(
        "--without-rollups",
        action="store_true",
        help="also run each database with the report rollups' triggers dropped (their cost)",
    )
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{args.events} events in batches of {args.batch}, one request at a time, over HTTP")
    print(f"fiscal receipts: {'queued' if args.receipts else 'off'}")
    kinds = ["sqlite"] if args.sqlite_only else ["postgresql", "sqlite"]
    if "postgresql" in kinds and not postgres_available():
        kinds.remove("postgresql")
    runs: dict[str, list[Result]] = {kind: [] for kind in kinds}
    for _run in range(args.runs):
        for kind in kinds:
            if args.without_rollups:
                alone = run(kind, args.events, args.batch, args.receipts, rollups=False)
                print(
                    f"{kind} without the rollups' triggers: ingest {alone.ingest_eps:.0f} "
                    f"events/s, bare {alone.bare_eps:.0f} rows/s, ratio={alone.ratio:.3f}"
                )
            result = run(kind, args.events, args.batch, args.receipts)
            print(
                f"{kind}: ingest {result.ingest_s:.2f} s ({result.ingest_eps:.0f} events/s), "
                f"bare insert_many {result.bare_s:.3f} s ({result.bare_eps:.0f} rows/s), "
                f"ratio {result.ratio:.3f}"
            )
            runs[kind].append(result)
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for kind, results in runs.items():
        print(
            f"sync_ingest db={kind} receipts={args.receipts} "
            f"ingest_eps={statistics.median(r.ingest_eps for r in results):.0f} "
            f"bare_eps={statistics.median(r.bare_eps for r in results):.0f} "
            f"ratio={statistics.median(r.ratio for r in results):.3f} runs={len(results)}"
        )


def postgres_available() -> bool:
    try:
        open_database(POSTGRES_URL).connect()
    except peewee.OperationalError as error:
        print(f"postgresql: not available at {POSTGRES_URL} ({error}); skipped")
        return False
    return True


if __name__ == "__main__":
    main()
