"""A stand's first directory download with 100,000 clients, and the size of an idle poll.

For SQLite (a file in a temporary directory) and, when it answers, PostgreSQL
(``postgresql://postgres@127.0.0.1:5432/test``, in a private schema dropped afterwards): a fresh
central database gets a site, a stand (enrolled for real: provisioning code → token), a tariff,
four staff members and ``--clients`` members each with a card and a plate, bulk-inserted with
``insert_many`` and then given their change entries as a bulk load does
(``cloud.changes.adopt_unlogged``, timed apart). The central app is served by werkzeug in a
thread on 127.0.0.1 (port 0); the stand's first download walks ``GET /sync/v1/directory`` from
cursor 0 with requests until ``more`` is false (wall time, and body bytes as sent: gzip, which requests
asks for), then polls once more with the cursor it got (nothing changed: the bytes of an idle
poll). Every page is validated
with ``sync.directorypage.validate_directory_page`` after the clock stops, and the walk must have
brought every client and credential.

    .venv/bin/python bench/directory_download.py [--clients 100000] [--limit 1000]

Last lines: ``directory_download db=sqlite clients=… first_s=… first_bytes=… idle_poll_bytes=…``
and the same for ``db=postgresql``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from scratch import on_each_database
from werkzeug.serving import make_server

from cloud import create_app
from cloud.catalog import tariffs
from cloud.changes import adopt_unlogged
from cloud.db import db_proxy, release, utcnow
from cloud.migrations import upgrade
from cloud.models import Client, Credential, Site, name_search_key
from cloud.staff import service as staffbook
from cloud.standsync.standauth import enrol, provision_stand
from sync.directorypage import validate_directory_page
from sync.document import format_utc
from sync.pricing import Rates

LETTERS = "АВЕКМНОРСТУХ"
CHUNK = 1000


def plate(number: int) -> str:
    """A distinct normalised plate for each number below 1,728,000 (А000АА77 …)."""
    digits, rest = number % 1000, number // 1000
    first, second, third = rest % 12, rest // 12 % 12, rest // 144 % 12
    return f"{LETTERS[first]}{digits:03d}{LETTERS[second]}{LETTERS[third]}77"


def fill(count: int) -> str:
    """The site, stand, tariff, staff and ``count`` clients; returns the stand's token."""
    site = Site.create(name="Мойка на Ленина")
    rates = Rates(1000, 1500, 60, 5000, None, 10)
    tariffs.create_tariff(None, name="Стандарт", rates=rates, now=datetime.now(UTC))
    for number, role in enumerate(("attendant", "operator", "administrator", "owner"), 1):
        staffbook.create_staff(
            name=f"Сотрудник {role}",
            phone=f"+7900000000{number}",
            role=role,
            password=secrets.token_urlsafe(16),
            pin=f"{number}" * 6,
            site_ids=[site.id],
        )
    now = utcnow()
    with db_proxy.atomic():
        for start in range(0, count, CHUNK):
            rows = [
                {
                    "kind": "member",
                    "name": f"Клиент {n}",
                    "search_name": name_search_key(f"Клиент {n}"),
                    "home_site": site.id,
                    "member_since": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(start, min(start + CHUNK, count))
            ]
            Client.insert_many(rows).execute()
        ids = [i for (i,) in Client.select(Client.id).order_by(Client.id).tuples()]
        for start in range(0, len(ids), CHUNK // 2):
            rows = []
            for n, client_id in enumerate(ids[start : start + CHUNK // 2], start):
                rows.append(
                    {"client": client_id, "kind": "card", "value": f"{n:014X}", "created_at": now}
                )
                rows.append(
                    {"client": client_id, "kind": "plate", "value": plate(n), "created_at": now}
                )
            Credential.insert_many(rows).execute()
    code = provision_stand(site, "Пост 1", utcnow()).code
    _stand, token = enrol(code, utcnow())
    return token


def serve(app: Any) -> tuple[Any, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def download(base: str, token: str, limit: int) -> tuple[float, int, int, list[bytes], int]:
    """The walk from cursor 0: seconds, bytes on the wire and of JSON, the bodies, and the
    final cursor."""
    http = requests.Session()
    cursor, total, json_total, bodies = 0, 0, 0, []
    started = time.perf_counter()
    while True:
        headers = {"Authorization": f"Bearer {token}", "X-Stand-Clock": format_utc(utcnow())}
        response = http.get(
            f"{base}/sync/v1/directory",
            params={"cursor": cursor, "limit": limit},
            headers=headers,
            timeout=60,
        )
        response.raise_for_status()
        page = response.json()
        total += int(response.headers["Content-Length"])  # on the wire (gzip)
        json_total += len(response.content)
        bodies.append(response.content)
        cursor = page["cursor"]
        if not page["more"]:
            break
    return time.perf_counter() - started, total, json_total, bodies, cursor


def idle_poll(base: str, token: str, cursor: int) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}", "X-Stand-Clock": format_utc(utcnow())}
    response = requests.get(
        f"{base}/sync/v1/directory", params={"cursor": cursor}, headers=headers, timeout=60
    )
    response.raise_for_status()
    return int(response.headers["Content-Length"]), response.json()


def check(bodies: list[bytes], clients: int) -> None:
    import json

    client_ids: set[int] = set()
    credentials: set[tuple[str, str]] = set()
    for body in bodies:
        page = validate_directory_page(json.loads(body))
        client_ids |= {c.id for c in page.clients}
        credentials |= {(c.kind, c.value) for c in page.credentials}
    if len(client_ids) != clients or len(credentials) != 2 * clients:
        raise SystemExit(f"walk incomplete: {len(client_ids)} clients, {len(credentials)} creds")


def run(db: str, url: str, data_dir: Path, clients: int, limit: int) -> str:
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    database = app.extensions["aquastand_db"]
    upgrade(database)
    with app.app_context():
        started = time.perf_counter()
        token = fill(clients)
        fill_s = time.perf_counter() - started
        started = time.perf_counter()
        adopted = adopt_unlogged()
        adopt_s = time.perf_counter() - started
    release(database)
    server, base = serve(app)
    try:
        first_s, first_bytes, json_bytes, bodies, cursor = download(base, token, limit)
        idle_bytes, idle = idle_poll(base, token, cursor)
    finally:
        server.shutdown()
    if idle["upserts"]["clients"] or idle["cursor"] != cursor:
        raise SystemExit("the idle poll was not empty")
    check(bodies, clients)
    print(
        f"  {db}: filled in {fill_s:.1f} s, {adopted} change entries in {adopt_s:.1f} s, "
        f"{len(bodies)} pages of up to {limit} changes, {json_bytes} bytes of JSON "
        f"({first_bytes} gzipped on the wire)"
    )
    return (
        f"directory_download db={db} clients={clients} first_s={first_s:.2f} "
        f"first_bytes={first_bytes} idle_poll_bytes={idle_bytes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"python={platform.python_version()}"
    )
    lines = on_each_database(
        lambda db, url, data_dir: run(db, url, data_dir, args.clients, args.limit)
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
