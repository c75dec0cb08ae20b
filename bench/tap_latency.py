"""Tap latency at the stand: from the reader reporting a UID to the "seen" blip and to the
verdict on the feedback pins.

A whole stand (:class:`edge.stand.Stand`: store, engine worker, tick and checkpoint jobs,
nfcpy udp reader, directory camera) runs in this process on a disposable data directory, with
a directory of 250 members with cards. Each tap is handed to the stand exactly as the NFC
reader hands it (the reader's ``on_uid`` callback: the blip, then a put on the stand's
queue); the engine worker takes it, writes the session and its event in one durable
transaction and plays the verdict. Two clocks stop on the LED's MockFactory pins (a hook on
each pin): the blip at the first change (pale white), the verdict at the first pin driven to
half or more (every verdict's first colour). The patterns are played a thousand times faster
than on a stand, so the LED is dark again before the next tap and every tap's pin changes are
its own. Cards are tapped round-robin, so every card alternates start and end and both paths
are measured.

Beside it, in the same run: the p99 of a bare durable SQLite commit (WAL, synchronous=FULL,
one small insert per transaction) on the same disk; the resident memory of this process,
which hosts the stand, after 10,000 sessions (each started and ended); and the time from
starting ``aquastand-edge run --simulate`` to its "ready" line (reader polling).

``--fsync-stall 1.5`` runs the taps again in a child process whose every fsync of a file in
the data directory sleeps 1.5 s first (an SD card stall: the LD_PRELOAD shim of
``bench/fsyncstall.py``, compiled with ``cc``); only the taps (default 20 then) and the bare
commit are measured.

    .venv/bin/python bench/tap_latency.py [--taps 1000] [--sessions 10000] [--fsync-stall S]

Last line: ``tap_latency blip_p50_ms=… blip_p99_ms=… p50_ms=… p99_ms=… commit_p99_ms=…
ratio=… rss_mb=… ready_s=…`` (with a stall: ``fsync_stall_s=…`` and no memory or start).
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

from fsyncstall import STALL_DIR_ENV, build_shim, stalled_env

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
    """Notes, after each :meth:`arm`, when any of ``pins`` (MockFactory pins) first changes
    (the blip) and when one is first driven to half or more (the verdict)."""

    def __init__(self, pins: list[Any]) -> None:
        self.verdict = threading.Event()
        self.blip_ns = self.verdict_ns = 0
        for pin in pins:
            self._hook(pin)

    def _hook(self, pin: Any) -> None:
        change = pin._change_state

        def hooked(value: float) -> bool:
            changed: bool = change(value)
            if changed and not self.blip_ns:
                self.blip_ns = time.perf_counter_ns()
            if changed and value >= 0.5 and not self.verdict.is_set():
                self.verdict_ns = time.perf_counter_ns()
                self.verdict.set()
            return changed

        pin._change_state = hooked

    def arm(self) -> None:
        self.blip_ns = 0
        self.verdict.clear()


def measure_taps(stand: Stand, taps: int) -> tuple[list[float], list[float]]:
    """Milliseconds from each tap's report to its blip, and to its verdict."""
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
    # The stand's light, played fast (see the docstring): the blip's and the engine's.
    original, stand.feedback, stand.engine.feedback = stand.feedback, feedback, feedback
    watch = PinWatch([factory.pin(p) for p in (config.pin_red, config.pin_green, config.pin_blue)])
    blips, verdicts = [], []
    try:
        for number in range(taps):
            assert feedback.wait_idle(WAIT_S), "the pattern did not finish"
            watch.arm()
            started = time.perf_counter_ns()
            stand._on_uid(uid(number % CARDS + 1))  # what the NFC reader calls on a tap
            if not watch.verdict.wait(WAIT_S):
                raise RuntimeError(f"no verdict for tap {number}")
            blips.append((watch.blip_ns - started) / 1e6)
            verdicts.append((watch.verdict_ns - started) / 1e6)
        assert feedback.wait_idle(WAIT_S)
    finally:
        stand.feedback = stand.engine.feedback = original  # type: ignore[assignment]
        feedback.close()
        factory.close()
    return blips, verdicts


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


def run_stalled(seconds: float) -> int:
    """This script again, in a child whose fsyncs of files in its data directory each sleep
    ``seconds`` first; returns its exit status."""
    with tempfile.TemporaryDirectory(prefix="aquastand-stall-") as tmp:
        shim = build_shim(Path(tmp) / "shim")
        data = Path(tmp) / "data"
        data.mkdir()
        command = [sys.executable, __file__, *sys.argv[1:]]
        return subprocess.run(command, env=stalled_env(shim, data, seconds), check=False).returncode


def summary(name: str, values: list[float]) -> str:
    p50, p99 = statistics.median(values), percentile(values, 0.99)
    return f"  {name:<15} p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(values):.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taps", type=int, help="measured taps (1000; 20 with a stall)")
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions before the RSS")
    parser.add_argument(
        "--fsync-stall", type=float, default=0.0, metavar="S", help="delay each fsync S seconds"
    )
    args = parser.parse_args()
    stall_dir = os.environ.get(STALL_DIR_ENV)
    if args.fsync_stall and stall_dir is None:
        raise SystemExit(run_stalled(args.fsync_stall))
    taps = args.taps or (20 if stall_dir else 1000)
    print(
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="aquastand-bench-", dir=stall_dir) as tmp:
        workdir = Path(tmp)
        config = config_for(workdir / "stand")
        store = Store(config.database_path)
        store.load_directory(validate_directory(directory(CARDS)), datetime.now(UTC))
        store.close()
        with Stand(config) as stand:
            stand.start()
            if not stand.wait_reader(WAIT_S):
                raise RuntimeError("the NFC reader did not start")
            blips, verdicts = measure_taps(stand, taps)
            commits = commit_times(workdir / "bare.sqlite3", taps)
            if not stall_dir:
                tap_started = time.monotonic()
                run_sessions(stand, taps, args.sessions)
                rate = (2 * args.sessions - taps) / (time.monotonic() - tap_started)
                rss = rss_mb()
        if not stall_dir:
            ready = time_to_ready(workdir)
    commit_p99 = percentile(commits, 0.99)
    figures = (
        f"blip_p50_ms={statistics.median(blips):.3f} blip_p99_ms={percentile(blips, 0.99):.3f} "
        f"p50_ms={statistics.median(verdicts):.3f} p99_ms={percentile(verdicts, 0.99):.3f} "
        f"commit_p99_ms={commit_p99:.3f} ratio={percentile(verdicts, 0.99) / commit_p99:.2f}"
    )
    if stall_dir:
        print(f"every fsync in the data directory stalled {args.fsync_stall} s")
    print(f"taps measured: {taps} (start and end alternating per card, {CARDS} cards)")
    print(summary("tap to blip", blips))
    print(summary("tap to verdict", verdicts))
    print(summary("bare commit", commits))
    if stall_dir:
        print(f"tap_latency fsync_stall_s={args.fsync_stall} {figures}")
        return
    print(f"sessions: {args.sessions} started and ended ({rate:.0f} taps/s unpaced)")
    print(f"  resident memory after them: {rss:.1f} MB")
    print(f"start to ready (aquastand-edge run --simulate): {ready:.2f} s")
    print(f"tap_latency {figures} rss_mb={rss:.1f} ready_s={ready:.2f}")


if __name__ == "__main__":
    main()
