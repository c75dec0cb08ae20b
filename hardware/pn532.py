"""A PN532 on a UART left at a fast baud rate: bring it back to 115200 so nfcpy finds it.

nfcpy's ``pn532.init`` opens the port at 115200 (the chip's rate after power-up), then, on
Linux when ``stty`` accepts 921600 (``ttyAMA0``, a USB serial adapter; not the Pi's mini
UART ``ttyS0``), sends ``SetSerialBaudrate`` and goes on at 921600. Only
``Device.close()`` sends the chip back to 115200. A process killed outright (SIGKILL, the
systemd watchdog's SIGABRT, the OOM killer) never runs it, and the chip keeps 921600 until its
power is cut, which a reboot of the Pi does not do: every later open at 115200 gets no
answer and nfcpy says "No such device".

:func:`restore_baud_rate` talks to the chip at each fast rate nfcpy may have chosen and, at
the one it answers, cancels whatever command was pending (an ACK frame) and sends
``SetSerialBaudrate(115200)``; after the host's ACK of the chip's reply the chip is back at
115200. The reader calls it after an open of a UART reader failed, so a chip at 115200 never
sees the fast-rate probes.

Why this rather than keeping nfcpy at 115200: nfcpy's choice is made inside ``pn532.init``
(``os.system("stty ...")``) with no option to turn it off short of patching the module, and
whatever left the chip fast (this process, an older version, ``nfc-list`` run by hand) the
same recovery applies. On a Pi whose GPIO UART is the mini UART (``tty:S0:pn532``) nfcpy
never switches, so there is nothing to recover.

Frames (PN532 User Manual, 6.2): ``00 00 FF LEN LCS D4 CMD DATA... DCS 00``; ACK is
``00 00 FF 00 FF 00``; ``SetSerialBaudrate`` is command 0x10 with the rate's index (4:
115200), answered ``D5 11``.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import serial

log = logging.getLogger(__name__)

ACK = bytes.fromhex("0000ff00ff00")
# The rates nfcpy switches to, fastest (its first choice) first.
FAST_RATES = (921600, 460800, 230400)
# Zeros before a command wake the chip's HSU and let it find the frame's start (nfcpy sends 10).
PREAMBLE = bytes(10)
RESET_TO_115200 = bytes.fromhex("0000ff03fdd4100418") + b"\x00"
RESET_REPLY = bytes.fromhex("0000ff02fed5111a00")
ANSWER_TIMEOUT_S = 0.05  # the chip acknowledges within 15 ms (PN532 User Manual)


def uart_port(device_path: str) -> str | None:
    """The serial port an nfcpy ``tty:`` path names (``tty:AMA0:pn532`` → ``/dev/ttyAMA0``,
    ``tty:NAME:pn532`` → ``/dev/NAME``, as nfcpy's ``TTY.find`` resolves them), None for
    other paths, a pattern nfcpy would search (``tty:USB``), another driver, or no such port."""
    parts = device_path.split(":")
    if parts[0] != "tty" or len(parts) < 2 or (len(parts) > 2 and parts[2] not in ("", "pn532")):
        return None
    name = parts[1]
    if re.fullmatch(r"(S|ACM|AMA|USB)\d+", name):
        port = Path("/dev") / f"tty{name}"
    elif not name or re.fullmatch(r"(S|ACM|AMA|USB|usbserial.*)", name):
        return None
    else:
        port = Path("/dev") / name
    return str(port) if port.exists() else None


def restore_baud_rate(port: str, rates: tuple[int, ...] = FAST_RATES) -> int | None:
    """Send a PN532 on ``port`` back to 115200 from whichever of ``rates`` it answers at.

    Returns the rate it was at, or None if it answered at none of them (it is at 115200
    already, unpowered, or not there). Raises OSError if the port cannot be opened.
    """
    for rate in rates:
        with serial.Serial(port, rate, timeout=ANSWER_TIMEOUT_S) as link:
            link.reset_input_buffer()
            # An ACK first: it cancels a command the killed process left running.
            link.write(ACK + PREAMBLE + RESET_TO_115200)
            if _answered(link):
                link.write(ACK)  # the chip switches once the host acknowledges its reply
                link.flush()
                time.sleep(0.002)
                log.warning("PN532 on %s was left at %d baud; set back to 115200", port, rate)
                return rate
    return None


def _answered(link: serial.Serial) -> bool:
    """Read the chip's ACK and its reply to SetSerialBaudrate (skipping stray bytes)."""
    received = b""
    deadline = time.monotonic() + 4 * ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        received += link.read(len(ACK) + len(RESET_REPLY))
        if ACK in received and RESET_REPLY in received:
            return True
    return False
