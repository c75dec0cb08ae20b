"""Time of every integrity check (cloud/integrity/checks.py) on a big database, next to one bare
full scan of the ledger, the largest table.

For each database (an SQLite file in a temporary directory, and PostgreSQL in a private schema
dropped afterwards) the script writes ``--clients`` members with a card each, ``--sessions``
ended sessions spread over 10 stands with their charge entries and their started/ended stand
events (numbered 1..n per stand), a top-up per client, and each client's cached balance; then
one client with two open sessions, one balance off by a kopeck and one missing event, so
three checks have something to find. It runs ``run_checks`` and each check alone and prints
their times, and ``SELECT SUM(amount_kopecks) FROM ledger_entry`` as the baseline.

    .venv/bin/python bench/integrity_check.py [--clients 20000] [--sessions 200000]

Last lines: ``integrity_check db=sqlite sessions=… all_s=… ledger_scan_s=… ratio=…`` and the
same for ``db=postgresql`` (skipped when PostgreSQL at ``AQUASTAND_BENCH_POSTGRES_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``, is not reachable).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
from scratch import on_each_database

from cloud import create_app
from cloud.db import db_proxy
from cloud.integrity.checks import CHECKS, run_checks
from cloud.migrations import upgrade
from cloud.models import (
    Client,
    Credential,
    LedgerEntry,
    Session,
    Site,
    Stand,
    StandEvent,
    Tariff,
    TariffVersion,
)

STANDS = 10
CHUNK = 500  # rows a statement: SQLite binds at most 32766 parameters
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(model: type[peewee.Model], rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        model.insert_many(rows[start : start + CHUNK]).execute()


def fill(clients: int, sessions: int) -> None:
    site = Site.create(name="Мойка на Ленина")
    stands = [Stand.create(site=site, name=f"Пост {n}") for n in range(1, STANDS + 1)]
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff, effective_from=T0, member_per_minute=1000, guest_per_minute=1500
    )
    with db_proxy.atomic():
        _insert(Client, [{"kind": "member", "name": f"Клиент {n}"} for n in range(clients)])
        ids = [i for (i,) in Client.select(Client.id).order_by(Client.id).tuples()]
        _insert(
            Credential,
            [{"client": c, "kind": "card", "value": f"{c:014X}"} for c in ids],
        )
        _insert(
            LedgerEntry,
            [
                {"client": c, "kind": "topup", "amount_kopecks": 100_000, "method": "cash"}
                for c in ids
            ],
        )
    seqs = dict.fromkeys((stand.id for stand in stands), 0)
    for start in range(0, sessions, CHUNK):
        with db_proxy.atomic():
            rows, events = [], []
            for n in range(start, min(start + CHUNK, sessions)):
                stand = stands[n % STANDS]
                began = T0 + timedelta(minutes=n)
                rows.append(
                    {
                        "uuid": str(uuid.UUID(int=n)),
                        "client": ids[n % len(ids)],
                        "stand": stand.id,
                        "site": site.id,
                        "tariff_version": version.id,
                        "client_kind": "member",
                        "started_at": began,
                        "ended_at": began + timedelta(minutes=10),
                        "duration_s": 600,
                        "cost_kopecks": 10_000,
                        "start_method": "card",
                        "end_method": "card",
                    }
                )
                for kind in ("session.started", "session.ended"):
                    seqs[stand.id] += 1
                    events.append(_event(stand.id, seqs[stand.id], kind, began))
            _insert(Session, rows)
            _insert(StandEvent, events)
    with db_proxy.atomic():
        charges = Session.select(
            Session.client,
            peewee.Value("charge"),
            0 - Session.cost_kopecks,
            Session.id,
            peewee.Value(""),
            Session.ended_at,
            peewee.Value(0),
        )
        columns = [LedgerEntry.client, LedgerEntry.kind, LedgerEntry.amount_kopecks]
        columns += [LedgerEntry.session, LedgerEntry.reason, LedgerEntry.created_at]
        columns += [LedgerEntry.amount_points]
        LedgerEntry.insert_from(charges, columns).execute()
        total = LedgerEntry.select(peewee.fn.SUM(LedgerEntry.amount_kopecks)).where(
            LedgerEntry.client == Client.id
        )
        Client.update(balance_kopecks=peewee.fn.COALESCE(total, 0)).execute()
    _dirty(ids, stands, version, seqs)


def _event(stand_id: int, seq: int, kind: str, at: datetime) -> dict[str, object]:
    return {
        "stand": stand_id,
        "seq": seq,
        "event_uuid": str(uuid.uuid4()),
        "type": kind,
        "occurred_at_raw": at.isoformat(),
        "occurred_at": at,
        "time_source": "clock",
        "boot_id": "b",
        "mono_ms": 0,
        "actor": "card",
        "directory_version": 1,
        "payload": "{}",
    }


def _dirty(ids: list[int], stands: list[Stand], version: TariffVersion, seqs: dict) -> None:
    """One violation each for three checks."""
    for stand in stands[:2]:
        Session.create(
            client=ids[0],
            stand=stand,
            site=stand.site_id,
            tariff_version=version,
            client_kind="member",
            started_at=T0,
            start_method="card",
        )
    Client.update(balance_kopecks=Client.balance_kopecks + 1).where(Client.id == ids[1]).execute()
    last = stands[-1].id
    StandEvent.insert(_event(last, seqs[last] + 2, "tap.refused", T0)).execute()


def timed(work: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()  # type: ignore[operator]
    return time.perf_counter() - started, result


def run(db: str, url: str, data_dir: Path, clients: int, sessions: int) -> str:
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    database = app.extensions["aquastand_db"]
    upgrade(database)
    with app.app_context():
        fill_s, _none = timed(lambda: fill(clients, sessions))
        if db == "postgresql":
            database.execute_sql("ANALYZE")
        scan_s, _sum = timed(
            lambda: LedgerEntry.select(peewee.fn.SUM(LedgerEntry.amount_kopecks)).scalar()
        )
        all_s, results = timed(run_checks)
        found = {r.code: len(r.violations) for r in results}  # type: ignore[attr-defined]
        print(f"  {db}: filled in {fill_s:.1f} s; violations found: {found}")
        for check in CHECKS:
            seconds, _found = timed(lambda check=check: check.run(100))
            print(f"    {check.code:<16} {seconds * 1000:8.1f} ms")
    database.close()
    return (
        f"integrity_check db={db} sessions={sessions} clients={clients} all_s={all_s:.2f} "
        f"ledger_scan_s={scan_s:.3f} ratio={all_s / scan_s:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=200_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"python={platform.python_version()}"
    )
    lines = on_each_database(
        lambda db, url, data_dir: run(db, url, data_dir, args.clients, args.sessions)
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
