"""A PN532 on a UART that a killed process left at 921600 baud: the reader brings it back.

The chip is :class:`tests.hardware.pn532chip.EmulatedPn532` on a pseudo-terminal, driven by
nfcpy's own pn532 driver (which switches it to 921600, as on ``ttyAMA0``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import nfc
import pytest

from hardware.nfc import NfcpyReader
from hardware.pn532 import restore_baud_rate, uart_port
from tests.conftest import need
from tests.hardware.pn532chip import EmulatedPn532
from tests.hardware.waiting import wait_until

pytestmark = [
    # nfcpy 1.0.4's TTY.find opens each port to test it and leaves the file to the collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*aqspn532:pytest.PytestUnraisableExceptionWarning"
    ),
]

GET_FIRMWARE_VERSION = 0x02
SET_SERIAL_BAUDRATE = 0x10
IN_LIST_PASSIVE_TARGET = 0x4A
HOLDER = """
import sys, time, nfc
clf = nfc.ContactlessFrontend(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


@pytest.fixture
def chip() -> Iterator[EmulatedPn532]:
    # nfcpy finds a serial port only by its name under /dev, where only root makes links.
    need(os.geteuid() == 0, "root (to link the emulated PN532 under /dev)")
    with EmulatedPn532(rate=115200) as emulated:
        yield emulated


def kill_while_open(path: str) -> None:
    """Open the reader in another process with nfcpy, then SIGKILL it (no ``close()``)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, path], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "open"
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)


def test_nfcpy_alone_loses_a_chip_left_fast_by_a_kill(chip: EmulatedPn532) -> None:
    kill_while_open(chip.path)
    assert chip.rate == 921600  # nfcpy switched it and never switched it back

    with pytest.raises(OSError, match=r"timed out|No such device"):  # no answer at 115200
        nfc.ContactlessFrontend(chip.path)


def test_the_reader_recovers_a_chip_left_fast_by_a_kill(chip: EmulatedPn532) -> None:
    kill_while_open(chip.path)
    before = len(chip.commands)

    reader = NfcpyReader(chip.path, lambda uid: None, max_backoff_s=0.2)
    reader.start()
    try:
        wait_until(lambda: reader.health().state == "ok", what="the reader to be polling")
        wait_until(
            lambda: (IN_LIST_PASSIVE_TARGET, 921600) in chip.commands[before:],
            what="a sense cycle",
        )
    finally:
        reader.close()

    later = chip.commands[before:]
    # Sent back to 115200 at the rate the killed process left, then opened by nfcpy again.
    assert later[0] == (SET_SERIAL_BAUDRATE, 921600)
    assert reader.health().reconnects >= 1
    assert chip.rate == 115200  # the reader's own close() restored it too


def test_restore_leaves_a_chip_at_115200_alone(chip: EmulatedPn532) -> None:
    assert restore_baud_rate(str(chip.link)) is None
    assert chip.commands == []
    with nfc.ContactlessFrontend(chip.path):
        pass
    assert chip.commands[0] == (GET_FIRMWARE_VERSION, 115200)


@pytest.mark.parametrize("path", ["usb", "udp:127.0.0.1:9999", "tty:USB", "tty:AMA0:arygon"])
def test_only_one_named_pn532_port_is_probed(path: str) -> None:
    assert uart_port(path) is None


def test_the_port_of_a_named_pn532(chip: EmulatedPn532) -> None:
    assert uart_port(chip.path) == f"/dev/{chip.name}"
