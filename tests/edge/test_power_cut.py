"""Power cuts: ``aquastand-edge run --simulate`` is killed (SIGKILL, no clean-up) at random
moments while it is serving QR scans and card taps, and started again. After every cut the
database, opened read-only beside it, holds whole actions only: each session with its
started (and, if ended, its ended) event and charge, each event with its effect, event
numbers with no gap and none reused. A session started before the cuts ends after them with
its duration from the clock, not from the restart."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import requests

from edge.camera import drop_frame, qr_png
from hardware.nfc import emulate_card
from tests.conftest import need
from tests.edge.conftest import (
    DEBOUNCE_S,
    IVAN,
    IVAN_CARD,
    SITE_ID,
    STAND_ID,
    TAP_S,
    WAIT_S,
    client,
    directory_doc,
    free_port,
    load_directory,
    qr_token,
    wait_for,
)

SEED = 20261123
ROUNDS = 5
SCANNED = range(100, 124)  # members shown by QR code during the cuts
FRAME_GAP_S = 0.04


def edge_command() -> str:
    path = Path(sys.executable).parent / "aquastand-edge"
    need(path.exists(), "the aquastand-edge script (pip install -e .)")
    return str(path)


class StandProcess:
    """The stand command as a child process, its output collected by a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [edge_command(), "run", "--simulate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stdout = self.process.stdout
        assert stdout is not None
        self._pump = threading.Thread(target=self._read, args=(stdout,))
        self._pump.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.lines.put(line)

    def ready(self) -> bool:
        while not self.lines.empty():
            self.output.append(self.lines.get_nowait())
        assert self.process.poll() is None, f"the stand exited early: {self.output}"
        return any(line.startswith("ready") for line in self.output)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(WAIT_S)
        self._pump.join(WAIT_S)
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextmanager
def stand_process(env: dict[str, str]) -> Iterator[StandProcess]:
    stand = StandProcess(env)
    try:
        wait_for("the stand to be ready", stand.ready)
        yield stand
    finally:
        stand.kill()


@contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        connection.row_factory = sqlite3.Row
        yield connection


def check_whole(database: Path) -> list[tuple[int, str]]:
    """Assert the database holds whole actions only; returns the outbox's (seq, id) pairs."""
    with read_only(database) as db:
        outbox = db.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
        sessions = {row["uuid"]: row for row in db.execute("SELECT * FROM local_session")}
        ledger = db.execute("SELECT * FROM local_ledger").fetchall()
        next_seq = int(
            db.execute("SELECT value FROM store_meta WHERE key='next_seq'").fetchone()[0]
        )
    seqs = [row["seq"] for row in outbox]
    assert seqs == list(range(1, len(seqs) + 1)), "event numbers with a gap"
    assert next_seq == len(seqs) + 1, "the next event number does not follow the last"
    assert len({row["id"] for row in outbox}) == len(outbox), "an event id used twice"

    started: dict[str, Any] = {}
    ended: dict[str, Any] = {}
    for row in outbox:
        payload = json.loads(row["payload"])
        if row["type"] == "session.started":
            assert payload["session_uuid"] not in started, "a session started twice"
            started[payload["session_uuid"]] = row
        elif row["type"] == "session.ended":
            assert payload["session_uuid"] not in ended, "a session ended twice"
            ended[payload["session_uuid"]] = (row, payload)
    assert set(started) == set(sessions), "a session without its event, or an event without it"
    closed = {uuid for uuid, row in sessions.items() if row["ended_at"] is not None}
    assert set(ended) == closed, "an end without its event, or an event without the end"

    charges = {row["event_id"]: row for row in ledger}
    assert set(charges) <= {row["id"] for row in outbox}, "money moved with no event"
    for session_uuid, (event, payload) in ended.items():
        session = sessions[session_uuid]
        assert (payload["duration_s"], payload["cost_kopecks"]) == (
            session["duration_s"],
            session["cost_kopecks"],
        )
        charge = charges.get(event["id"])
        if payload["cost_kopecks"]:
            assert charge is not None, "an ended session without its charge"
            assert charge["amount_kopecks"] == -payload["cost_kopecks"]
            assert charge["session_uuid"] == session_uuid
        else:
            assert charge is None
    return [(row["seq"], row["id"]) for row in outbox]


def scan_frames() -> list[bytes]:
    """One QR code picture per scanned member, signed with the central key."""
    return [qr_png(qr_token(client_id, f"{client_id:032x}")) for client_id in SCANNED]


def feed(inbox: Path, frames: list[bytes], rng: random.Random, stop: threading.Event) -> None:
    """Show the members' QR codes to the camera one after another until ``stop``."""
    while not stop.is_set():
        drop_frame(inbox, rng.choice(frames))
        stop.wait(FRAME_GAP_S)


def ivan_is_washing(url: str) -> bool | None:
    """Whether Ivan has an open session, as ``GET /api/state`` says (None: no answer)."""
    try:
        response = requests.get(f"{url}/api/state", timeout=2)
    except requests.ConnectionError:
        return None
    return any(s["client_id"] == IVAN for s in response.json()["open_sessions"])


def test_a_stand_killed_at_random_moments_keeps_whole_actions_only(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "stand"
    database = data_dir / "edge.sqlite3"
    document = directory_doc()
    document["clients"] += [
        client(client_id, "member", f"Клиент {client_id}", 100_000) for client_id in SCANNED
    ]
    load_directory(database, document)
    port = free_port(socket.SOCK_STREAM)
    nfc = f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQUASTAND_")}
    env.update(
        AQUASTAND_DATA_DIR=str(data_dir),
        AQUASTAND_EDGE_STAND_ID=str(STAND_ID),
        AQUASTAND_EDGE_SITE_ID=str(SITE_ID),
        AQUASTAND_EDGE_PORT=str(port),
        AQUASTAND_NFC_DEVICE=nfc,
        AQUASTAND_EDGE_DEBOUNCE_S=str(DEBOUNCE_S),
        AQUASTAND_EDGE_TAP_REPEAT_S="0",
        AQUASTAND_EDGE_MAX_SESSION_S="0",
        # Many members wash alongside Ivan, each starting and ending within seconds.
        AQUASTAND_EDGE_ONE_SESSION_PER_POST="false",
        AQUASTAND_EDGE_END_GUARD_S="0",
        PYTHONUNBUFFERED="1",
    )
    url = f"http://127.0.0.1:{port}"
    inbox = data_dir / "camera"
    frames = scan_frames()

    # Ivan starts a session by card before the first cut.
    with stand_process(env):
        tap_began = time.monotonic()
        emulate_card(nfc, IVAN_CARD, duration_s=TAP_S)
        wait_for("Ivan's session to start", lambda: ivan_is_washing(url))
        seen_open = time.monotonic()
    history = check_whole(database)

    # Cuts while QR codes are being scanned: members' sessions start and end meanwhile.
    for number in range(ROUNDS):
        with stand_process(env) as stand:
            stop = threading.Event()
            feeder = threading.Thread(target=feed, args=(inbox, frames, rng, stop))
            feeder.start()
            try:
                time.sleep(rng.uniform(0.3, 2.5))
                stand.kill()
            finally:
                stop.set()
                feeder.join(WAIT_S)
        now = check_whole(database)
        assert now[: len(history)] == history, f"round {number}: an event number reused"
        history = now
        for leftover in inbox.iterdir():  # frames shown while the stand was down
            leftover.unlink()
    with read_only(database) as db:
        kinds = dict(db.execute("SELECT type, COUNT(*) FROM outbox GROUP BY type").fetchall())
        open_left = db.execute(
            "SELECT COUNT(*) FROM local_session WHERE ended_at IS NULL AND client_id != ?", (IVAN,)
        ).fetchone()[0]
    print(f"after {ROUNDS} cuts: {kinds}, {open_left} scanned sessions open")
    # The cuts came while scans were being served, not before the first or after the last.
    assert kinds.get("session.started", 0) > ROUNDS and kinds.get("session.ended", 0) > ROUNDS
    assert "tap.refused" not in kinds

    # After the last restart Ivan's card ends his session, timed from its start.
    with stand_process(env):
        end_tap_began = time.monotonic()
        emulate_card(nfc, IVAN_CARD, duration_s=TAP_S)
        wait_for("Ivan's session to end", lambda: ivan_is_washing(url) is False)
        seen_ended = time.monotonic()
    check_whole(database)
    with read_only(database) as db:
        [session] = db.execute(
            "SELECT * FROM local_session WHERE client_id = ? AND start_method = 'card'", (IVAN,)
        ).fetchall()
    assert session["end_method"] == "card"
    wall = datetime.fromisoformat(session["ended_at"]) - datetime.fromisoformat(
        session["started_at"]
    )
    assert abs(session["duration_s"] - wall.total_seconds()) <= 1.5
    # Counted from the tap before the cuts to the tap after them (whole seconds, rounded down).
    shortest, longest = end_tap_began - seen_open, seen_ended - tap_began
    assert shortest - 1 <= session["duration_s"] <= longest
