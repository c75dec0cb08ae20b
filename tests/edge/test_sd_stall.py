"""Light at once on a stalling SD card: with every fsync of the stand's database delayed 1.5 s
(an LD_PRELOAD shim, ``bench/fsyncstall.py``), a card tapped through nfcpy's udp link gets the
"seen" blip before the tap's commit even begins, the verdict only after the commit returns,
and the session is on disk when the stand comes back after being killed right after it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from bench.fsyncstall import build_shim, stalled_env
from edge.config import EdgeConfig
from edge.stand import Stand
from hardware.nfc import emulate_card
from tests.conftest import need
from tests.edge.conftest import (
    DEBOUNCE_S,
    IVAN,
    IVAN_CARD,
    PETR_CARD,
    SITE_ID,
    STAND_ID,
    TAP_S,
    events,
    free_port,
    load_directory,
)

STALL_S = 1.5
CHILD = Path(__file__).with_name("stalled_stand.py")


def read_json(stream: IO[str]) -> dict[str, Any]:
    line = stream.readline()
    assert line, "the stalled stand exited early"
    found: dict[str, Any] = json.loads(line)
    return found


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    need(shutil.which("cc") is not None, "a C compiler, cc (Debian package gcc)")
    return build_shim(tmp_path / "shim")


def taps_of(log: list[tuple[str, float]]) -> list[dict[str, float]]:
    """The log split at each report of a UID: per tap, when each thing first happened."""
    taps: list[dict[str, float]] = []
    for what, moment in log:
        if what == "uid":
            taps.append({})
        taps[-1].setdefault(what, moment)
    return taps


def test_the_blip_comes_before_a_stalled_commit_and_the_verdict_after_it(
    tmp_path: Path, shim: Path
) -> None:
    data_dir = (tmp_path / "stand").resolve()
    config = EdgeConfig(
        data_dir=data_dir,
        stand_id=STAND_ID,
        site_id=SITE_ID,
        nfc_device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        pin_factory="mock",
        camera="directory",
    )
    load_directory(config.database_path)  # before the stall: the test is about the taps
    settings = {
        "data_dir": str(data_dir),
        "stand_id": STAND_ID,
        "site_id": SITE_ID,
        "nfc_device": config.nfc_device,
        "debounce_s": DEBOUNCE_S,
        "taps": 2,
    }
    with subprocess.Popen(
        [sys.executable, str(CHILD), json.dumps(settings)],
        env=stalled_env(shim, data_dir, STALL_S),
        stdout=subprocess.PIPE,
        text=True,
    ) as stand_process:
        assert stand_process.stdout is not None
        try:
            assert read_json(stand_process.stdout) == {"ready": True}
            # Ivan starts a session; Пётр's card, tapped while the log of that commit is
            # being checkpointed into the database, is refused (the post is busy).
            emulate_card(config.nfc_device, IVAN_CARD, duration_s=TAP_S)
            assert read_json(stand_process.stdout) == {"checkpointing": True}
            emulate_card(config.nfc_device, PETR_CARD, duration_s=TAP_S)
            seen = read_json(stand_process.stdout)
        finally:
            stand_process.kill()  # a crash right after the verdict (or a failure above)

    log = seen["log"]
    print([(what, round(moment - log[0][1], 4)) for what, moment in log])  # for pytest -s
    checkpoints = [moment for what, moment in log if what.startswith("checkpoint")]
    log = [(what, moment) for what, moment in log if not what.startswith("checkpoint")]
    steps = ["uid", "play seen", "commit begins", "commit returns"]
    assert [what for what, _ in log] == [*steps, "play accepted", *steps, "play refused"]
    first, second = taps_of(log)
    # The second tap came while the checkpoint of the first one's log was stalled in its
    # fsyncs (two of them), and its commit began before that checkpoint returned: the
    # checkpoint did not hold the engine's worker.
    began = max(moment for moment in checkpoints[::2] if moment < second["uid"])
    returned = min(moment for moment in checkpoints[1::2] if moment > began)
    assert returned - began >= STALL_S * 0.95
    assert began < second["uid"] < second["commit begins"] < returned
    for tap in (first, second):
        # The shim worked: the tap's commit waited for the stalled fsync.
        assert tap["commit returns"] - tap["commit begins"] >= STALL_S * 0.95
        # The blip came before any database work, well within the stall; the verdict after.
        assert tap["play seen"] - tap["uid"] < STALL_S / 3
        assert tap["play seen"] <= tap["commit begins"]
        assert tap.get("play accepted", tap.get("play refused", 0)) >= tap["commit returns"]
    # On the pins, each tap: pale white, dark when the blip ended during the stall, then
    # the verdict: green with one beep, then red with a long one (the second tap's blip may
    # cut the green short).
    pins = seen["pins"]
    assert pins["red"] == [0, 0.4, 0, 0.4, 0, 1, 0]
    assert pins["blue"] == [0, 0.4, 0, 0.4, 0]
    assert pins["green"] in ([0, 0.4, 0, 1, 0, 0.4, 0], [0, 0.4, 0, 1, 0.4, 0])
    assert pins["buzzer"] == [0, 1, 0, 1, 0]

    # The stand comes back (without the stall) and finds the session and both events.
    with Stand(config) as restarted:
        [session] = restarted.store.open_sessions()
        assert session.client_id == IVAN
        started, refused = events(restarted.store)
        assert started.type == "session.started"
        assert started.payload["session_uuid"] == session.uuid
        assert refused.type == "tap.refused"
        assert refused.payload["reason"] == "post_busy"
