"""Request latency of one central instance under a fleet of stands pushing and polling.

The central service runs as in production: ``aquastand-cloud serve`` (gunicorn, ``--workers``
processes) on 127.0.0.1 and a free port, on PostgreSQL in a private schema dropped afterwards.
``--stands`` stands are provisioned and enrolled (ten to a site, each with its own member) and
start with the directory as provisioned, as after the full walk a stand makes once when it is
enrolled (bench/directory_download.py measures that walk). Each stand then does what its agent
does every ``--period`` seconds: push a batch of events (one session started and ended, priced
by its tariff) with ``POST /sync/v1/events`` and poll the directory from its cursor with
``GET /sync/v1/directory``. ``--session-every N`` makes a stand push a session only every N-th
round (the stands take turns), as a stand without a session has nothing to push: the default,
a session per stand every round (2,880 a day at 30 s), is what issue 21's figure asks; a stand
busy all day, a car every 15 minutes, has about 100 (``--session-every 10`` is still 288). The stands are spread evenly over the period and simulated by
threads in ``--processes`` processes; the run lasts ``--rounds`` periods. Every request's
latency is recorded; an error is any answer but 200 (or an acknowledgement short of the batch)
and any failed connection.

The stands are light because they share the 2 cores with the service they measure: each thread
speaks HTTP with urllib3 (gzip accepted, as the agent's requests do) and reads a page's cursor
and ``more`` from its head instead of parsing and applying the page. With requests and full
parsing the generator took a third of the machine and the service missed the target by far.

    .venv/bin/python bench/fleet.py [--stands 1000] [--period 30] [--rounds 3] [--tail-reuse-ms 250]

Each stand says its cursor with its window requests (``X-Directory-Cursor``, as the agent
does), and the service runs with ``directory_tail_reuse_ms`` 250 (``--tail-reuse-ms``), as
docs/deploy-central.md advises for thousands of stands: the open window is then built a few
times a second per process, not once per poll.

Last line: ``fleet stands=… p50_ms=… p99_ms=… errors=…`` (target: p99 under 1 s, no errors).
PostgreSQL comes from ``AQUASTAND_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import requests
import urllib3
from scratch import POSTGRES_URL, postgres_schema

from cloud import create_app
from cloud.changes import adopt_unlogged, current_position
from cloud.db import db_proxy, release, utcnow
from cloud.migrations import upgrade
from cloud.models import Client, Site, Stand, Tariff, TariffVersion
from sync.directorywindow import WINDOW
from sync.document import format_utc

STANDS_PER_SITE = 10
THREADS_PER_PROCESS = 64


@dataclass(frozen=True)
class SimulatedStand:
    """What one simulated stand needs: its id, token, member, tariff and the cursor to start."""

    stand_id: int
    token: str
    client_id: int
    tariff_version_id: int
    cursor: int


@dataclass(frozen=True)
class Plan:
    port: int
    period_s: float
    rounds: int
    start_at: float  # time.time() of the first round
    stands: int  # in the whole fleet, for the spread over the period
    # The stands' sync protocol (1: a page per stand from its cursor; 2: windows of whole
    # client entries; 3: balance-only changes compact).
    protocol: int = 3
    # A stand pushes a session every this many rounds (1: every round, the figure).
    session_every: int = 1


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (the gunicorn master counts its
    workers once it has reaped them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def provision(url: str, data_dir: Path, count: int) -> list[SimulatedStand]:
    """The sites, stands (enrolled), members and tariff of the fleet, made in-process."""
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    database = app.extensions["aquastand_db"]
    upgrade(database)
    fleet = []
    with app.app_context():
        tariff = Tariff.create(name="Стандарт")
        version = TariffVersion.create(
            tariff=tariff,
            effective_from=datetime(2020, 1, 1, tzinfo=UTC),
            member_per_minute=1000,
            guest_per_minute=1500,
            step_s=60,
            min_charge=5000,
        )
        fleet = bulk_fleet(count, version.id)
        # The stands start where their first walk after enrolment left them: at the position
        # that covers the rows made here (made before the change triggers saw them, so adopted first).
        adopt_unlogged()
        cursor = current_position()
    release(database)
    return [
        SimulatedStand(s.stand_id, s.token, s.client_id, s.tariff_version_id, cursor) for s in fleet
    ]


def bulk_fleet(count: int, version_id: int) -> list[SimulatedStand]:
    """The fleet's sites, stands (enrolled: a token each, stored as enrolment stores it) and
    members, in bulk (one by one through ``provision_stand`` and ``enrol`` took 0.3 s a stand
    on the loaded machine: 25 minutes for 5,000)."""
    now = utcnow()
    sites = -(-count // STANDS_PER_SITE)
    with db_proxy.atomic():
        Site.insert_many([{"name": f"Мойка {n + 1}"} for n in range(sites)]).execute()
        site_ids = [i for (i,) in Site.select(Site.id).order_by(Site.id).tuples()]
        Stand.insert_many(
            [
                {"site": site_ids[n // STANDS_PER_SITE], "name": f"Пост {n % STANDS_PER_SITE + 1}"}
                for n in range(count)
            ]
        ).execute()
        stands = list(Stand.select(Stand.id, Stand.site).order_by(Stand.id).tuples())
        tokens = {stand_id: f"{stand_id}.{secrets.token_urlsafe(32)}" for stand_id, _s in stands}
        for stand_id, token in tokens.items():
            Stand.update(
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                enrolled_at=now,
                enrol_code_used_at=now,
            ).where(Stand.id == stand_id).execute()
        Client.insert_many(
            [
                {"kind": "member", "name": f"Клиент {n}", "home_site": site_id}
                for n, (_stand_id, site_id) in enumerate(stands)
            ]
        ).execute()
        client_ids = [i for (i,) in Client.select(Client.id).order_by(Client.id).tuples()]
    return [
        SimulatedStand(stand_id, tokens[stand_id], client_id, version_id, 0)
        for (stand_id, _site), client_id in zip(stands, client_ids, strict=True)
    ]


def serve(
    url: str, data_dir: Path, port: int, workers: int, tail_reuse_ms: int = 0
) -> subprocess.Popen[bytes]:
    """``aquastand-cloud serve`` on 127.0.0.1:port, answering once it is up."""
    command = shutil.which("aquastand-cloud", path=str(Path(sys.executable).parent))
    if command is None:
        raise SystemExit("aquastand-cloud is not installed in this environment")
    env = {
        **os.environ,
        "AQUASTAND_DATABASE_URL": url,
        "AQUASTAND_DATA_DIR": str(data_dir),
        "AQUASTAND_DIRECTORY_TAIL_REUSE_MS": str(tail_reuse_ms),
    }
    server = subprocess.Popen(
        [command, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return server
        except requests.ConnectionError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the central service did not start within 60 s")


def batch(stand: SimulatedStand, round_number: int, boot_id: str) -> list[dict[str, Any]]:
    """Round ``round_number``'s events of ``stand``: its member's session started and ended."""
    occurred = datetime.now(UTC)
    session = str(uuid.uuid4())
    duration = 300 + round_number
    common = {
        "stand_id": stand.stand_id,
        "boot_id": boot_id,
        "actor": "card",
        "directory_version": stand.cursor,
    }
    started = {
        **common,
        "id": str(uuid.uuid4()),
        "seq": 2 * round_number + 1,
        "type": "session.started",
        "occurred_at": format_utc(occurred - timedelta(seconds=duration)),
        "mono_ms": 1_000 + round_number * 1_000_000,
        "payload": {
            "session_uuid": session,
            "client_id": stand.client_id,
            "client_uuid": None,
            "tariff_version_id": stand.tariff_version_id,
            "client_kind": "member",
            "method": "card",
        },
    }
    ended = {
        **common,
        "id": str(uuid.uuid4()),
        "seq": 2 * round_number + 2,
        "type": "session.ended",
        "occurred_at": format_utc(occurred),
        "mono_ms": 1_000 + round_number * 1_000_000 + duration * 1000,
        "payload": {
            "session_uuid": session,
            "duration_s": duration,
            "cost_kopecks": -(-duration // 60) * 1000,
            "method": "card",
            "auto": False,
            "comment": "",
        },
    }
    return [started, ended]


PAGE_HEAD = re.compile(rb'^\{"cursor":(\d+),"more":(true|false),')
WINDOW_HEAD = re.compile(
    rb'^\{"protocol":[23],"start":(\d+),"end":(\d+),"closed":(true|false),'
    rb'"upserts":\{"clients":(\[\])?'
)


def window_position(reply: Any) -> tuple[int, bool, bool] | None:
    """A window's ``end``, ``closed`` and whether it carries whole clients, from the first
    bytes of its body (gzip inflated only that far): the stands share the cores with the
    service, and a window is most of a poll's bytes."""
    data = reply.data
    if reply.headers.get("Content-Encoding") == "gzip":
        data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:1024], 200)
    head = WINDOW_HEAD.match(data)
    return (int(head[2]), head[3] == b"true", head[4] is None) if head else None


def page_position(body: bytes) -> tuple[int, bool] | None:
    """A directory page's ``cursor`` and ``more``, read from its head (None: not a page). The
    simulated stands do not apply pages, so they do not parse the rest: the load generator
    shares the 2 cores with the service it measures."""
    head = PAGE_HEAD.match(body)
    return (int(head[1]), head[2] == b"true") if head else None


def poll_windows(
    http: urllib3.HTTPConnectionPool,
    stand: SimulatedStand,
    headers: dict[str, str],
    cursors: dict[int, int],
    tails: dict[int, str],
    protocol: int,
) -> tuple[list[float], int]:
    """Protocol 2 or 3's poll (sync/agent.py): the windows from the cursor's to the tail (the
    tail revalidated with its ETag), then the stand's head; latencies and errors."""
    cursor = cursors[stand.stand_id]
    start, latencies, since = cursor - cursor % WINDOW, [], cursor
    while True:
        tag = tails.get(stand.stand_id, "")
        extra = {"If-None-Match": tag.split("@")[0]} if tag.endswith(f"@{start}:{cursor}") else {}
        extra["X-Directory-Cursor"] = str(cursor)
        started = time.perf_counter()
        try:
            reply = http.request(
                "GET",
                f"/sync/v1/directory/window/{start}?protocol={protocol}",
                headers={**headers, **extra},
                decode_content=False,
            )
            if reply.status == 304:
                position: tuple[int, bool, bool] | None = (cursor, False, False)
            else:
                position = window_position(reply) if reply.status == 200 else None
        except urllib3.exceptions.HTTPError:
            position = None
        latencies.append((time.perf_counter() - started) * 1000)
        if position is None:
            return latencies, 1
        end, closed, whole = position
        if whole:  # details for the clients it carries whole come with the head (the agent's rule)
            since = min(since, start)
        if not closed:
            tails[stand.stand_id] = f"{reply.headers.get('ETag', '')}@{start}:{end}"
            break
        start += WINDOW
    started = time.perf_counter()
    try:
        reply = http.request(
            "GET",
            f"/sync/v1/directory/head?cursor={cursor}&since={since}&protocol={protocol}",
            headers=headers,
        )
        ok = reply.status == 200
    except urllib3.exceptions.HTTPError:
        ok = False
    latencies.append((time.perf_counter() - started) * 1000)
    if ok:
        cursors[stand.stand_id] = end
    return latencies, 0 if ok else 1


def one_round(
    http: urllib3.HTTPConnectionPool,
    stand: SimulatedStand,
    round_number: int,
    boot_id: str,
    cursors: dict[int, int],
    protocol: int = 3,
    tails: dict[int, str] | None = None,
    push: bool = True,
) -> tuple[list[float], int]:
    """Push the stand's ``round_number``-th session (unless not ``push``: an idle round), then
    poll the directory from the stand's cursor until it has everything (``more``), as the
    agent does; the latencies (ms) and errors."""
    headers = {
        "Authorization": f"Bearer {stand.token}",
        "X-Stand-Clock": format_utc(datetime.now(UTC)),
        "Accept-Encoding": "gzip",
    }
    latencies, errors = [], 0
    if push:
        events = batch(stand, round_number, boot_id)
        started = time.perf_counter()
        try:
            reply = http.request(
                "POST",
                "/sync/v1/events",
                body=json.dumps({"events": events}).encode(),
                headers={**headers, "Content-Type": "application/json"},
            )
            acked = reply.status == 200 and json.loads(reply.data).get("acked_seq")
            errors += acked != events[-1]["seq"]
        except urllib3.exceptions.HTTPError:
            errors += 1
        latencies.append((time.perf_counter() - started) * 1000)
    if protocol > 1:
        found, failed = poll_windows(http, stand, headers, cursors, tails or {}, protocol)
        return latencies + found, errors + failed
    more = True
    while more:
        started = time.perf_counter()
        try:
            reply = http.request(
                "GET", f"/sync/v1/directory?cursor={cursors[stand.stand_id]}", headers=headers
            )
            position = page_position(reply.data) if reply.status == 200 else None
        except urllib3.exceptions.HTTPError:
            position = None
        latencies.append((time.perf_counter() - started) * 1000)
        if position is None:
            errors += 1
            break
        cursors[stand.stand_id], more = position
    return latencies, errors


def simulate(job: tuple[Plan, list[tuple[int, SimulatedStand]]]) -> tuple[list[float], int]:
    """One process's stands: each at its place in the period, every period, for all rounds."""
    plan, stands = job
    local = threading.local()
    boot_ids = {stand.stand_id: str(uuid.uuid4()) for _index, stand in stands}
    cursors = {stand.stand_id: stand.cursor for _index, stand in stands}
    tails: dict[int, str] = {}
    sessions = dict.fromkeys(boot_ids, 0)  # pushed so far: each batch's seqs follow on

    # Bounded in time: a round not begun a minute after the last one was due counts as an error.
    deadline = plan.start_at + plan.rounds * plan.period_s + 60

    def run(index: int, stand: SimulatedStand, round_number: int) -> tuple[list[float], int]:
        due = plan.start_at + round_number * plan.period_s + index * plan.period_s / plan.stands
        time.sleep(max(0.0, due - time.time()))
        if time.time() > deadline:
            return [], 1
        if not hasattr(local, "http"):
            local.http = urllib3.HTTPConnectionPool(
                "127.0.0.1", plan.port, maxsize=1, timeout=20.0, retries=False
            )
        boot_id = boot_ids[stand.stand_id]
        push = (round_number + index) % plan.session_every == 0
        number = sessions[stand.stand_id]
        sessions[stand.stand_id] += push
        return one_round(local.http, stand, number, boot_id, cursors, plan.protocol, tails, push)

    tasks = sorted(
        ((index, stand, r) for r in range(plan.rounds) for index, stand in stands),
        key=lambda task: task[2] * plan.stands + task[0],
    )
    latencies: list[float] = []
    errors = 0
    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        for found, failed in pool.map(lambda task: run(*task), tasks):
            latencies += found
            errors += failed
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stands", type=int, default=1000)
    parser.add_argument("--period", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--protocol", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument(
        "--session-every",
        type=int,
        default=1,
        help="rounds between a stand's sessions (1: a session every round)",
    )
    parser.add_argument(
        "--tail-reuse-ms",
        type=int,
        default=250,
        help="the service's directory_tail_reuse_ms (0: a tail built for every poll)",
    )
    parser.add_argument(
        "--burst", action="store_true", help="the outage burst (bench/fleetburst.py)"
    )
    parser.add_argument("--outage", type=float, default=600.0, help="burst: seconds down")
    parser.add_argument("--return-within", type=float, default=10.0, help="burst: seconds")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with postgres_schema(prefix="aqfleet") as url:
        if url is None:
            raise SystemExit(f"postgresql: not available at {POSTGRES_URL}")
        with tempfile.TemporaryDirectory(prefix="aq-fleet-") as temp:
            data_dir = Path(temp)
            started = time.perf_counter()
            fleet = provision(url, data_dir, args.stands)
            print(f"provisioned {len(fleet)} stands in {time.perf_counter() - started:.1f} s")
            port = free_port()
            server = serve(url, data_dir, port, args.workers, args.tail_reuse_ms)
            if args.burst:
                return burst(args, url, data_dir, fleet, server, port)
            try:
                plan = Plan(
                    port,
                    args.period,
                    args.rounds,
                    time.time() + 2,
                    len(fleet),
                    args.protocol,
                    args.session_every,
                )
                jobs = [
                    (plan, [(i, s) for i, s in enumerate(fleet) if i % args.processes == p])
                    for p in range(args.processes)
                ]
                at_start = children_cpu_s()
                postgres_at_start = postgres_cpu_s()
                deadlocks_at_start = postgres_deadlocks(url)
                with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
                    results = pool.map(simulate, jobs)
                generator_cpu_s = children_cpu_s() - at_start
                postgres_s = postgres_cpu_s() - postgres_at_start
                deadlocks = postgres_deadlocks(url) - deadlocks_at_start
            finally:
                server.terminate()
                server.wait(30)
            server_cpu_s = children_cpu_s() - at_start - generator_cpu_s
    latencies = sorted(ms for found, _errors in results for ms in found)
    errors = sum(failed for _found, failed in results)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{len(latencies)} requests ({args.rounds} rounds of a poll per stand every "
        f"{args.period:g} s, a session pushed every {args.session_every} round(s), gunicorn "
        f"with {args.workers} workers, PostgreSQL); "
        f"max {latencies[-1]:.0f} ms"
    )
    print(
        f"CPU: the central service {server_cpu_s:.1f} s "
        f"({server_cpu_s * 1000 / len(latencies):.1f} ms a request), "
        f"the simulated stands {generator_cpu_s:.1f} s, PostgreSQL {postgres_s:.1f} s "
        f"({postgres_s * 1000 / len(latencies):.1f} ms a request; all its processes, other "
        f"clients' too)"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"protocol {args.protocol}, directory_tail_reuse_ms {args.tail_reuse_ms}; "
        f"PostgreSQL ended {deadlocks} deadlocks; load average at the end: {load}"
    )
    print(f"fleet stands={len(fleet)} p50_ms={p50:.1f} p99_ms={p99:.1f} errors={errors}")


def burst(
    args: argparse.Namespace,
    url: str,
    data_dir: Path,
    fleet: list[SimulatedStand],
    server: subprocess.Popen[bytes],
    port: int,
) -> None:
    """``--burst``: every stand back within seconds after the outage (bench/fleetburst.py)."""
    import fleetburst  # here: it imports this module, which bench/fleet_nginx.py imports too

    plan = fleetburst.Burst(port, args.outage, args.period, args.return_within)
    sessions = max(1, int(args.outage // args.period))
    at_start = children_cpu_s()
    postgres_at_start = postgres_cpu_s()
    try:
        drain_s, errors, latencies = fleetburst.run_burst(plan, fleet)
    finally:
        server.terminate()
        server.wait(30)
    server_cpu_s = children_cpu_s() - at_start
    postgres_s = postgres_cpu_s() - postgres_at_start
    mismatches = fleetburst.check_ledger(url, data_dir, fleet, sessions)
    print(
        f"{len(fleet)} stands back within {args.return_within:g} s, {sessions} sessions each "
        f"queued over {args.outage:g} s; {len(latencies)} requests: "
        f"{fleetburst.summary(latencies)}"
    )
    print(
        f"CPU: the central service {server_cpu_s:.1f} s "
        f"({server_cpu_s * 1000 / max(1, len(latencies)):.1f} ms a request), PostgreSQL "
        f"{postgres_s:.1f} s ({postgres_s * 1000 / max(1, len(latencies)):.1f} ms a request, "
        f"all of the server's processes)"
    )
    print(f"ledger: {mismatches} mismatches (0: every event once, every stand acknowledged)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}")
    print(f"fleet_burst stands={len(fleet)} drain_s={drain_s:.1f} errors={errors + mismatches}")


def postgres_cpu_s() -> float:
    """CPU seconds of the PostgreSQL server's processes (all of them: on a shared machine
    other clients' work counts too), from /proc; 0 where it is not readable."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name.startswith("postgres"):
            fields = text[text.rfind(")") + 2 :].split()
            # Own time and that of reaped children: a backend's time moves to the postmaster's
            # when it exits.
            total += sum(int(value) for value in fields[11:15]) / tick
    return total


def postgres_deadlocks(url: str) -> int:
    """The deadlocks PostgreSQL has ended in the bench's database so far (its statistics:
    a batch ended so counts as an error here and is resent by a real stand)."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    connection.close()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
