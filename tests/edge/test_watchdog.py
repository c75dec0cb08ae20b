"""systemd's notify protocol as the stand speaks it, received on a real unix datagram socket
standing in for systemd's: READY=1 once serving, WATCHDOG=1 only while every loop runs,
STOPPING=1 on the way out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge import stand as stand_module
from edge.stand import Stand
from edge.watchdog import Watchdog, notify, watchdog_period
from tests.edge.conftest import (
    SITE_ID,
    STAND_ID,
    WAIT_S,
    Running,
    free_port,
    load_directory,
    wait_for,
)
from tests.edge.test_stand_e2e import edge_command


class NotifySocket:
    """A bound datagram socket like systemd's: ``address`` goes into $NOTIFY_SOCKET."""

    def __init__(self, address: str, bind_to: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.settimeout(0.01)
        self.received: list[str] = []

    def drain(self) -> list[str]:
        """Everything that arrived since the last call."""
        new: list[str] = []
        while True:
            try:
                new.append(self.sock.recv(4096).decode())
            except TimeoutError:
                break
        self.received += new
        return new

    def wait(self, what: str, match: Callable[[str], bool], timeout: float = WAIT_S) -> str:
        return str(wait_for(what, lambda: next(filter(match, self.drain()), None), timeout))


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    path = str(tmp_path / "notify")
    receiver = NotifySocket(path, path)
    yield receiver
    receiver.sock.close()


def test_notify_reaches_a_socket_by_path_and_in_the_abstract_namespace(
    notify_socket: NotifySocket,
) -> None:
    name = f"aquastand-test-{uuid.uuid4().hex}"
    abstract = NotifySocket(f"@{name}", f"\0{name}")
    try:
        assert notify("READY=1", {"NOTIFY_SOCKET": notify_socket.address})
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": abstract.address})
        assert notify_socket.drain() == ["READY=1"]
        assert abstract.drain() == ["WATCHDOG=1"]
    finally:
        abstract.sock.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) is False
    assert watchdog_period({}) is None
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None


def test_a_listener_that_stopped_reading_does_not_stall_the_stand(
    notify_socket: NotifySocket,
) -> None:
    env = {"NOTIFY_SOCKET": notify_socket.address}
    sent = [notify("WATCHDOG=1", env) for _ in range(2000)]  # far more than the queue holds

    assert sent[0] is True
    assert sent[-1] is False  # refused at once instead of blocking the main loop


def test_the_stand_process_says_ready_feeds_the_watchdog_and_says_stopping(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    command = edge_command()
    data_dir = tmp_path / "stand"
    load_directory(data_dir / "edge.sqlite3")
    port = free_port(socket.SOCK_STREAM)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQUASTAND_")}
    env.update(
        AQUASTAND_DATA_DIR=str(data_dir),
        AQUASTAND_EDGE_STAND_ID=str(STAND_ID),
        AQUASTAND_EDGE_SITE_ID=str(SITE_ID),
        AQUASTAND_EDGE_PORT=str(port),
        AQUASTAND_NFC_DEVICE=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        NOTIFY_SOCKET=notify_socket.address,
        WATCHDOG_USEC="400000",  # WatchdogSec=0.4s: a beat every 0.2 s
    )
    process = subprocess.Popen(
        [command, "run", "--simulate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = notify_socket.wait("READY=1", lambda m: m.startswith("READY=1"))
        assert f"STATUS=serving on http://127.0.0.1:{port}" in ready
        started = time.monotonic()
        wait_for(
            "five watchdog beats",
            lambda: (
                notify_socket.drain() is not None
                and notify_socket.received.count("WATCHDOG=1") >= 5
            ),
        )
        # Fed at half the watchdog interval, not flooded.
        assert notify_socket.received.count("WATCHDOG=1") <= 3 + (time.monotonic() - started) / 0.18
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        errors = process.stderr.read()
        process.stderr.close()
    notify_socket.drain()
    assert notify_socket.received[-1] == "STOPPING=1"
    assert "level=error" not in errors, errors


# --- a loop dies: the watchdog stops -----------------------------------------------------------


def _kill_worker(stand: Stand) -> None:
    stand.events.put(None)  # the worker's stop item: it returns as if it had crashed


def _kill_reader(stand: Stand) -> None:
    assert stand.reader is not None
    stand.reader.close()


def _kill_scheduler(stand: Stand) -> None:
    assert stand._scheduler is not None
    stand._scheduler.shutdown(wait=False)


@pytest.mark.parametrize(
    ("kill", "loop"),
    [
        (_kill_worker, "engine worker"),
        (_kill_reader, "NFC reader"),
        (_kill_scheduler, "scheduler"),
    ],
)
def test_when_a_loop_dies_the_watchdog_is_no_longer_fed(
    running: Running,
    notify_socket: NotifySocket,
    kill: Callable[[Stand], None],
    loop: str,
) -> None:
    stand = running.stand
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "100000"}
    watchdog = Watchdog(lambda: stand.stopped_loops() + running.server.stopped_loops(), env)
    watchdog.ready("serving")
    assert _beat_for(watchdog, 0.4, notify_socket).count("WATCHDOG=1") >= 3

    kill(stand)
    wait_for(f"the {loop} to stop", lambda: loop in stand.stopped_loops())
    arrived = _beat_for(watchdog, 0.4, notify_socket)

    assert "WATCHDOG=1" not in arrived
    assert [message for message in arrived if message.startswith("STATUS=")] == [
        f"STATUS=stopped: {loop}"
    ]


def test_a_worker_that_hangs_stops_the_watchdog_too(
    running: Running, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand = running.stand
    monkeypatch.setattr(stand_module, "TICK_STALL_S", 1.0)
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "100000"}
    watchdog = Watchdog(stand.stopped_loops, env)
    # Longer than the stall limit: ticks keep coming, the watchdog is fed.
    assert _beat_for(watchdog, 1.5, notify_socket).count("WATCHDOG=1") >= 10

    released = _hang_the_worker(stand)
    try:
        wait_for("the stall to show", lambda: stand.stopped_loops(), timeout=5)
        arrived = _beat_for(watchdog, 0.3, notify_socket)
        assert "WATCHDOG=1" not in arrived
        assert "STATUS=stopped: engine worker (no tick handled for 1 s)" in arrived
    finally:
        released.set()


def _hang_the_worker(stand: Stand) -> threading.Event:
    """Make the engine's next tick block until the returned event is set."""
    released = threading.Event()
    stand.engine.tick = lambda: released.wait(WAIT_S)  # type: ignore[method-assign]
    return released


def _beat_for(watchdog: Watchdog, seconds: float, receiver: NotifySocket) -> list[str]:
    """Call ``beat`` as the stand's main loop does for ``seconds``; what arrived meanwhile."""
    arrived: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        watchdog.beat()
        arrived += receiver.drain()
    return arrived


def test_a_camera_stuck_in_a_read_stops_the_watchdog_too(
    running: Running, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand = running.stand
    monkeypatch.setattr(stand_module, "CAMERA_STALL_S", 1.0)
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "100000"}
    watchdog = Watchdog(stand.stopped_loops, env)
    # Longer than the stall limit: the camera's thread keeps reading, the watchdog is fed.
    assert _beat_for(watchdog, 1.5, notify_socket).count("WATCHDOG=1") >= 10

    released = threading.Event()
    assert stand.frame_source is not None
    # The next read blocks as a stalled camera driver would (released at the end of the test).
    monkeypatch.setattr(
        stand.frame_source.source, "read", lambda timeout: released.wait(WAIT_S) and None
    )
    try:
        wait_for("the stall to show", lambda: stand.stopped_loops(), timeout=5)
        arrived = _beat_for(watchdog, 0.3, notify_socket)
        assert "WATCHDOG=1" not in arrived
        assert "STATUS=stopped: QR camera (no frame read for 1 s)" in arrived
    finally:
        released.set()
