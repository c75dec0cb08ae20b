"""Tap latency at the stand: from the reader reporting a UID to the feedback pins changing.

A whole stand (:class:`edge.stand.Stand`: store, engine worker, tick job, nfcpy udp reader,
directory camera) runs in this process on a disposable data directory, with a directory of
250 members with cards. Each tap is handed to the stand exactly as the NFC reader hands it
(the reader's ``on_uid`` callback: a put on the stand's queue); the engine worker takes it,
writes the session and its event in one durable transaction and plays the pattern. The
clock stops when one of the LED's MockFactory pins changes state (a hook on the pin). The
patterns are played a thousand times faster than on a stand, so the LED is dark again before
the next tap and every tap's first pin change is its own. Cards are tapped round-robin, so
every card alternates start and end and both paths are measured.

Beside it, in the same run: the p99 of a bare durable SQLite commit (WAL, synchronous=FULL,
one small insert per transaction) on the same disk; the resident memory of this process,
which hosts the stand, after 10,000 sessions (each started and ended); and the time from
starting ``aquastand-edge run --simulate`` to its "ready" line (reader polling).

    .venv/bin/python bench/tap_latency.py [--taps 1000] [--sessions 10000]

Last line: ``tap_latency p50_ms=… p99_ms=… commit_p99_ms=… ratio=… rss_mb=… ready_s=…``.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from edge.stand import Stand
from edge.store import Store
from hardware.feedback import GpioFeedback, make_pin_factory
from sync import qrtoken
from sync.directory import validate_directory

CARDS = 250
STAND_ID = 1
SITE_ID = 1
TARIFF_ID = 1
FAST = 0.001  # pattern time scale: a 1 s pattern plays in 1 ms
WAIT_S = 10.0


def directory(cards: int) -> dict[str, Any]:
    """A site with one tariff (10 ₽/min, at least 50 ₽, no free time) and ``cards`` members."""
    return {
        "format": 1,
        "version": 1,
        "generated_at": "2026-01-01T00:00:00Z",
        "site_id": SITE_ID,
        "qr_public_key_pem": qrtoken.public_key_pem(qrtoken.generate_private_key_pem()).decode(),
        "default_tariff_id": TARIFF_ID,
        "tariffs": [
            {
                "id": TARIFF_ID,
                "name": "Стандарт",
                "active": True,
                "versions": [
                    {
                        "id": 1,
                        "effective_from": "2020-01-01T00:00:00Z",
                        "rates": {
                            "member_per_minute": 1000,
                            "guest_per_minute": 1500,
                            "step_s": 60,
                            "min_charge": 5000,
                            "cap": None,
                            "grace_s": 0,
                        },
                    }
                ],
            }
        ],
        "clients": [
            {
                "id": number,
                "kind": "member",
                "name": f"Клиент {number}",
                "phones": [],
                "blocked": False,
                "default_tariff_id": None,
                "balance_kopecks": 100_000_000,
                "ledger_position": number,
                "overdraft_limit_kopecks": None,
            }
            for number in range(1, cards + 1)
        ],
        "credentials": [
            {"client_id": number, "kind": "card", "value": uid(number), "lost": False}
            for number in range(1, cards + 1)
        ],
        "revoked_qr_token_ids": [],
        "staff": [],
    }


def uid(number: int) -> str:
    return f"04{number:012X}"


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_for(data_dir: Path) -> EdgeConfig:
    return EdgeConfig(
        data_dir=data_dir,
        stand_id=STAND_ID,
        site_id=SITE_ID,
        port=free_port(socket.SOCK_STREAM),
        nfc_device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        pin_factory="mock",
        camera="directory",
        tap_repeat_s=0.0,  # every tap acts: cards come round again quickly
        # 250 members' sessions open at once at one stand, each ended by its next tap: the
        # post's guards would turn most taps into refusals instead of starts and ends.
        one_session_per_post=False,
        end_guard_s=0,
        max_session_s=0,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class PinWatch:
    """Notes when any of ``pins`` (MockFactory pins) first changes state after :meth:`arm`."""

    def __init__(self, pins: list[Any]) -> None:
        self.changed = threading.Event()
        self.at_ns = 0
        for pin in pins:
            self._hook(pin)

    def _hook(self, pin: Any) -> None:
        change = pin._change_state

        def hooked(value: float) -> bool:
            changed: bool = change(value)
            if changed and not self.changed.is_set():
                self.at_ns = time.perf_counter_ns()
                self.changed.set()
            return changed

        pin._change_state = hooked

    def arm(self) -> None:
        self.changed.clear()


def measure_taps(stand: Stand, taps: int) -> tuple[list[float], int]:
    """Milliseconds from each tap's report to its first pin change; and the taps made."""
    factory = make_pin_factory("mock")
    config = stand.config
    feedback = GpioFeedback(
        config.pin_red,
        config.pin_green,
        config.pin_blue,
        config.pin_buzzer,
        pin_factory=factory,
        time_scale=FAST,
    )
    stand.engine.feedback = feedback  # the engine's light, played fast (see the docstring)
    watch = PinWatch([factory.pin(p) for p in (config.pin_red, config.pin_green, config.pin_blue)])
    latencies = []
    try:
        for number in range(taps):
            assert feedback.wait_idle(WAIT_S), "the pattern did not finish"
            watch.arm()
            started = time.perf_counter_ns()
            stand._on_uid(uid(number % CARDS + 1))  # what the NFC reader calls on a tap
            if not watch.changed.wait(WAIT_S):
                raise RuntimeError(f"no light for tap {number}")
            latencies.append((watch.at_ns - started) / 1e6)
        assert feedback.wait_idle(WAIT_S)
    finally:
        stand.engine.feedback = stand.feedback  # type: ignore[assignment]
        feedback.close()
        factory.close()
    return latencies, taps


def run_sessions(stand: Stand, taps_done: int, sessions: int) -> None:
    """Tap on (as fast as the worker takes them) until ``sessions`` sessions have ended."""
    total_taps = 2 * sessions
    for number in range(taps_done, total_taps):
        stand._on_uid(uid(number % CARDS + 1))
    deadline = time.monotonic() + 600
    while stand.store.tables.Outbox.select().count() < total_taps:
        if time.monotonic() > deadline:
            raise RuntimeError("the stand did not keep up")
        time.sleep(0.2)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def commit_times(path: Path, commits: int) -> list[float]:
    """Milliseconds per bare durable commit of one small row."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
    times = []
    for number in range(commits):
        started = time.perf_counter_ns()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (payload) VALUES (?)", (f"event {number}",))
        connection.execute("COMMIT")
        times.append((time.perf_counter_ns() - started) / 1e6)
    connection.close()
    return times


def time_to_ready(workdir: Path) -> float:
    """Seconds from starting ``aquastand-edge run --simulate`` to its "ready" line."""
    data_dir = workdir / "ready-stand"
    config = config_for(data_dir)
    store = Store(config.database_path)
    store.load_directory(validate_directory(directory(CARDS)), datetime.now(UTC))
    store.close()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQUASTAND_")}
    env.update(
        AQUASTAND_DATA_DIR=str(data_dir),
        AQUASTAND_EDGE_STAND_ID=str(STAND_ID),
        AQUASTAND_EDGE_SITE_ID=str(SITE_ID),
        AQUASTAND_EDGE_PORT=str(config.port),
        AQUASTAND_NFC_DEVICE=config.nfc_device,
        PYTHONUNBUFFERED="1",
    )
    command = [str(Path(sys.executable).parent / "aquastand-edge"), "run", "--simulate"]
    started = time.monotonic()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("ready"):
                    ready = time.monotonic() - started
                    if "(reader ok)" not in line:
                        raise RuntimeError(f"the stand's reader is not polling: {line.strip()}")
                    return ready
            raise RuntimeError(f"the stand exited with {process.wait()} before it was ready")
        finally:
            process.terminate()
            process.wait(WAIT_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taps", type=int, default=1000, help="measured taps (at least 1000)")
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions before the RSS")
    args = parser.parse_args()
    print(
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="aquastand-bench-") as tmp:
        workdir = Path(tmp)
        config = config_for(workdir / "stand")
        store = Store(config.database_path)
        store.load_directory(validate_directory(directory(CARDS)), datetime.now(UTC))
        store.close()
        with Stand(config) as stand:
            stand.start()
            if not stand.wait_reader(WAIT_S):
                raise RuntimeError("the NFC reader did not start")
            latencies, taps = measure_taps(stand, args.taps)
            commits = commit_times(workdir / "bare.sqlite3", args.taps)
            tap_started = time.monotonic()
            run_sessions(stand, taps, args.sessions)
            rate = (2 * args.sessions - taps) / (time.monotonic() - tap_started)
            rss = rss_mb()
        ready = time_to_ready(workdir)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    commit_p99 = percentile(commits, 0.99)
    print(f"taps measured: {len(latencies)} (start and end alternating per card, {CARDS} cards)")
    print(f"  tap to light  p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(latencies):.3f} ms")
    print(f"  bare commit   p50 {statistics.median(commits):.3f} ms  p99 {commit_p99:.3f} ms")
    print(f"sessions: {args.sessions} started and ended ({rate:.0f} taps/s unpaced)")
    print(f"  resident memory after them: {rss:.1f} MB")
    print(f"start to ready (aquastand-edge run --simulate): {ready:.2f} s")
    print(
        f"tap_latency p50_ms={p50:.3f} p99_ms={p99:.3f} commit_p99_ms={commit_p99:.3f} "
        f"ratio={p99 / commit_p99:.2f} rss_mb={rss:.1f} ready_s={ready:.2f}"
    )


if __name__ == "__main__":
    main()
