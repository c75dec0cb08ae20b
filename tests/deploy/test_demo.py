"""``make demo``'s script as a reader of the README runs it: the central service with demo data
and two enrolled simulated stands, real processes on loopback. The stands outlive the central
service (offline work is what they are for); Ctrl+C (SIGTERM here) stops everything."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY = "Offline work: stop the central service (kill "


def _free_base(count: int) -> int:
    """A port ``p`` such that ``p`` .. ``p + count - 1`` are free for TCP and UDP now."""
    for _attempt in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of free ports")


def _state(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as response:
        state: dict[str, object] = json.loads(response.read())
        return state


def _answers(port: int) -> bool:
    try:
        _state(port)
    except OSError:
        return False
    return True


class Demo:
    def __init__(self, process: subprocess.Popen[str], output: list[str], edge_port: int):
        self.process = process
        self.output = output
        self.edge_port = edge_port

    def read_until(self, marker: str, timeout_s: float = 240) -> str:
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if marker in line:
                return line
        raise AssertionError(
            "the demo did not get to " + repr(marker) + ":\n" + "".join(self.output)
        )


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    base = _free_base(5)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AQUASTAND_")},
        "BIN": str(BIN),
        "DEMO_DATA_DIR": str(tmp_path / "demo"),
        "DEMO_DATABASE_URL": "",
        "DEMO_HOST": "127.0.0.1",
        "PORT": str(base),
        "EDGE_PORT": str(base + 1),
        "NFC_PORT": str(base + 3),
    }
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    made = Demo(process, [], base + 1)
    try:
        yield made
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_the_stands_keep_working_when_the_central_service_stops_and_ctrl_c_stops_all(
    demo: Demo,
) -> None:
    line = demo.read_until(READY)
    central_pid = int(re.search(r"kill (\d+)", line).group(1))  # type: ignore[union-attr]
    posts = (demo.edge_port, demo.edge_port + 1)
    assert all(_answers(port) for port in posts)

    os.kill(central_pid, signal.SIGTERM)
    demo.read_until("the stands work offline", timeout_s=60)
    time.sleep(2)

    assert demo.process.poll() is None
    assert all(_answers(port) for port in posts)
    tap = re.search(r"AQUASTAND_DATA_DIR='([^']+)' \S+ tap (\w+)", "".join(demo.output))
    assert tap is not None
    queued = _state(posts[0])["outbox"]
    subprocess.run(
        [str(BIN / "aquastand-edge"), "tap", tap.group(2)],
        env={**os.environ, "AQUASTAND_DATA_DIR": tap.group(1)},
        check=True,
        timeout=60,
    )
    assert _eventually(lambda: _state(posts[0])["outbox"] == queued + 1)  # a start, queued

    demo.process.send_signal(signal.SIGTERM)  # what Ctrl+C does to the script
    assert demo.process.wait(timeout=60) != 0
    assert not any(_answers(port) for port in posts)


def _eventually(check: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
