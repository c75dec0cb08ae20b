"""``make demo``'s script as a reader of the README runs it: the central service with demo data
and two enrolled simulated stands, real processes on loopback.

The demo's open sessions are started through the stands (a tap of a demo member's card at
each post), so they can be ended anywhere: here remotely from the central dashboard. The stands
outlive the central service (offline work is what they are for) and send what they did when
it is started again; the README's taps keep the integrity check green; Ctrl+C (SIGTERM here)
stops everything."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from cloud.demodata import DEMO_STAFF
from edge.config import EdgeConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY = "Offline work: stop the central service (kill "
RESTART_SAID = "and the stands send what they did"
# What the demo prints per post: the card it tapped there, then a QR code to show next.
COMMAND = re.compile(r"AQUASTAND_DATA_DIR='([^']+)' \S+ (tap|scan --text) '?([^'\s]+)'?")


def _free_base(count: int) -> int:
    """A port ``p`` such that ``p`` .. ``p + count - 1`` are free for TCP and UDP now and
    have no service name (nfcpy's udp reader cannot open a named port: 10000 is "webmin").
    Below the kernel's ephemeral range (32768 on): there any client's outgoing connection
    may take one of the run between this check and the demo's listening on it."""
    for _attempt in range(50):
        base = random.randrange(20_000, 32_000 - count)
        try:
            for port in range(base, base + count):
                with contextlib.suppress(OSError):
                    socket.getservbyport(port)
                    raise OSError(f"{port} has a service name")
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of free ports")


def _state(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as response:
        state: dict[str, Any] = json.loads(response.read())
        return state


def _answers(port: int) -> bool:
    try:
        _state(port)
    except OSError:
        return False
    return True


class Demo:
    """The running script; its output is read all along (a full pipe would stall the demo)."""

    def __init__(self, process: subprocess.Popen[str], data_dir: Path, base: int):
        self.process = process
        self.data_dir = data_dir
        self.central = f"http://127.0.0.1:{base}"
        self.edge_port = base + 1
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def read_until(self, marker: str, timeout_s: float = 240) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = next((line for line in list(self.output) if marker in line), None)
            if found is not None:
                return found
            if not self._reader.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(
            "the demo did not get to " + repr(marker) + ":\n" + "".join(self.output)
        )


@dataclass(frozen=True)
class Post:
    """One demo post as the demo describes it: its stand and the commands printed for it."""

    port: int
    data_dir: str
    card: str  # the card the demo tapped there (tap it again to end that session)
    qr: str  # the QR code to show there next
    config: EdgeConfig

    def tap(self, uid: str | None = None) -> None:
        _edge(self.data_dir, "tap", uid or self.card)

    def scan(self) -> None:
        _edge(self.data_dir, "scan", "--text", self.qr)

    def state(self) -> dict[str, Any]:
        return _state(self.port)


def _edge(data_dir: str, *args: str) -> None:
    subprocess.run(
        [str(BIN / "aquastand-edge"), *args],
        env={**os.environ, "AQUASTAND_DATA_DIR": data_dir},
        check=True,
        timeout=60,
        capture_output=True,
    )


def _posts(demo: Demo) -> list[Post]:
    commands = COMMAND.findall("".join(demo.output))
    assert [kind for _dir, kind, _value in commands] == ["tap", "scan --text"] * 2, commands
    posts = []
    for number in range(2):
        (data_dir, _, card), (_, _, qr) = commands[2 * number : 2 * number + 2]
        config = load_config(environ={"AQUASTAND_DATA_DIR": data_dir})
        posts.append(Post(demo.edge_port + number, data_dir, card, qr, config))
    return posts


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    base = _free_base(7)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AQUASTAND_")},
        "BIN": str(BIN),
        "DEMO_DATA_DIR": str(tmp_path / "demo"),
        "DEMO_DATABASE_URL": "",
        "DEMO_HOST": "127.0.0.1",
        "PORT": str(base),
        "EDGE_PORT": str(base + 1),
        "NFC_PORT": str(base + 3),
        "PAY_PORT": str(base + 5),
        "ATOL_PORT": str(base + 6),
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
    try:
        yield Demo(process, tmp_path / "demo", base)
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_demo_sessions_run_at_the_stands_survive_the_central_service_and_keep_the_data_whole(
    demo: Demo, tmp_path: Path
) -> None:
    line = demo.read_until(READY)
    central_pid = int(re.search(r"kill (\d+)", line).group(1))  # type: ignore[union-attr]
    demo.read_until(RESTART_SAID)
    restart = next(text for text in demo.output if "aquastand-cloud serve" in text).strip()
    post1, post2 = posts = _posts(demo)
    api = _Api(demo)

    # The demo's sessions: one per post, started at the stand, known centrally with its id.
    washing = {}
    for post in posts:
        (running,) = post.state()["open_sessions"]
        (central,) = api.open_sessions(post.config.stand_id)
        assert (central["client_id"], central["credential_value"]) == (
            running["client_id"],
            post.card,
        )
        washing[post.port] = running["client_id"]
    assert len(set(washing.values())) == 2

    # "Завершить удалённо" on the central dashboard ends Пост 1's session at the stand.
    (ending,) = api.open_sessions(post1.config.stand_id)
    _remote_end(demo.central, ending["id"])
    assert _eventually(lambda: not post1.state()["open_sessions"])
    assert _eventually(lambda: api.session(ending["id"])["status"] == "ended")

    # The central service stops: the stands go on, a tap opens a session and queues it.
    os.kill(central_pid, signal.SIGTERM)
    demo.read_until("the stands work offline", timeout_s=60)
    assert demo.process.poll() is None
    assert all(_answers(post.port) for post in posts)
    queued = post1.state()["outbox"]
    post1.tap()
    assert _eventually(lambda: post1.state()["outbox"] == queued + 1)  # a start, queued
    assert len(post1.state()["open_sessions"]) == 1

    # Started again with the command the demo printed, it receives what the stand did.
    with (tmp_path / "central.log").open("w") as log:
        central = subprocess.Popen(
            ["bash", "-c", restart],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert _eventually(lambda: post1.state()["outbox"] == 0, timeout_s=60)
        assert [row["credential_value"] for row in api.open_sessions(post1.config.stand_id)] == [
            post1.card
        ]

        # The README at Пост 2: the same card again a minute after the start ends the
        # session, then the QR code starts the next one. The data stays whole.
        started = datetime.fromisoformat(post2.state()["open_sessions"][0]["started_at"])
        time.sleep(max(0, post2.config.end_guard_s + 1 - _seconds_since(started)))
        post2.tap()
        assert _eventually(lambda: not post2.state()["open_sessions"])
        post2.scan()
        assert _eventually(lambda: len(post2.state()["open_sessions"]) == 1)
        assert post2.state()["open_sessions"][0]["client_id"] not in washing.values()
        assert _eventually(lambda: all(post.state()["outbox"] == 0 for post in posts))
        check = subprocess.run(
            [str(BIN / "aquastand-cloud"), "check"],
            env=_cloud_env(demo),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0 and "FAIL" not in check.stdout, check.stdout
    finally:
        _stop(central)

    demo.process.send_signal(signal.SIGTERM)  # what Ctrl+C does to the script
    assert demo.process.wait(timeout=60) != 0
    assert not any(_answers(post.port) for post in posts)


def _seconds_since(moment: datetime) -> float:
    return (datetime.now(UTC) - moment).total_seconds()


def _cloud_env(demo: Demo) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AQUASTAND_")},
        "AQUASTAND_DATA_DIR": str(demo.data_dir),
        "AQUASTAND_DATABASE_URL": "",
    }


class _Api:
    """The central JSON API as the README's example uses it: an operator's token."""

    def __init__(self, demo: Demo) -> None:
        made = subprocess.run(
            [str(BIN / "aquastand-cloud"), "api-token", "--phone", _operator().phone],
            env=_cloud_env(demo),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        self.token = made.stdout.strip().splitlines()[-1]
        self.central = demo.central

    def get(self, path: str) -> dict[str, Any]:
        response = requests.get(
            self.central + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def open_sessions(self, stand_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(f"/api/v1/sessions?status=open&stand_id={stand_id}")[
            "items"
        ]
        return items

    def session(self, session_id: int) -> dict[str, Any]:
        return self.get(f"/api/v1/sessions/{session_id}")


def _operator() -> Any:
    return next(login for login in DEMO_STAFF if login.role == "operator")


def _remote_end(central: str, session_id: int) -> None:
    """What the operator's "Завершить удалённо" on the dashboard sends, from a browser's
    cookie session: log in, then the end request with the page's CSRF token."""
    browser = requests.Session()

    def post(path: str, form: dict[str, str], token_from: str) -> None:
        page = browser.get(central + token_from, timeout=10).text
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, f"no CSRF token on {token_from}"
        reply = browser.post(
            central + path, data={**form, "csrf_token": match.group(1)}, timeout=10
        )
        reply.raise_for_status()

    operator = _operator()
    with browser:
        post("/login", {"phone": operator.phone, "password": operator.password}, "/login")
        post(f"/sessions/{session_id}/end", {"comment": "Забыли завершить"}, "/")


def _eventually(check: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
