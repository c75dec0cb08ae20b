"""The outage burst of ``bench/fleet.py --burst``: the central service was down for a simulated
``--outage`` seconds (10 minutes) while every stand kept washing, so each comes back with a
session every ``--period`` seconds of it queued in its outbox; all stands come back within
``--return-within`` seconds (each at a random moment of it) and push their outbox as the agent
does (batches of ``sync.agent.BATCH_SIZE``, a failed request retried after a back-off with
jitter, never dropped). The directory poll that follows is left out: after 10 minutes of a whole
chain's sessions it walks tens of shared windows per stand, which ``--stands`` without
``--burst`` measures.

Measured: ``drain_s``, from the first stand's return until the last outbox is empty (every
event acknowledged); ``errors``, the requests answered with anything but 200 or not at all (each
retried until it succeeds). Then the ledger is checked: every queued session is in it once, with
one charge (``every event once``), and every stand's last seq is acknowledged.

Last line: ``fleet_burst stands=… drain_s=… errors=…``.
"""

from __future__ import annotations

import json
import random
import secrets
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee as pw
import urllib3
from fleet import SimulatedStand, batch

from cloud import create_app
from cloud.db import release
from cloud.models import LedgerEntry, Session, Stand, StandEvent
from cloud.standsync.ingest import last_seq
from sync.agent import BATCH_SIZE
from sync.document import format_utc


@dataclass(frozen=True)
class Burst:
    port: int
    outage_s: float
    period_s: float
    return_within_s: float
    threads: int = 64


def queued(stand: SimulatedStand, count: int, outage_s: float) -> list[dict[str, Any]]:
    """The stand's outbox after the outage: ``count`` sessions spread over it, oldest first."""
    boot_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for number in range(count):
        started, ended = batch(stand, number, boot_id)
        ended_at = now - timedelta(seconds=outage_s * (count - number) / count)
        started_at = ended_at - timedelta(seconds=300 + number)
        started["occurred_at"] = format_utc(started_at)
        ended["occurred_at"] = format_utc(ended_at)
        events += [started, ended]
    return events


def drain(
    http: urllib3.HTTPConnectionPool, stand: SimulatedStand, events: list[dict[str, Any]]
) -> tuple[float, int, list[float]]:
    """Push the outbox until it is empty, retrying; when it emptied, errors, latencies."""
    errors, latencies, sent, delay = 0, [], 0, 0.5
    while sent < len(events):
        chunk = events[sent : sent + BATCH_SIZE]
        headers = {
            "Authorization": f"Bearer {stand.token}",
            "X-Stand-Clock": format_utc(datetime.now(UTC)),
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        try:
            reply = http.request(
                "POST", "/sync/v1/events", body=json.dumps({"events": chunk}), headers=headers
            )
            acked = json.loads(reply.data).get("acked_seq") if reply.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError):
            acked = None
        latencies.append((time.perf_counter() - started) * 1000)
        if isinstance(acked, int) and acked >= chunk[0]["seq"]:
            sent = acked  # seq n is events[n - 1]
            delay = 0.5
            continue
        errors += 1
        time.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 8.0)
    emptied = time.time()
    return emptied, errors, latencies


def run_burst(plan: Burst, fleet: list[SimulatedStand]) -> tuple[float, int, list[float]]:
    """All stands return within the plan's window and drain; (drain_s, errors, latencies)."""
    count = max(1, int(plan.outage_s // plan.period_s))
    outboxes = {s.stand_id: queued(s, count, plan.outage_s) for s in fleet}
    local = threading.local()
    first = time.time() + 1
    returns = {s.stand_id: first + random.uniform(0, plan.return_within_s) for s in fleet}

    def one(stand: SimulatedStand) -> tuple[float, int, list[float]]:
        time.sleep(max(0.0, returns[stand.stand_id] - time.time()))
        if not hasattr(local, "http"):
            local.http = urllib3.HTTPConnectionPool(
                "127.0.0.1", plan.port, maxsize=1, timeout=60.0, retries=False
            )
        return drain(local.http, stand, outboxes[stand.stand_id])

    ordered = sorted(fleet, key=lambda s: returns[s.stand_id])
    with ThreadPoolExecutor(plan.threads) as pool:
        results = list(pool.map(one, ordered))
    drain_s = max(emptied for emptied, _e, _l in results) - min(returns.values())
    errors = sum(e for _t, e, _l in results)
    latencies = sorted(ms for _t, _e, found in results for ms in found)
    return drain_s, errors, latencies


def check_ledger(url: str, data_dir: Any, fleet: list[SimulatedStand], sessions: int) -> int:
    """Mismatches between the queued sessions and the central records (0: every event once)."""
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    mismatches = 0
    with app.app_context():
        ended = Session.select().where(Session.ended_at.is_null(False)).count()
        mismatches += abs(ended - len(fleet) * sessions)
        charges = (
            LedgerEntry.select(LedgerEntry.session, pw.fn.COUNT(LedgerEntry.id).alias("n"))
            .where(LedgerEntry.session.is_null(False))
            .group_by(LedgerEntry.session)
        )
        counts = [row.n for row in charges]
        mismatches += abs(len(counts) - len(fleet) * sessions) + sum(n - 1 for n in counts)
        mismatches += abs(StandEvent.select().count() - len(fleet) * sessions * 2)
        stands = {s.id: s for s in Stand.select()}
        mismatches += sum(last_seq(stands[s.stand_id]) != 2 * sessions for s in fleet)
    release(app.extensions["aquastand_db"])
    return mismatches


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "no requests"
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms"
    )
