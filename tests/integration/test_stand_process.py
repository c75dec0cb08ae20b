"""The stand as its own process (``aquastand-edge run --simulate``, enrolled with
``aquastand-edge enrol``) syncing with the central service over HTTP, killed with SIGKILL at
random points while it pushes its outbox and started again: every event reaches the central
ledger exactly once."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.ledger.service import post_entry
from cloud.models import LedgerEntry, Session, StandEvent
from edge.config import load_config
from edge.engine import Engine
from edge.store import Store
from tests.integration.conftest import (
    Central,
    RecordingFeedback,
    StepClock,
    provision,
    wait_for,
)

EDGE = str(Path(sys.executable).with_name("aquastand-edge"))
MEMBER_CARD = "04A1B2C3D4E5F6"


def _free(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AQUASTAND_DATA_DIR": str(data_dir),
        "AQUASTAND_EDGE_PORT": str(_free(socket.SOCK_STREAM)),
        "AQUASTAND_NFC_DEVICE": f"udp:127.0.0.1:{_free(socket.SOCK_DGRAM)}",
        "AQUASTAND_EDGE_SYNC_INTERVAL_S": "0.2",
        "AQUASTAND_EDGE_SYNC_MAX_BACKOFF_S": "1",
        "AQUASTAND_EDGE_SYNC_BATCH_SIZE": "5",
    }


def _run(data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EDGE, "run", "--simulate"],
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    process.send_signal(sig)
    process.wait(timeout=20)


def _central_events(stand_id: int) -> int:
    return int(StandEvent.select().where(StandEvent.stand == stand_id).count())


def test_a_stand_killed_while_pushing_and_restarted_loses_and_doubles_nothing(
    central: Central, world: Any, tmp_path: Path
) -> None:
    post_entry(world.member, "topup", 10_000_000, method="cash")
    data_dir = tmp_path / "stand"
    enrolled = subprocess.run(
        [EDGE, "enrol", "--central", central.url, "--code", provision(world.site_a, "Пост 5")],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(data_dir)})
    stand_id = config.stand_id

    # First run: the directory comes down; then the stand is stopped.
    process = _run(data_dir)
    try:
        wait_for(
            "the first sync",
            lambda: StandEvent.select().count() == 0 and _heartbeat_seen(stand_id),
        )
    finally:
        _stop(process, signal.SIGTERM)

    # 150 sessions and 100 top-ups while the stand process is down: 400 events to push.
    store = Store(config.database_path)
    clock = StepClock()
    engine = Engine(store, RecordingFeedback(), config, clock)
    for number in range(150):
        engine.on_uid(MEMBER_CARD)
        clock.advance(61)
        engine.on_uid(MEMBER_CARD)
        clock.advance(5)
        if number % 3 == 0:
            engine.record_topup(world.member.id, 1_000, "cash", world.users["attendant"].id)
    total = store.outbox_size()
    store.close()
    assert total == 350

    rng = random.Random(7)
    for _ in range(5):
        process = _run(data_dir)
        time.sleep(rng.uniform(0.6, 2.0))
        _stop(process, signal.SIGKILL)
    process = _run(data_dir)
    try:
        wait_for(
            "every event at the central service, acknowledged at the stand",
            lambda: _central_events(stand_id) == total and _unacked(config.database_path) == 0,
        )
    finally:
        _stop(process, signal.SIGTERM)

    store = Store(config.database_path)
    try:
        outbox = {row.id: row.seq for row in store.tables.Outbox.select()}
        central_events = {
            row.event_uuid: row.seq
            for row in StandEvent.select().where(StandEvent.stand == stand_id)
        }
        assert central_events == outbox
        local_sessions = {s.uuid: s.cost_kopecks for s in store.tables.LocalSession.select()}
        central_sessions = {
            s.uuid: s.cost_kopecks for s in Session.select().where(Session.stand == stand_id)
        }
        assert central_sessions == local_sessions
        local_money = sorted(
            (e.event_id, e.amount_kopecks) for e in store.tables.LocalLedger.select()
        )
        central_money = sorted(
            (e.event.event_uuid, e.amount_kopecks)
            for e in LedgerEntry.select().join(StandEvent).where(StandEvent.stand == stand_id)
        )
        assert central_money == local_money
    finally:
        store.close()


def _unacked(database: Path) -> int:
    """The stand's unacknowledged events, read beside the running stand process."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM outbox WHERE NOT acked").fetchone()[0])


def _heartbeat_seen(stand_id: int) -> bool:
    from cloud.models import StandHeartbeat

    return bool(StandHeartbeat.select().where(StandHeartbeat.stand == stand_id).exists())
