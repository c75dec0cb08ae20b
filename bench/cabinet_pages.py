"""How long each page of the client cabinet takes on the demo data: every GET page under
``/my/`` of a logged-in client (read from the app's routes, so a new page is measured by
itself), the log-in page, and the client API's GETs, as the demo member with the most washes.

The demo chain (``cloud.demodata``: a month of sessions over three stands) goes into a fresh
SQLite database in a temporary directory, and with ``--postgresql`` also into a private schema
of ``AQUASTAND_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
dropped afterwards). Each page is requested through the Flask test client ``--repeats`` times
after one warm-up; its median and worst are printed, one line each, and last
``cabinet_pages database=… slowest_ms=… slowest=…``. The target is every page under 300 ms.

    .venv/bin/python bench/cabinet_pages.py [--repeats 20] [--postgresql]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import peewee
from scratch import postgres_schema

from cloud import create_app
from cloud.cabinet import auth
from cloud.cabinet.auth import COOKIE
from cloud.demodata import load_demo_data
from cloud.migrations import upgrade
from cloud.models import Client, Session

TARGET_MS = 300


def _busiest_member() -> Client:
    busiest = (
        Session.select(Session.client, peewee.fn.COUNT(Session.id).alias("n"))
        .join(Client, on=Session.client == Client.id)
        .where(Client.kind == "member")
        .group_by(Session.client)
        .order_by(peewee.fn.COUNT(Session.id).desc())
        .first()
    )
    client: Client = Client.get_by_id(busiest.client_id)
    return client


def _pages(app: Any) -> list[str]:
    paths = ["/my/login"]
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "GET" in rule.methods and getattr(view, "client_route", False) and not rule.arguments:
            paths.append(rule.rule)
    return sorted(set(paths))


def measure(database_url: str, data_dir: Path, repeats: int) -> list[tuple[str, float, float]]:
    app = create_app(data_dir=data_dir, database_url=database_url, secret_key="bench")  # noqa: S106
    upgrade(app.extensions["aquastand_db"])
    with app.app_context():
        load_demo_data(ZoneInfo("Europe/Moscow"), datetime.now(UTC))
        member = _busiest_member()
        washes = Session.select().where(Session.client == member).count()
        with app.test_request_context():
            cookie = auth.open_session(member, "web")
            bearer = auth.open_session(member, "api")
    print(f"member {member.id} washes={washes}")
    # Each request in an app context of its own, as served (``g`` is per request then).
    browser = app.test_client()
    browser.set_cookie(COOKIE, cookie, path="/my")
    headers = {"Authorization": f"Bearer {bearer}"}
    figures = []
    for path in _pages(app):
        extra = headers if path.startswith("/api/") else {}
        user = app.test_client() if path == "/my/login" else browser  # anonymous
        assert user.get(path, headers=extra).status_code == 200, path  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = user.get(path, headers=extra)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
        figures.append((path, statistics.median(times), max(times)))
    app.extensions["aquastand_db"].close()
    return figures


def report(name: str, figures: list[tuple[str, float, float]]) -> None:
    for path, median, worst in figures:
        print(f"page {name} {path} median_ms={median:.1f} max_ms={worst:.1f}")
    slowest = max(figures, key=lambda row: row[1])
    verdict = "ok" if slowest[1] < TARGET_MS else "OVER TARGET"
    print(
        f"cabinet_pages database={name} pages={len(figures)} slowest_ms={slowest[1]:.1f} "
        f"slowest={slowest[0]} target_ms={TARGET_MS} {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    print(f"machine {platform.machine()} {platform.python_version()} {platform.node()}")
    with tempfile.TemporaryDirectory(prefix="aq-bench-cabinet-") as scratch:
        sqlite = f"sqlite:///{scratch}/bench.sqlite3"
        report("sqlite", measure(sqlite, Path(scratch) / "sqlite", args.repeats))
        if args.postgresql:
            with postgres_schema() as url:
                if url is None:
                    print("PostgreSQL does not answer: skipped")
                else:
                    report("postgresql", measure(url, Path(scratch) / "pg", args.repeats))


if __name__ == "__main__":
    main()
