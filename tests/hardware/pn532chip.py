"""A PN532 in HSU (UART) mode on the master side of a pseudo-terminal, for nfcpy's pn532 driver.

It answers what nfcpy's ``pn532.init``, its ``Device`` set-up, a sense cycle for a Type A card
(no card present) and ``close()`` send: GetFirmwareVersion, SAMConfiguration, Diagnose (line
test), SetParameters, RFConfiguration, ReadRegister, WriteRegister, InListPassiveTarget,
SetSerialBaudrate and PowerDown, each acknowledged first as the chip does.

The chip keeps its own baud rate, as a real one does: SetSerialBaudrate takes effect after
the host acknowledges the reply, and only ``close()``'s SetSerialBaudrate(115200) or a power
cut brings it back. Bytes the host sends at another rate than the chip's (read from the
terminal's settings, which the host's pyserial sets) are lost, as framing errors lose them on a
real UART, and get no answer. nfcpy's driver finds the port by a name under ``/dev``
(``tty:NAME:pn532``), so the pty's slave is linked there as ``/dev/aqspn532-<pid>``.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import tty
from pathlib import Path
from types import TracebackType
from typing import Self

ACK = bytes.fromhex("0000ff00ff00")
RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in RATES if hasattr(termios, f"B{rate}")}


def reply(command: int, data: bytes = b"") -> bytes:
    """The chip's response frame to ``command``."""
    body = bytes([0xD5, command + 1]) + data
    length = len(body)
    if length < 255:
        head = bytes([0x00, 0x00, 0xFF, length, (256 - length) & 0xFF])
    else:  # an extended information frame
        size = length.to_bytes(2, "big")
        head = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF]) + size + bytes([(256 - sum(size)) & 0xFF])
    return head + body + bytes([(256 - sum(body)) & 0xFF, 0x00])


class EmulatedPn532:
    """A PN532 at ``rate`` baud behind ``/dev/<name>``; ``path`` is nfcpy's ``tty:`` path.

    >>> with EmulatedPn532(rate=921600) as chip:
    ...     nfc.ContactlessFrontend(chip.path)  # no answer: "No such device"
    """

    def __init__(self, rate: int = 115200) -> None:
        self.rate = rate
        self.commands: list[tuple[int, int]] = []  # (command code, chip's rate) answered
        self._pending_rate: int | None = None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.name = f"aqspn532-{os.getpid()}"
        self.link = Path("/dev") / self.name
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(self._slave))
        self.path = f"tty:{self.name}:pn532"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pn532-chip", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.link.unlink(missing_ok=True)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _host_rate(self) -> int:
        return SPEEDS.get(termios.tcgetattr(self._slave)[5], 0)

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 1024)
            except OSError:
                continue  # the host closed its side for a moment (reopening at a new rate)
            host_rate = self._host_rate()
            if self._pending_rate is not None and host_rate == self._pending_rate:
                # The host acknowledged the switch and reopened at the new rate before this
                # read: the ACK in this chunk was sent at the old rate (a pty has no line speed).
                self.rate, self._pending_rate = self._pending_rate, None
            if host_rate != self.rate:
                buffer = b""  # garbled at the chip: nothing understood, nothing answered
                continue
            buffer += chunk
            buffer = self._handle(buffer)

    def _handle(self, buffer: bytes) -> bytes:
        """Answer every complete frame in ``buffer``; return what is left of it."""
        while (start := buffer.find(b"\x00\xff")) >= 0 and len(buffer) >= start + 4:
            length, check = buffer[start + 2], buffer[start + 3]
            if length == 0 and check == 0xFF:  # an ACK from the host
                buffer = buffer[start + 4 :]
                if self._pending_rate is not None:
                    self.rate, self._pending_rate = self._pending_rate, None
                continue
            first = start + 4
            if length == 0xFF and check == 0xFF:  # an extended frame: two bytes of length
                if len(buffer) < start + 7:
                    break
                length, first = int.from_bytes(buffer[start + 4 : start + 6], "big"), start + 7
            end = first + length + 2
            if len(buffer) < end:
                break
            body = buffer[first : first + length]
            buffer = buffer[end:]
            if body[:1] == b"\xd4" and len(body) >= 2:
                self._answer(body[1], body[2:])
        return buffer

    def _answer(self, command: int, data: bytes) -> None:
        self.commands.append((command, self.rate))
        os.write(self._master, ACK)
        if command == 0x02:  # GetFirmwareVersion: PN532 v1.6, every card type
            os.write(self._master, reply(command, bytes.fromhex("32010607")))
        elif command == 0x00:  # Diagnose: the line test echoes its data
            os.write(self._master, reply(command, data))
        elif command == 0x06:  # ReadRegister: 0x26 (SENS_REQ still in the FIFO: no card)
            os.write(self._master, reply(command, bytes([0x26] * (len(data) // 2))))
        elif command == 0x4A or command == 0x16:  # InListPassiveTarget: no target
            os.write(self._master, reply(command, b"\x00"))
        elif command == 0x10:  # SetSerialBaudrate: after the host's ACK
            os.write(self._master, reply(command))
            self._pending_rate = RATES[data[0]]
        else:  # SAMConfiguration, SetParameters, RFConfiguration, WriteRegister
            os.write(self._master, reply(command))
