"""The whole stand end to end: cards presented by nfcpy on its udp link to the stand's real
nfcpy reader, QR codes dropped into the camera's inbox, lights read back from gpiozero's
MockFactory pin histories and the state read over HTTP from ``GET /api/state``."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli import main
from edge.engine import MESSAGES
from tests.conftest import need
from tests.edge.conftest import (
    DEBOUNCE_S,
    IVAN,
    IVAN_CARD,
    IVAN_QR_ID,
    SITE_ID,
    STAND_ID,
    VERSION,
    WAIT_S,
    Running,
    StartStand,
    events,
    free_port,
    load_directory,
    pattern,
    pin_history,
    qr_token,
    wait_for,
    wait_state,
)

UNKNOWN_CARD = "DEADBEEF"


def test_a_member_card_starts_a_session_and_again_ends_it(start_stand: StartStand) -> None:
    running = start_stand(end_guard_s=0)  # real time: a minute's guard would only slow this
    stand, config = running.stand, running.stand.config

    running.tap(IVAN_CARD)

    state = wait_state(
        running.url,
        "the session to open",
        lambda s: len(s["open_sessions"]) == 1 and pattern(s) == "accepted",
    )
    [session] = state["open_sessions"]
    assert session["client_id"] == IVAN
    assert session["client_name"] == "Иван Петров"
    assert session["plate"] == "А123ВС77"
    assert session["cost_kopecks"] == 0
    assert state["last_feedback"]["reason"] == MESSAGES["started"]
    assert state["outbox"] == 1
    assert state["directory_version"] == VERSION
    assert state["online"] is False
    assert state["devices"]["reader"]["state"] == "ok"
    assert state["devices"]["camera"]["state"] == "ok"
    assert 1.0 in pin_history(stand, config.pin_green)  # the green light came on
    assert 1.0 not in pin_history(stand, config.pin_red)

    running.let_the_card_go()
    running.tap(IVAN_CARD)

    state = wait_state(running.url, "the session to end", lambda s: pattern(s) == "ended")
    assert state["open_sessions"] == []
    assert state["outbox"] == 2
    assert 1.0 in pin_history(stand, config.pin_blue)
    kinds = [event.type for event in events(stand.store)]
    assert kinds == ["session.started", "session.ended"]
    started, ended = events(stand.store)
    assert started.payload["method"] == "card"
    assert ended.payload["session_uuid"] == session["id"]


def test_an_unknown_card_is_refused(running: Running) -> None:
    stand, config = running.stand, running.stand.config

    running.tap(UNKNOWN_CARD)

    state = wait_state(running.url, "the refusal", lambda s: pattern(s) == "refused")
    assert state["open_sessions"] == []
    assert state["last_feedback"]["reason"] == MESSAGES["unknown"]
    assert state["outbox"] == 1
    [refused] = events(stand.store)
    assert refused.type == "tap.refused"
    assert refused.payload["reason"] == "unknown"
    assert refused.payload["credential_value"] == UNKNOWN_CARD
    assert 1.0 in pin_history(stand, config.pin_red)
    assert 1.0 not in pin_history(stand, config.pin_green)


def test_a_signed_qr_code_shown_to_the_camera_starts_a_session(running: Running) -> None:
    stand = running.stand
    result = CliRunner().invoke(
        main,
        ["scan", "--text", qr_token(IVAN, IVAN_QR_ID)],
        env={"AQUASTAND_DATA_DIR": str(stand.config.data_dir), "AQUASTAND_EDGE_CONFIG": None},
    )
    assert result.exit_code == 0, result.output

    state = wait_state(
        running.url,
        "the session to open",
        lambda s: (
            len(s["open_sessions"]) == 1
            and pattern(s) == "accepted"
            and s["devices"]["camera"]["frames_seen"] == 1
        ),
    )
    assert state["open_sessions"][0]["client_id"] == IVAN
    [started] = events(stand.store)
    assert started.type == "session.started"
    assert started.payload["method"] == "qr"
    assert not [p for p in stand.camera_inbox.iterdir()]  # the frame was taken


# --- the command as an operator runs it --------------------------------------------------------


def edge_command() -> str:
    path = Path(sys.executable).parent / "aquastand-edge"
    need(path.exists(), "the aquastand-edge script (pip install -e .)")
    return str(path)


def test_run_simulate_serves_taps_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
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
        AQUASTAND_EDGE_DEBOUNCE_S=str(DEBOUNCE_S),
        PYTHONUNBUFFERED="1",
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def ready() -> bool:
        while not lines.empty():
            output.append(lines.get_nowait())
        assert process.poll() is None, f"the stand exited early: {output}"
        return any(line.startswith("ready") for line in output)

    with subprocess.Popen(
        [command, "run", "--simulate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        pump = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
        pump.start()
        try:
            wait_for("the stand to be ready", ready)
            url = f"http://127.0.0.1:{port}"
            assert f"{url}/api/state" in output[-1]

            tap = subprocess.run(
                [command, "tap", IVAN_CARD],
                env=env,
                capture_output=True,
                text=True,
                timeout=WAIT_S,
                check=False,
            )
            assert tap.returncode == 0, tap.stderr
            state = wait_state(url, "the session to open", lambda s: len(s["open_sessions"]) == 1)
            assert state["open_sessions"][0]["client_id"] == IVAN
            assert state["last_feedback"]["pattern"] == "accepted"

            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=WAIT_S)
            pump.join(WAIT_S)
            while not lines.empty():
                output.append(lines.get_nowait())
            assert returncode == 0, output
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            pump.join(WAIT_S)
    while not lines.empty():
        output.append(lines.get_nowait())
    assert output[-1].strip() == "stopped", output


def test_run_refuses_to_start_a_stand_that_is_not_provisioned(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--simulate"],
        env={
            "AQUASTAND_DATA_DIR": str(tmp_path / "stand"),
            "AQUASTAND_EDGE_CONFIG": None,
            "AQUASTAND_EDGE_STAND_ID": "0",
            "AQUASTAND_NFC_DEVICE": f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        },
    )
    assert result.exit_code == 78  # EX_CONFIG: systemd does not restart it every few seconds
    assert "stand_id is not configured" in result.output


@pytest.mark.parametrize("args", [["scan"], ["scan", "--text", "x", __file__]])
def test_scan_takes_either_an_image_or_a_text(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(
        main, args, env={"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_EDGE_CONFIG": None}
    )
    assert result.exit_code == 2
    assert "give either IMAGE or --text PAYLOAD" in result.output


def test_scan_places_an_image_file_whole_under_a_visible_name(tmp_path: Path) -> None:
    image = tmp_path / "code.png"
    image.write_bytes(b"\x89PNG not really")
    result = CliRunner().invoke(
        main,
        ["scan", str(image)],
        env={"AQUASTAND_DATA_DIR": str(tmp_path / "stand"), "AQUASTAND_EDGE_CONFIG": None},
    )
    assert result.exit_code == 0, result.output
    [placed] = (tmp_path / "stand" / "camera").iterdir()
    assert not placed.name.startswith(".")
    assert placed.suffix == ".png"
    assert placed.read_bytes() == image.read_bytes()


def test_the_screen_server_closes_even_after_its_loop_closed_its_trigger(running: Running) -> None:
    """Seen once in CI: closing the stand found the serving loop's trigger closed already, and
    the teardown failed with EBADF. Closing must still stop serving and free the port."""
    server = running.server
    server._server.trigger.close()

    server.close()

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))  # nothing listens there any more
    assert server.stopped_loops() == ["screen server"]
