"""The bytes a busy poll carries in sync protocol 2 (whole client entries) and protocol 3
(balance-only changes compact, sync/balances.py), for the same changes.

An SQLite central database (a temporary file) gets ``--clients`` members, each with a card and
a plate (bench/directory_download.py's ``fill``); the window they lie in is closed, then
``--changes`` of them are topped up one by one through the ledger service, as a chain's
sessions change balances. A stand's poll from the cursor before them (the windows from there to
the tail) is then read in both forms, as JSON and gzipped as the service sends it to a stand
that accepts gzip; each window is validated by the stand's own reader
(sync/directorywindow.py), and the poll must carry every client topped up.

    .venv/bin/python bench/compact_poll.py [--clients 5000] [--changes 1000]

Last line: ``compact_poll changes=… whole_bytes=… compact_bytes=… whole_gzip=… compact_gzip=…
gzip_ratio=…`` (compact over whole, gzipped).
"""

from __future__ import annotations

import argparse
import gzip
import json
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from directory_download import fill
from flask import Flask

from cloud import create_app
from cloud.changes import adopt_unlogged, current_position
from cloud.db import db_proxy, release
from cloud.ledger import service as ledger
from cloud.migrations import upgrade
from cloud.models import Client, DirectoryCounter
from sync.directorywindow import WINDOW, validate_window_page
from sync.document import format_utc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args()
    if not 0 < args.changes <= args.clients:
        parser.error("--changes: 1 to the number of clients")
    with tempfile.TemporaryDirectory(prefix="aq-compact-") as temp:
        url = f"sqlite:///{Path(temp) / 'central.db'}"
        app = create_app(data_dir=Path(temp), database_url=url, secret_key=secrets.token_hex(16))
        upgrade(app.extensions["aquastand_db"])
        with app.app_context():
            token = fill(args.clients)
            adopt_unlogged()
            with db_proxy.atomic():  # the clients' window closes: the changes start a new one
                DirectoryCounter.update(position=DirectoryCounter.position + WINDOW).execute()
            start = current_position() // WINDOW * WINDOW
            for client in Client.select().order_by(Client.id).limit(args.changes):
                ledger.record_topup(None, client, 100_00, "cash")
            release(app.extensions["aquastand_db"])
        sizes = {p: poll(app, token, start, p, args.changes) for p in (2, 3)}
    (whole, whole_gzip), (compact, compact_gzip) = sizes[2], sizes[3]
    print(f"  a poll after {args.changes} top-ups among {args.clients} clients, in bytes:")
    print(f"  protocol 2 (whole entries): {whole} JSON, {whole_gzip} gzipped")
    print(f"  protocol 3 (compact):       {compact} JSON, {compact_gzip} gzipped")
    print(
        f"compact_poll changes={args.changes} whole_bytes={whole} compact_bytes={compact} "
        f"whole_gzip={whole_gzip} compact_gzip={compact_gzip} "
        f"gzip_ratio={compact_gzip / whole_gzip:.3f}"
    )


def poll(app: Flask, token: str, start: int, protocol: int, changes: int) -> tuple[int, int]:
    """The JSON bytes and gzipped bytes of the windows from ``start`` to the tail in the form
    of ``protocol`` (a stand's poll from that cursor), each checked by the stand's reader."""
    client = app.test_client()
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Stand-Clock": format_utc(datetime.now(UTC)),
        "Accept-Encoding": "gzip",
    }
    raw = zipped = 0
    carried: set[int] = set()
    while True:
        response = client.get(
            f"/sync/v1/directory/window/{start}?protocol={protocol}", headers=headers
        )
        if response.status_code != 200:
            raise SystemExit(f"protocol {protocol}: HTTP {response.status_code}")
        data = response.get_data()
        body = gzip.decompress(data) if response.headers.get("Content-Encoding") else data
        page = validate_window_page(json.loads(body))
        carried |= {c.id for c in page.clients} | {b.id for b in page.balances}
        raw, zipped = raw + len(body), zipped + len(data)
        if not page.closed:
            break
        start += WINDOW
    if len(carried) != changes:
        raise SystemExit(f"protocol {protocol}: the poll carries {len(carried)} of {changes}")
    return raw, zipped


if __name__ == "__main__":
    main()
