"""Tap latency from the card entering the reader's field to the first light, on nfcpy's udp link.

A whole stand (:class:`edge.stand.Stand`, as ``bench/tap_latency.py`` builds it: 250 members,
MockFactory pins, patterns played a thousand times faster) polls nfcpy's ``udp`` reader. For
each tap a Type A card (7-byte UID, a different card each time) is emulated by nfcpy on the
other end of the link, in this process: the clock starts when the card's socket is bound (the
card is "in the field": the next SENS_REQ reaches it) and stops on the LED pins: the "seen"
blip (first pin change) and the verdict (first pin at half or more). The card stays until the
verdict, then leaves; the next tap starts once the reader has polled again.

Three spans per tap:

- ``field→sense``: until the reader's SENS_REQ that finds the card is sent. On the udp link a
  reader with no card waits a whole second for an answer to each SENS_REQ, so a card arriving
  meanwhile waits up to 1 s + the pause: an artefact of the simulation. A PN532 answers
  "no card" within a few ms, so on a stand this span is at most ``POLL_PAUSE_S`` (25 ms) plus
  one empty poll; not measured here.
- ``sense→blip``: anticollision, activation, nfcpy's tag set-up, the reader's callback and
  the blip: the stand's own share, as a physical reader would run it (without the RF and UART
  time, a few ms at 106 kbit/s and 921600 baud).
- ``sense→verdict``: the same to the verdict (the engine's durable commit included).

    .venv/bin/python bench/field_tap.py [--taps 40]

Last line: ``field_tap field_blip_p50_ms=… field_blip_p99_ms=… sense_blip_p99_ms=…
sense_verdict_p99_ms=…``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import nfc
import nfc.clf.udp
from tap_latency import CARDS, FAST, PinWatch, config_for, directory, percentile, uid

from edge.stand import Stand
from edge.store import Store
from hardware.feedback import GpioFeedback, make_pin_factory
from hardware.nfc import _type_a_target
from sync.directory import validate_directory

WAIT_S = 5.0


class SenseClock:
    """When the reader's last successful Type A sense (the SENS_REQ that found a card) began."""

    def __init__(self) -> None:
        self.found_ns = 0
        original = nfc.clf.udp.Device.sense_tta

        def timed(device: nfc.clf.udp.Device, target: object) -> object:
            started = time.perf_counter_ns()
            found = original(device, target)
            if found is not None:
                self.found_ns = started
            return found

        nfc.clf.udp.Device.sense_tta = timed


def present(path: str, card_uid: str, until: threading.Event, bound: list[int]) -> None:
    """Hold a Type A card on the udp link until ``until`` is set; note when it was bound."""
    target = _type_a_target(bytes.fromhex(card_uid))
    with nfc.ContactlessFrontend(path) as clf:
        bound.append(time.perf_counter_ns())
        while not until.is_set():
            clf.listen(target, 0.3)


def measure(stand: Stand, taps: int) -> dict[str, list[float]]:
    factory = make_pin_factory("mock")
    config = stand.config
    pins = (config.pin_red, config.pin_green, config.pin_blue)
    feedback = GpioFeedback(*pins, config.pin_buzzer, pin_factory=factory, time_scale=FAST)
    original, stand.feedback, stand.engine.feedback = stand.feedback, feedback, feedback
    watch = PinWatch([factory.pin(pin) for pin in pins])
    sense = SenseClock()
    spans: dict[str, list[float]] = {key: [] for key in ("field", "sense_blip", "sense_verdict")}
    spans["blip"] = []
    try:
        for number in range(taps):
            assert feedback.wait_idle(WAIT_S)
            watch.arm()
            gone, bound = threading.Event(), []
            card = threading.Thread(
                target=present, args=(config.nfc_device, uid(number % CARDS + 1), gone, bound)
            )
            card.start()
            if not watch.verdict.wait(WAIT_S + 2):
                raise RuntimeError(f"no verdict for tap {number}")
            gone.set()
            card.join(WAIT_S)
            entered = bound[0]
            spans["field"].append((sense.found_ns - entered) / 1e6)
            spans["blip"].append((watch.blip_ns - entered) / 1e6)
            spans["sense_blip"].append((watch.blip_ns - sense.found_ns) / 1e6)
            spans["sense_verdict"].append((watch.verdict_ns - sense.found_ns) / 1e6)
            # The reader notices the card left; then a random phase of its 1-s udp sense cycle.
            time.sleep(1.2 + random.uniform(0.0, 1.1))
    finally:
        stand.feedback = stand.engine.feedback = original  # type: ignore[assignment]
        feedback.close()
        factory.close()
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taps", type=int, default=40, help="measured taps (each ~2 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aquastand-field-") as tmp:
        config = config_for(Path(tmp) / "stand")
        store = Store(config.database_path)
        store.load_directory(validate_directory(directory(CARDS)), datetime.now(UTC))
        store.close()
        with Stand(config) as stand:
            stand.start()
            if not stand.wait_reader(WAIT_S):
                raise RuntimeError("the NFC reader did not start")
            spans = measure(stand, args.taps)
    print(f"taps: {args.taps}, Type A cards on nfcpy's udp link, polling {config.nfc_targets}")
    names = {
        "field": "field to sense",
        "blip": "field to blip",
        "sense_blip": "sense to blip",
        "sense_verdict": "sense to verdict",
    }
    for key, name in names.items():
        values = spans[key]
        print(
            f"  {name:<17} p50 {statistics.median(values):8.2f} ms  "
            f"p99 {percentile(values, 0.99):8.2f} ms  max {max(values):8.2f} ms"
        )
    print(
        f"field_tap field_blip_p50_ms={statistics.median(spans['blip']):.2f} "
        f"field_blip_p99_ms={percentile(spans['blip'], 0.99):.2f} "
        f"sense_blip_p99_ms={percentile(spans['sense_blip'], 0.99):.2f} "
        f"sense_verdict_p99_ms={percentile(spans['sense_verdict'], 0.99):.2f}"
    )


if __name__ == "__main__":
    main()
