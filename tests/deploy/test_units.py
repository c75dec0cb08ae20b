"""The unit files in systemd/, as shipped: systemd-analyze accepts them, they say what the
deployment promises (notify and watchdog, own user, devices, sandbox, bounded logs), and their
commands do what they should when run here (the kiosk's wait for the stand, gunicorn with the
central app telling systemd it is ready)."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from edge.config import EdgeConfig
from tests.conftest import need
from tests.deploy.units import SYSTEMD_DIR, UNITS, executable, one, read_unit, service
from tests.edge.conftest import Running

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
VENV_BIN = "/opt/aquastand/venv/bin/"
STAND_URL = f"http://127.0.0.1:{EdgeConfig().port}/"


def _render(name: str, root: Path) -> Path:
    """``systemd/<name>`` with each program it runs replaced by an executable stub under
    ``root`` at the same path (verify checks that programs exist; the venv and cage are not
    installed on this machine). Nothing else in the file changes."""
    text = (SYSTEMD_DIR / name).read_text(encoding="utf-8")
    for key, values in read_unit(name).get("Service", {}).items():
        if not key.startswith("Exec"):
            continue
        for line in values:
            program = executable(line)
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
            text = text.replace(f"={program} ", f"={stub} ").replace(f"={program}\n", f"={stub}\n")
    rendered = root / "units" / name
    rendered.parent.mkdir(parents=True, exist_ok=True)
    rendered.write_text(text, encoding="utf-8")
    return rendered


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    need(Path(SYSTEMD_ANALYZE).exists(), "systemd-analyze")
    rendered = [_render(name, tmp_path) for name in UNITS]

    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, rendered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # verify exits 0 on unknown keys too: any message at all is a finding.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    """The check above is not vacuous: a misspelt key in a copy is reported."""
    need(Path(SYSTEMD_ANALYZE).exists(), "systemd-analyze")
    rendered = _render("aquastand-edge.service", tmp_path)
    rendered.write_text(rendered.read_text().replace("WatchdogSec=", "WatchDogSec="))

    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(rendered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Unknown key" in result.stderr and "WatchDogSec" in result.stderr


def test_the_stand_unit_is_notify_with_a_watchdog_and_restarts_on_failure() -> None:
    unit = service("aquastand-edge.service")
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "WatchdogSec") == "30s"
    assert one(unit, "Restart") == "on-failure"
    assert read_unit("aquastand-edge.service")["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert shlex.split(one(unit, "ExecStart")) == [f"{VENV_BIN}aquastand-edge", "run"]


def test_the_stand_runs_as_its_own_user_with_only_its_devices_and_its_data_writable() -> None:
    unit = service("aquastand-edge.service")
    assert one(unit, "User") == one(unit, "Group") == "aquastand"
    assert one(unit, "SupplementaryGroups").split() == ["gpio", "video", "dialout", "plugdev"]
    assert one(unit, "DevicePolicy") == "closed"
    allowed = [value.split()[0] for value in unit["DeviceAllow"]]
    assert "char-gpiochip" in allowed  # LED and buzzer
    assert {"char-video4linux", "char-media", "char-dma_heap"} <= set(allowed)  # camera
    assert {"char-ttyAMA", "char-usb_device"} <= set(allowed)  # PN532 on UART, USB readers
    assert one(unit, "StateDirectory") == "aquastand"
    env = dict(value.split("=", 1) for value in unit["Environment"])
    assert env["AQUASTAND_DATA_DIR"] == "/var/lib/aquastand"
    assert env["AQUASTAND_EDGE_CONFIG"] == "/etc/aquastand/edge.toml"
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "LimitCORE": "0",
    }.items():
        assert one(unit, key) == value, key


def test_every_service_logs_within_bounds_or_is_central() -> None:
    for name in ("aquastand-edge.service", "aquastand-kiosk.service"):
        unit = service(name)
        assert one(unit, "LogRateLimitIntervalSec") == "30s"
        assert int(one(unit, "LogRateLimitBurst")) <= 200
    journal = (SYSTEMD_DIR / "journald-aquastand.conf").read_text()
    settings = dict(
        line.split("=", 1) for line in journal.splitlines() if "=" in line and line[0] != "#"
    )
    assert "[Journal]" in journal.splitlines()
    assert settings["SystemMaxUse"] == "64M"
    assert settings["RateLimitIntervalSec"] and settings["RateLimitBurst"]


def test_the_kiosk_shows_the_stand_screen_full_screen_after_the_stand() -> None:
    unit = read_unit("aquastand-kiosk.service")
    assert "aquastand-edge.service" in unit["Unit"]["After"][0].split()
    command = shlex.split(one(unit["Service"], "ExecStart"))
    assert command[:5] == [
        "/usr/bin/env",
        "XDG_RUNTIME_DIR=/run/aquastand-kiosk",
        "/usr/bin/cage",
        "--",
        "${CHROMIUM}",
    ]
    assert "--kiosk" in command
    assert command[-1] == STAND_URL
    assert one(unit["Service"], "User") == "aquastand-kiosk"
    assert one(unit["Service"], "PAMName") == "aquastand-kiosk"
    assert (SYSTEMD_DIR / "aquastand-kiosk.pam").read_text().count("pam_systemd.so") == 1


def test_the_kiosk_has_a_runtime_directory_of_its_own_for_cages_socket() -> None:
    """ProtectHome=yes hides /run/user, where pam_systemd points XDG_RUNTIME_DIR: cage gets
    /run/aquastand-kiosk (mode 0700, the kiosk's), set after PAM by env in ExecStart."""
    unit = service("aquastand-kiosk.service")
    assert one(unit, "ProtectHome") == "yes"
    assert one(unit, "RuntimeDirectory") == "aquastand-kiosk"
    assert one(unit, "RuntimeDirectoryMode") == "0700"
    assert "XDG_RUNTIME_DIR=/run/aquastand-kiosk" in shlex.split(one(unit, "ExecStart"))
    assert "WLR_LIBINPUT_NO_DEVICES=1" in unit["Environment"]


def test_lgpio_works_in_the_stands_runtime_directory() -> None:
    unit = service("aquastand-edge.service")
    assert "LG_WD=/run/aquastand" in unit["Environment"]
    assert one(unit, "RuntimeDirectory") == "aquastand"


def _serve_after(delay_s: float, port: int, seen: list[str]) -> threading.Thread:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", "/lock")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    def serve() -> None:
        time.sleep(delay_s)
        with http.server.HTTPServer(("127.0.0.1", port), Handler) as server:
            server.handle_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_kiosk_waits_until_the_stand_answers(tmp_path: Path) -> None:
    need(Path("/usr/bin/curl").exists(), "curl")
    [wait] = service("aquastand-kiosk.service")["ExecStartPre"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen: list[str] = []
    server = _serve_after(1.5, port, seen)
    started = time.monotonic()

    result = subprocess.run(
        shlex.split(wait.replace(STAND_URL, f"http://127.0.0.1:{port}/")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.5  # it waited for the server, not failed at once
    assert seen == ["/"]
    server.join(5)


def test_the_kiosks_wait_is_satisfied_by_the_real_stand_screen(running: Running) -> None:
    """The stand's own screen answers the kiosk's check (its "/" redirects to the PIN lock)."""
    need(Path("/usr/bin/curl").exists(), "curl")
    [wait] = service("aquastand-kiosk.service")["ExecStartPre"]
    command = shlex.split(wait.replace(STAND_URL, running.url + "/"))

    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _central_command(line: str, port: int) -> list[str]:
    """A command of the central unit with this machine's virtual environment and ``port``."""
    bin_dir = str(Path(sys.executable).parent) + "/"
    return shlex.split(line.replace(VENV_BIN, bin_dir).replace(":8000 ", f":{port} "))


def test_the_central_unit_runs_init_then_gunicorn_which_says_ready(tmp_path: Path) -> None:
    unit = service("aquastand-cloud.service")
    assert one(unit, "Type") == "notify"
    need(Path(sys.executable).with_name("gunicorn").exists(), "gunicorn in the environment")
    port = _free_port()
    notify_path = tmp_path / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(notify_path))
    receiver.settimeout(60)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQUASTAND_")}
    env.update(
        AQUASTAND_DATA_DIR=str(tmp_path / "data"),
        AQUASTAND_DATABASE_URL=f"sqlite:///{tmp_path / 'central.sqlite3'}",
        NOTIFY_SOCKET=str(notify_path),
    )
    [init] = unit["ExecStartPre"]
    subprocess.run(_central_command(init, port), env=env, check=True, timeout=60)

    command = _central_command(one(unit, "ExecStart"), port)
    assert command[1:] == [
        "--config",
        "python:cloud.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "4",
        "cloud.wsgi:app",
    ]
    command[command.index("--workers") + 1] = "1"  # two cores shared by the whole suite
    server = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        ready = receiver.recv(4096).decode()
        assert ready.startswith("READY=1")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as reply:
            assert reply.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        receiver.close()
        assert server.stderr is not None
        log = server.stderr.read()
        server.stderr.close()
    lines = log.splitlines()
    # gunicorn, its access log and the app log through the same logfmt lines.
    assert any(line.startswith("time=") and "logger=gunicorn.error" in line for line in lines)
    assert any("logger=gunicorn.access" in line and " GET /login 200 " in line for line in lines), (
        log
    )


def test_nginx_sends_the_central_host_to_where_gunicorn_listens() -> None:
    site = (SYSTEMD_DIR / "nginx-aquastand.conf").read_text()
    bind = shlex.split(one(service("aquastand-cloud.service"), "ExecStart"))
    address = bind[bind.index("--bind") + 1]
    # The unit's instance is the upstream's first; a second one listens on the next port.
    assert re.search(
        rf"^ *server {re.escape(address)} max_fails=\d+ fail_timeout=\d+s;$", site, re.M
    )
    assert "listen 443 ssl" in site and "return 301 https://" in site
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site


@pytest.mark.parametrize("name", UNITS)
def test_every_unit_is_enabled_at_boot(name: str) -> None:
    assert read_unit(name)["Install"]["WantedBy"] == ["multi-user.target"]
