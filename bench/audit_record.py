"""What the audit log costs a staff action: ``record_topup`` (the ledger entry, the balance
and its audit row in one transaction) next to ``post_entry`` alone (the same entry without
the row), ``--count`` of each, and how long a page of the owner's Audit page (50 rows, no
filter, and filtered by action) takes over the rows written; on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_record.py [--count 500]

Last lines: ``audit_record db=… count=… topup_ms=… bare_ms=… ratio=… page_ms=…``."""

from __future__ import annotations

import argparse
import platform
import secrets
import time
from pathlib import Path

from scratch import on_each_database

from cloud import create_app
from cloud.audit import search
from cloud.db import db_proxy
from cloud.ledger import service as ledger
from cloud.migrations import upgrade
from cloud.models import Client, User
from cloud.staff.service import create_staff


def _ms(started: float, count: int = 1) -> float:
    return (time.perf_counter() - started) * 1000 / count


def run(count: int, db: str, url: str, data_dir: Path) -> str:
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    with app.app_context():
        upgrade(db_proxy.obj)
        owner: User = create_staff(
            name="Владелец", phone="+79000000004", role="owner", password=secrets.token_urlsafe(16)
        )
        client = Client.create(kind="member", name="Клиент")
        started = time.perf_counter()
        for _ in range(count):
            ledger.post_entry(client, "topup", 100, method="cash", created_by=owner)
        bare = _ms(started, count)
        started = time.perf_counter()
        for _ in range(count):
            ledger.record_topup(owner, client, 100, "cash")
        topup = _ms(started, count)
        chosen = search.AuditFilter("Europe/Moscow")
        started = time.perf_counter()
        rows, total = search.find(chosen, 50, 0)
        page = _ms(started)
        by_action = search.AuditFilter("Europe/Moscow", action="ledger.topup")
        started = time.perf_counter()
        search.find(by_action, 50, count - 50)
        filtered = _ms(started)
    db_proxy.obj.close()
    print(f"  {db}: {len(rows)} of {total} rows; page {page:.1f} ms, filtered {filtered:.1f} ms")
    return (
        f"audit_record db={db} count={count} topup_ms={topup:.2f} bare_ms={bare:.2f} "
        f"ratio={topup / bare:.2f} page_ms={page:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    count = max(60, parser.parse_args().count)
    print(
        f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    )
    for line in on_each_database(lambda db, url, data_dir: run(count, db, url, data_dir)):
        print(line)


if __name__ == "__main__":
    main()
