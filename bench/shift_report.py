"""How long the Shifts report takes: ``--shifts`` shifts of ``--topups`` top-ups each over
``--stands`` stands (plus top-ups outside shifts), fed through the real ingest
(``apply_batch``), on SQLite and, if it answers, PostgreSQL (a private schema, dropped
afterwards). Prints the median of ``--repeats`` runs after a warm-up of ``shifts_for`` (every
shift with its report from the ledger) and ``outside_shifts``, next to a bare ``SUM ... GROUP
BY method`` of every top-up in the ledger, and last ``shift_report shifts=… ms=…`` (the
slowest of the two).

    .venv/bin/python bench/shift_report.py [--shifts 500] [--topups 20] [--stands 10]
"""

from __future__ import annotations

import argparse
import platform
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee
from scratch import postgres_schema

from cloud import create_app
from cloud.db import db_proxy, utcnow
from cloud.migrations import upgrade
from cloud.models import Client, LedgerEntry, Site, Stand, User
from cloud.shifts import service
from cloud.staff.service import create_staff
from cloud.standsync.ingest import StandClock, apply_batch
from sync.document import format_utc

METHODS = ("cash", "card", "cash", "transfer")


def _event(stand: int, seq: int, at: datetime, kind: str, payload: dict[str, Any], actor: str):
    return {
        "id": str(uuid.uuid4()),
        "stand_id": stand,
        "seq": seq,
        "type": kind,
        "occurred_at": format_utc(at),
        "boot_id": "00000000-0000-4000-8000-000000000000",
        "mono_ms": seq * 1000,
        "actor": actor,
        "directory_version": 1,
        "payload": payload,
    }


def _stand_events(
    stand: int, start: datetime, actor: str, client: int, shifts: int, topups: int
) -> list[dict[str, Any]]:
    """One stand's events: each shift opened, its top-ups, closed, then a top-up outside."""
    events: list[dict[str, Any]] = []

    def add(kind: str, payload: dict[str, Any]) -> None:
        seq = len(events) + 1
        at = start + timedelta(seconds=30 * seq)
        events.append(_event(stand, seq, at, kind, payload, actor))

    def topup(amount: int, method: str) -> None:
        add(
            "topup.recorded",
            {
                "topup_uuid": str(uuid.uuid4()),
                "client_id": client,
                "client_uuid": None,
                "amount_kopecks": amount,
                "method": method,
            },
        )

    for _shift in range(shifts):
        shift_uuid = str(uuid.uuid4())
        add("shift.opened", {"shift_uuid": shift_uuid, "cash_kopecks": 100_000})
        for index in range(topups):
            topup(1_000 + index, METHODS[index % len(METHODS)])
        add("shift.closed", {"shift_uuid": shift_uuid, "counted_kopecks": 150_000})
        topup(500, "cash")
    return events


def fill(shifts: int, topups: int, stands: int) -> User:
    """The chain's data, through the ingest; returns the owner."""
    site = Site.create(name="Площадка")
    owner = create_staff(name="Владелец", phone="+79000000009", role="owner", password="x" * 12)
    attendant = create_staff(
        name="Анна",
        phone="+79000000001",
        role="attendant",
        password="x" * 12,
        pin="123456",
        site_names=[site.name],
    )
    client = Client.create(kind="member", name="Иван", home_site=site)
    start = utcnow() - timedelta(days=20)
    actor = str(attendant.id)
    for number in range(stands):
        stand = Stand.create(site=site, name=f"Пост {number + 1}")
        events = _stand_events(stand.id, start, actor, client.id, shifts // stands, topups)
        clock = StandClock(now=utcnow(), stand_time=utcnow(), boot_id=str(uuid.uuid4()), mono_ms=1)
        for first in range(0, len(events), 500):
            apply_batch(stand, events[first : first + 500], clock)
    return owner


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def measure(url: str, name: str, args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as data:
        app = create_app(data_dir=Path(data), database_url=url, secret_key=secrets.token_hex(16))
        upgrade(app.extensions["aquastand_db"])
        with app.app_context():
            began = time.perf_counter()
            owner = fill(args.shifts, args.topups, args.stands)
            filled_s = time.perf_counter() - began
            if url.startswith("postgresql"):
                db_proxy.execute_sql("ANALYZE")  # as autovacuum would after such a load
            today = datetime.now(UTC).date()
            period = service.filter_from(
                {"from": str(today - timedelta(days=30)), "to": str(today)}, "UTC", utcnow()
            ).period
            wanted = service.ShiftFilter(period=period)
            rows = service.shifts_for(owner, wanted, utcnow())
            assert len(rows) == min(args.shifts, service.LIMIT), len(rows)
            report = median_ms(lambda: service.shifts_for(owner, wanted, utcnow()), args.repeats)
            outside = median_ms(lambda: service.outside_shifts(owner, wanted), args.repeats)
            bare = median_ms(
                lambda: list(
                    LedgerEntry.select(
                        LedgerEntry.method, peewee.fn.SUM(LedgerEntry.amount_kopecks)
                    )
                    .where(LedgerEntry.kind == "topup")
                    .group_by(LedgerEntry.method)
                    .tuples()
                ),
                args.repeats,
            )
    print(
        f"{name}: filled in {filled_s:.1f} s; shifts_for {report:.1f} ms ({len(rows)} shifts), "
        f"outside_shifts {outside:.1f} ms, bare ledger sum {bare:.1f} ms"
    )
    return max(report, outside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shifts", type=int, default=500)
    parser.add_argument("--topups", type=int, default=20)
    parser.add_argument("--stands", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(platform.platform(), platform.python_version())
    with tempfile.TemporaryDirectory() as tmp:
        worst = measure(f"sqlite:///{tmp}/bench.sqlite3", "sqlite", args)
    with postgres_schema() as url:
        if url is not None:
            worst = max(worst, measure(url, "postgresql", args))
    print(f"shift_report shifts={args.shifts} topups={args.shifts * args.topups} ms={worst:.1f}")


if __name__ == "__main__":
    main()
