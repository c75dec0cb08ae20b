"""Integration fixtures: the central service served over real HTTP on 127.0.0.1 (its test app
on SQLite and again on PostgreSQL), stands talking to it through their sync agent, and a
loopback proxy that misbehaves on purpose (drops, delays, duplicates, cuts replies short)."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from cloud.db import utcnow
from cloud.standsync.standauth import provision_stand
from edge.cli import main as edge_cli
from edge.config import EdgeConfig, load_config
from edge.engine import Engine
from edge.screen import StateServer
from edge.stand import Stand
from edge.store import Store, StoreAdapter
from edge.syncwiring import EngineCommands
from sync.agent import SyncAgent, enrol
from tests.cloud.conftest import (  # the central fixtures, shared with the central tests
    _truncate_all,
    app,
    as_role,
    clock,
    database_url,
    fast_password_hashing,
    postgres_schema_url,
    world,
)
from tests.edge.conftest import DEBOUNCE_S, RecordingFeedback, Running
from tests.edge.conftest import free_port as edge_free_port

WAIT_S = 20.0


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll ``probe`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Central:
    """The test's central app served by werkzeug in a thread; ``stop`` and ``start`` again on
    the same port for an outage."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


@pytest.fixture
def central(app: Flask) -> Iterator[Central]:
    server = Central(app)
    server.start()
    yield server
    server.stop()


# --- a proxy that misbehaves ----------------------------------------------------------------


@dataclass
class Faults:
    """Per request, one of: pass, drop (never forwarded), lose_reply (forwarded, reply never
    returned), cut (reply cut in the middle), duplicate (forwarded twice), delay."""

    drop: float = 0.0
    lose_reply: float = 0.0
    cut: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    max_delay_s: float = 1.0
    down: bool = False  # every connection closed at once: the central service is unreachable


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return _with_connection_close(head) + b"\r\n\r\n" + body


def _with_connection_close(head: bytes) -> bytes:
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"])


class FaultyProxy:
    """A loopback HTTP proxy, one request per connection, injecting :class:`Faults`."""

    def __init__(self, upstream_port: int, faults: Faults, seed: int = 4) -> None:
        self.upstream_port = upstream_port
        self.faults = faults
        self.counts: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def _choose(self) -> str:
        f = self.faults
        if f.down:
            return "down"
        with self._lock:
            roll = self._rng.random()
        for name, p in (
            ("drop", f.drop),
            ("lose_reply", f.lose_reply),
            ("cut", f.cut),
            ("duplicate", f.duplicate),
            ("delay", f.delay),
        ):
            if roll < p:
                return name
            roll -= p
        return "pass"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _address = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _upstream(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
            up.sendall(request)
            reply = b""
            while chunk := up.recv(65536):
                reply += chunk
        head, sep, body = reply.partition(b"\r\n\r\n")
        return _with_connection_close(head) + sep + body

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            fault = self._choose()
            self._count(fault)
            if fault == "down":
                return
            try:
                request = _read_request(conn)
                if request is None or fault == "drop":
                    return
                if fault == "delay":
                    with self._lock:
                        pause = self._rng.uniform(0.05, self.faults.max_delay_s)
                    time.sleep(pause)
                reply = self._upstream(request)
                if fault == "duplicate":
                    reply = self._upstream(request)
                if fault == "lose_reply":
                    return
                if fault == "cut":
                    reply = reply[: max(1, len(reply) // 2)]
                conn.sendall(reply)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)


# --- stands driven directly (store, engine, agent) -----------------------------------------


class StepClock:
    """Wall and monotonic time for a stand in a test: real time, plus ``offset`` on the wall
    clock (a stand whose clock is wrong) and ``skip`` seconds the test jumps forward."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.boot_id = str(uuid.uuid4())
        self.offset = offset
        self.skip_ns = 0

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset + timedelta(microseconds=self.skip_ns // 1000)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns() + self.skip_ns

    def advance(self, seconds: float) -> None:
        self.skip_ns += int(seconds * 1e9)


@dataclass
class DirectStand:
    """A stand without devices: its store, engine and agent, cycled by the test."""

    config: EdgeConfig
    store: Store
    engine: Engine
    agent: SyncAgent
    clock: StepClock
    feedback: RecordingFeedback

    def sync(self, what: str = "the outbox to drain", timeout: float = WAIT_S) -> None:
        """Run agent cycles until the outbox is empty and a cycle succeeded."""

        def drained() -> bool:
            ok = self.agent.run_once(force=True)
            return ok and self.store.outbox_size() == 0

        wait_for(what, drained, timeout)

    def close(self) -> None:
        self.agent.close()
        self.store.close()


def provision(site: Any, name: str) -> str:
    """A one-time enrolment code for a new stand of ``site``."""
    return provision_stand(site, name, utcnow()).code


@pytest.fixture
def direct_stand(tmp_path: Path) -> Iterator[Callable[..., DirectStand]]:
    """``direct_stand(url, code, offset=timedelta(0), name="a")`` enrols a stand with ``code``
    at the central service ``url`` and gives its store, engine and agent (not started: the
    test cycles the agent). Closed after the test."""
    made: list[DirectStand] = []

    def make(url: str, code: str, offset: timedelta = timedelta(0), name: str = "a") -> DirectStand:
        enrolment = enrol(url, code)
        config = EdgeConfig(
            data_dir=tmp_path / f"stand-{name}",
            stand_id=enrolment.stand_id,
            site_id=enrolment.site_id,
            central_url=url,
            sync_interval_s=0.05,
            sync_max_backoff_s=0.2,
        )
        clock = StepClock(offset)
        store = Store(config.database_path)
        feedback = RecordingFeedback()
        engine = Engine(store, feedback, config, clock)
        agent = SyncAgent(
            url,
            enrolment.token,
            StoreAdapter(store, clock, config.site_id),
            clock,
            EngineCommands(engine),
            version="test",
            interval_s=config.sync_interval_s,
            max_backoff_s=config.sync_max_backoff_s,
            read_timeout_s=10,
        )
        stand = DirectStand(config, store, engine, agent, clock, feedback)
        made.append(stand)
        return stand

    yield make
    for stand in made:
        stand.close()


# --- a whole stand in this process, enrolled with the command line -------------------------


def enrol_with_cli(data_dir: Path, url: str, code: str) -> Any:
    """``aquastand-edge enrol --central URL --code CODE`` for the stand in ``data_dir``."""
    return CliRunner().invoke(
        edge_cli,
        ["enrol", "--central", url, "--code", code],
        env={"AQUASTAND_DATA_DIR": str(data_dir)},
    )


@pytest.fixture
def running_stand(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """``running_stand(url, code, **config_changes)``: enrol a stand with the CLI, then run it
    (reader on nfcpy's udp link, MockFactory lights, the sync agent every half second) with
    its state server on a free port, as ``aquastand-edge run --simulate`` would. Closed after
    the test."""
    with contextlib.ExitStack() as stack:

        def start(url: str, code: str, **changes: Any) -> Running:
            data_dir = tmp_path / "stand"
            result = enrol_with_cli(data_dir, url, code)
            assert result.exit_code == 0, result.output
            config = load_config(
                environ={"AQUASTAND_DATA_DIR": str(data_dir)},
                nfc_device=f"udp:127.0.0.1:{edge_free_port(socket.SOCK_DGRAM)}",
                pin_factory="mock",
                camera="directory",
                debounce_s=DEBOUNCE_S,
                tap_repeat_s=1.0,
                sync_interval_s=0.5,
                **changes,
            )
            stand = stack.enter_context(Stand(config))
            server = stack.enter_context(StateServer(stand, port=0))
            server.start()
            stand.start()
            assert stand.wait_reader(WAIT_S)
            return Running(stand, server)

        yield start
