"""A simulated stand for the SD card stall test (``test_sd_stall.py``), run as its own process
under the fsync stall shim (``bench/fsyncstall.py``): the shim must be preloaded when the
process starts, so the stand cannot run inside pytest's.

    python tests/edge/stalled_stand.py '{"data_dir": ..., "nfc_device": "udp:...", "taps": 2, ...}'

Prints one JSON line when the reader polls (``{"ready": true}``); after each verdict but the
last, one when a WAL checkpoint begins (``{"checkpointing": true}``: the test taps again);
after ``taps`` verdicts, what happened in order (``log``: the reader's reports of UIDs, each
pattern played, the commits on the engine's worker and the checkpoints, at monotonic seconds)
and the LED and buzzer pins' histories. Then it waits to be killed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from edge.stand import Stand

WAIT_S = 60.0

Log = list[tuple[str, float]]


def record(log: Log, what: str) -> None:
    log.append((what, time.monotonic()))


def instrument(stand: Stand, log: Log) -> None:
    """Note the reader's reports, the patterns played and the engine worker's commits."""
    assert stand.reader is not None and stand.feedback is not None
    report: Callable[[str], None] = stand.reader._on_uid
    play = stand.feedback.play
    commit = stand.store.database.commit
    checkpoint = stand.store.checkpoint

    def reported(uid: str) -> None:
        record(log, "uid")
        report(uid)

    def played(pattern: str) -> None:
        record(log, f"play {pattern}")
        play(pattern)

    def committed() -> Any:
        worker = threading.current_thread().name == "engine-worker"
        if worker:
            record(log, "commit begins")
        try:
            return commit()
        finally:
            if worker:
                record(log, "commit returns")

    def checkpointed() -> None:
        record(log, "checkpoint begins")
        try:
            checkpoint()
        finally:
            record(log, "checkpoint returns")

    stand.reader._on_uid = reported  # type: ignore[method-assign]
    stand.store.checkpoint = checkpointed  # type: ignore[method-assign]
    stand.feedback.play = played  # type: ignore[method-assign]
    stand.store.database.commit = committed  # type: ignore[method-assign]


def wait(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what}")
        time.sleep(0.005)


def checkpointing_after_commit(log: Log) -> bool:
    """Whether a checkpoint that began after the last commit is still running."""
    after_commit = running = False
    for what, _ in list(log):
        if what == "commit returns":
            after_commit, running = True, False
        elif what == "checkpoint begins":
            running = after_commit
        elif what == "checkpoint returns":
            running = False
    return running


def verdicts(log: Log) -> int:
    return sum(1 for what, _ in log if what.startswith("play") and what != "play seen")


def pins(stand: Stand) -> dict[str, list[float]]:
    config = stand.config
    wired = {
        "red": config.pin_red,
        "green": config.pin_green,
        "blue": config.pin_blue,
        "buzzer": config.pin_buzzer,
    }
    return {
        name: [float(change.state) for change in stand.pin_factory.pin(pin).states]
        for name, pin in wired.items()
    }


def main() -> None:
    settings = json.loads(sys.argv[1])
    config = EdgeConfig(
        data_dir=Path(settings["data_dir"]),
        stand_id=settings["stand_id"],
        site_id=settings["site_id"],
        nfc_device=settings["nfc_device"],
        pin_factory="mock",
        camera="directory",
        debounce_s=settings["debounce_s"],
    )
    log: Log = []
    with Stand(config) as stand:
        instrument(stand, log)
        stand.start()
        if not stand.wait_reader(WAIT_S):
            raise SystemExit("the reader did not start")
        print(json.dumps({"ready": True}), flush=True)
        for tap in range(1, settings["taps"] + 1):
            wait(f"verdict {tap}", lambda: verdicts(log) >= tap)  # noqa: B023
            if tap < settings["taps"]:
                # The log of that commit is being copied into the database now.
                wait("a checkpoint", lambda: checkpointing_after_commit(log))
                print(json.dumps({"checkpointing": True}), flush=True)
        assert stand.feedback is not None
        stand.feedback.wait_idle(WAIT_S)
        print(json.dumps({"log": log, "pins": pins(stand)}), flush=True)
        time.sleep(WAIT_S)  # the test kills the stand here: a crash right after the verdict


if __name__ == "__main__":
    main()
