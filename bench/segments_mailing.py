"""Segments and mailings on a chain-sized client base: how long a segment takes to count and
list, how long queueing a mailing to it takes (the part done in the web request), and how fast
``send-mailings`` sends next to bare ``smtplib`` over one connection to the same server.

For SQLite (a file in a temporary directory) and, when it answers, PostgreSQL
(``postgresql://postgres@127.0.0.1:5432/test``, in a private schema dropped afterwards): a fresh
database gets ``--clients`` members (every second one with an e-mail, every tenth
unsubscribed) with two sessions and their charges each, bulk-inserted. The segment is "members
with two visits or more in the period who spent at least 10 roubles"; the mailing goes to
everyone with an e-mail, and ``--send`` of its messages are sent to an aiosmtpd server on
127.0.0.1 (the rest are left queued).

    .venv/bin/python bench/segments_mailing.py [--clients 20000] [--send 500]

The database is ANALYZEd after the load, as a live one would be. Last lines:
``segments_mailing db=sqlite clients=… count_s=… page_s=… at_most_count_s=… queue_s=…
send_per_s=… bare_per_s=… ratio=…`` and the same for ``db=postgresql``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import smtplib
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import peewee
from aiosmtpd.controller import Controller
from scratch import on_each_database

from cloud import create_app
from cloud.clock import SystemClock
from cloud.db import db_proxy
from cloud.marketing import mailings
from cloud.marketing import segments as segmentbook
from cloud.migrations import upgrade
from cloud.models import (
    Client,
    LedgerEntry,
    MailingRecipient,
    Session,
    Site,
    Stand,
    Tariff,
    TariffVersion,
    name_search_key,
)

CHUNK = 1000
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Sink:
    """An SMTP server that accepts and counts, and sets ``full`` at ``limit`` messages."""

    def __init__(self) -> None:
        self.count = 0
        self.limit = 0
        self.full = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1  # one event-loop thread: no lock needed
        if self.count >= self.limit:
            self.full.set()
        return "250 OK"


def fill(count: int) -> None:
    site = Site.create(name="Мойка на Ленина")
    stand = Stand.create(site=site, name="Пост 1")
    tariff = Tariff.create(name="Стандарт")
    version = TariffVersion.create(
        tariff=tariff,
        effective_from=T0 - timedelta(days=365),
        member_per_minute=1000,
        guest_per_minute=1500,
    )
    with db_proxy.atomic():
        for start in range(0, count, CHUNK):
            Client.insert_many(
                [
                    {
                        "kind": "member",
                        "name": f"Клиент {n}",
                        "search_name": name_search_key(f"Клиент {n}"),
                        "email": f"c{n}@example.ru" if n % 2 == 0 else "",
                        "unsubscribed": n % 10 == 0,
                        "home_site": site.id,
                        "created_at": T0,
                        "updated_at": T0,
                    }
                    for n in range(start, min(start + CHUNK, count))
                ]
            ).execute()
        ids = [i for (i,) in Client.select(Client.id).order_by(Client.id).tuples()]
        for visit in range(2):
            for start in range(0, len(ids), CHUNK):
                sessions = []
                for n, client_id in enumerate(ids[start : start + CHUNK], start):
                    at = T0 + timedelta(days=visit * 10, minutes=n % 600)
                    sessions.append(
                        {
                            "client": client_id,
                            "stand": stand.id,
                            "site": site.id,
                            "tariff_version": version.id,
                            "client_kind": "member",
                            "started_at": at,
                            "ended_at": at + timedelta(minutes=5),
                            "duration_s": 300,
                            "cost_kopecks": 500 + n % 1000,
                            "start_method": "card",
                        }
                    )
                Session.insert_many(sessions).execute()
        charges = Session.select(
            Session.client,
            peewee.Value("charge"),
            peewee.Value(""),
            Session.cost_kopecks * -1,
            Session.id,
            Session.site,
            Session.ended_at,
            peewee.Value(0),
        )
        columns = [
            LedgerEntry.client,
            LedgerEntry.kind,
            LedgerEntry.reason,
            LedgerEntry.amount_kopecks,
            LedgerEntry.session,
            LedgerEntry.site,
            LedgerEntry.created_at,
            LedgerEntry.amount_points,
        ]
        LedgerEntry.insert_from(charges, columns).execute()


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def bare_smtp(port: int, count: int) -> float:
    """Seconds for ``count`` prebuilt messages over one smtplib connection: the floor."""
    messages = []
    for n in range(count):
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = "Скидка", "a@b.ru", f"c{n}@x.ru"
        message.set_content("Здравствуйте!", cte="base64")
        messages.append(message)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
        for message in messages:
            connection.send_message(message)
    return time.perf_counter() - started


def run(db: str, url: str, data_dir: Path, clients: int, send: int) -> str:
    sink = Sink()
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app = create_app(data_dir=data_dir, database_url=url, secret_key=secrets.token_hex(16))
    config = app.config["AQ"]
    config.smtp_host, config.smtp_port, config.smtp_security = "127.0.0.1", port, "none"
    config.smtp_sender = "news@aquastand.example"
    database = app.extensions["aquastand_db"]
    upgrade(database)
    try:
        with app.app_context():
            fill_s, _ = timed(lambda: fill(clients))
            # A live database has statistics (autovacuum); right after a bulk load PostgreSQL
            # has none and plans the joins of the subqueries as nested loops (over a minute).
            database.execute_sql("ANALYZE")
            conditions = segmentbook.parse_filter(
                {
                    "kind": "member",
                    "period_from": "2026-03-01",
                    "period_to": "2026-03-31",
                    "visits_min": 2,
                    "spent_min_kopecks": 1000,
                }
            )
            segment = segmentbook.create_segment(None, "Постоянные", conditions)
            count_s, count = timed(lambda: segmentbook.members(segment, config.timezone).count())
            page_s, _ = timed(lambda: segmentbook.member_page(segment, config.timezone, 50, 500))
            rare = segmentbook.create_segment(
                None,
                "Редкие",
                segmentbook.parse_filter({"visits_max": 1, "spent_max_kopecks": 900}),
            )  # "at most": NOT IN subqueries
            at_most_s, _ = timed(lambda: segmentbook.members(rare, config.timezone).count())
            everyone = segmentbook.create_segment(None, "Все", segmentbook.SegmentFilter())
            queue_s, mailing = timed(
                lambda: mailings.create_mailing(None, everyone, "Скидка, {name}", "Текст", config)
            )
            queued = (
                MailingRecipient.select()
                .where(
                    (MailingRecipient.mailing == mailing.id) & (MailingRecipient.status == "queued")
                )
                .count()
            )
            sink.limit, sink.count = send, 0
            send_s, report = timed(lambda: mailings.send_queued(config, SystemClock(), sink.full))
            bare_s = bare_smtp(port, report.sent)
    finally:
        database.close()
        controller.stop()
    per_s = report.sent / send_s
    bare_per_s = report.sent / bare_s
    print(
        f"  {db}: filled in {fill_s:.1f} s; segment of {count} clients; mailing to "
        f"{clients} clients: {queued} queued, the rest skipped; sent {report.sent} "
        f"in {send_s:.2f} s (bare smtplib {bare_s:.2f} s)"
    )
    return (
        f"segments_mailing db={db} clients={clients} count_s={count_s:.3f} "
        f"page_s={page_s:.3f} at_most_count_s={at_most_s:.3f} queue_s={queue_s:.2f} send_per_s={per_s:.0f} "
        f"bare_per_s={bare_per_s:.0f} ratio={per_s / bare_per_s:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--send", type=int, default=500)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"python={platform.python_version()}"
    )
    lines = on_each_database(
        lambda db, url, data_dir: run(db, url, data_dir, args.clients, args.send)
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
