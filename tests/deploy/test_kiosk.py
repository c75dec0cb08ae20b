"""The kiosk unit run for real: cage on wlroots' headless backend, Chromium in it as the unit
starts it, on a real stand's screen, and a screenshot of what Chromium shows.

What the unit gives that applies outside systemd is read from the unit file, not repeated here:
its ``User=`` and groups (when this test runs as root; the user is created as the installer
does), its ``Environment=``, its ``ExecStartPre`` wait and ``ExecStart`` command, a runtime
directory of ``RuntimeDirectoryMode=`` owned by the user (``RuntimeDirectory=``) and a state
directory (``StateDirectory=``, the browser's profile and ``HOME``), both under a temporary
directory in place of ``/run`` and ``/var/lib``. Added for the test alone: the headless backend
and its software renderer (no display, no GPU here), the stand's URL on its test port, and
Chromium's remote-debugging port, through which the screenshot is taken (CDP
``Page.captureScreenshot``). Not reproduced: PAM and logind, the console, the namespaces of
``ProtectSystem=``/``ProtectHome=``/``PrivateTmp=`` (``systemd-analyze verify`` and
tests/deploy/test_units.py check those settings).
"""

from __future__ import annotations

import base64
import contextlib
import grp
import io
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from edge.config import EdgeConfig
from tests.conftest import need
from tests.deploy.units import one, service
from tests.edge.conftest import Running

UNIT = "aquastand-kiosk.service"
STAND_URL = f"http://127.0.0.1:{EdgeConfig().port}/"  # what the unit shows
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HEADLESS = {"WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_HEADLESS_OUTPUTS": "1"}
START_S = 60.0


def unit_environment(unit: dict[str, list[str]]) -> dict[str, str]:
    """The unit's ``Environment=`` assignments, in order (a later one wins)."""
    found: dict[str, str] = {}
    for line in unit.get("Environment", []):
        for assignment in shlex.split(line):
            key, _, value = assignment.partition("=")
            found[key] = value
    return found


def kiosk_user(unit: dict[str, list[str]]) -> pwd.struct_passwd | None:
    """The unit's ``User=`` (created as the installer does), or None when not root."""
    if os.geteuid() != 0:
        return None
    name = one(unit, "User")
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
    )
    return pwd.getpwnam(name)


def existing_groups(unit: dict[str, list[str]]) -> list[int]:
    names = " ".join(unit.get("SupplementaryGroups", [])).split()
    ids = []
    for name in names:
        with contextlib.suppress(KeyError):
            ids.append(grp.getgrnam(name).gr_gid)
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Kiosk:
    """The unit's command with its paths moved under ``root`` and the stand at ``url``."""

    def __init__(self, root: Path, url: str) -> None:
        self.unit = service(UNIT)
        self.user = kiosk_user(self.unit)
        env = unit_environment(self.unit)
        self.state = root / "state"
        self.runtime = root / "run"
        state_name = one(self.unit, "StateDirectory")
        runtime_name = one(self.unit, "RuntimeDirectory")
        self.moves = {
            f"/var/lib/{state_name}": str(self.state),
            f"/run/{runtime_name}": str(self.runtime),
            STAND_URL: url + "/",
        }
        self.state.mkdir(mode=0o700)
        self.runtime.mkdir()
        self.runtime.chmod(int(one(self.unit, "RuntimeDirectoryMode"), 8))
        if self.user is not None:
            for path in (self.state, self.runtime):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **{key: self.move(value) for key, value in env.items()},
            **HEADLESS,
        }
        self.debug_port = free_port()

    def move(self, text: str) -> str:
        for old, new in self.moves.items():
            text = text.replace(old, new)
        return text

    def command(self, key: str) -> list[str]:
        line = one(self.unit, key).replace("${CHROMIUM}", self.env["CHROMIUM"])
        return shlex.split(self.move(line))

    def start(self) -> subprocess.Popen[bytes]:
        command = self.command("ExecStart")
        # The remote-debugging port, before the URL (the last argument).
        command[-1:-1] = [f"--remote-debugging-port={self.debug_port}"]
        user = self.user
        return subprocess.Popen(
            command,
            env=self.env,
            cwd=self.move(one(self.unit, "WorkingDirectory")),
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else existing_groups(self.unit),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def kiosk_root() -> Iterator[Path]:
    # Under /tmp with a traversable parent: the kiosk's user must reach its directories.
    root = Path(tempfile.mkdtemp(prefix="aquastand-kiosk-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def wait_for_devtools(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"cage exited with {process.returncode}:\n{output[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://127.0.0.1:{port}/json/version", timeout=1).ok:
                return
        time.sleep(0.2)
    raise AssertionError("Chromium's remote-debugging port never answered")


def stand_page(browser: Any, url: str) -> Any:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        for context in browser.contexts:
            for page in context.pages:
                if page.url.startswith(url):
                    return page
        time.sleep(0.2)
    raise AssertionError(f"no page of {url} in the kiosk's Chromium")


def look(debug_port: int, url: str) -> tuple[str, list[int], dict[str, Any]]:
    """The kiosk Chromium's page of ``url``: its text, its size against the screen's, and a
    screenshot taken through the DevTools protocol."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{debug_port}")
        page = stand_page(browser, url)
        page.wait_for_load_state("load")
        page.wait_for_function("document.body && document.body.innerText.length > 20")
        text = page.inner_text("body")
        size = page.evaluate("[innerWidth, innerHeight, screen.width, screen.height]")
        shot = page.context.new_cdp_session(page).send("Page.captureScreenshot", {"format": "png"})
        browser.close()
    return text, size, shot


@pytest.mark.browser
def test_the_kiosk_unit_shows_the_stand_screen(running: Running, kiosk_root: Path) -> None:
    for program in ("/usr/bin/cage", "/usr/bin/chromium", "/usr/bin/Xwayland", "/usr/bin/curl"):
        need(Path(program).exists(), program)
    kiosk = Kiosk(kiosk_root, running.url)
    [wait] = kiosk.unit["ExecStartPre"]
    assert subprocess.run(shlex.split(kiosk.move(wait)), timeout=60, check=False).returncode == 0

    process = kiosk.start()
    try:
        wait_for_devtools(kiosk.debug_port, process)
        # In a thread of its own: Playwright's sync API refuses to start where an asyncio
        # loop runs, as it does in a test process whose browser fixture is still up.
        with ThreadPoolExecutor(1) as worker:
            text, size, shot = worker.submit(look, kiosk.debug_port, running.url).result(120)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()

    png = base64.b64decode(shot["data"])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "kiosk-screen.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    # The customer's display at rest, full screen: not a blank or single-coloured page.
    assert "Приложите карту" in text, text
    assert size[0] == size[2] and size[1] == size[3], size  # the page fills the screen (kiosk)
    assert image.size == (size[0], size[1])
    assert colours is None or len(colours) > 10
    assert kiosk.runtime.joinpath("wayland-0").is_socket()  # cage's socket in its own directory
