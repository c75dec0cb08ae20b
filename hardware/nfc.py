"""NFC reader: an nfcpy ``ContactlessFrontend`` loop that reports card identifiers.

The reader runs in its own daemon thread and calls ``on_uid`` (from that thread) with a card's
identifier as upper-case hex, once per tap: the same identifier seen again within
``debounce_s`` of when it was last seen (held on the reader, lifted and put back) is the same
tap. It never raises into the caller: when the frontend cannot be opened or fails (a reader
unplugged, a garbled frame), it closes the frontend, waits with a growing back-off and opens it
again, and :meth:`NfcpyReader.health` tells what is going on.

Device paths are nfcpy's: ``usb``, ``tty:AMA0:pn532``, ... or ``udp:127.0.0.1:PORT``, nfcpy's
own simulated link, on which :func:`emulate_card` presents a card emulated by nfcpy (tests, the
demo and the ``tap`` command). A PN532 on a UART that a killed process left at a fast baud rate
is brought back to 115200 before the next attempt (:mod:`hardware.pn532`).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import nfc
import nfc.clf

from hardware.device import ClosedOnExit, Device
from hardware.pn532 import restore_baud_rate, uart_port

log = logging.getLogger(__name__)

ReaderState = Literal["ok", "connecting", "failed", "stopped"]
# Type A at 106 kbit/s: MIFARE Classic, Ultralight, NTAG, DESFire, bank cards. Each other type
# polled (212F: FeliCa) adds a sense command, and its wait, to every cycle.
DEFAULT_TARGETS = ("106A",)
TARGETS = ("106A", "106B", "212F", "424F")
# The wait before each sense cycle: a card put on the reader is sensed within this plus one
# cycle, while a USB reader is not polled back to back (which starves the USB bus of a Pi).
POLL_PAUSE_S = 0.025
FIRST_BACKOFF_S = 0.25
WORKED_FOR_S = 30.0
# How long a stopped reader may take to notice: nfcpy checks ``terminate`` between sense
# cycles, and on the udp link each technology waits up to one second for an answer.
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class ReaderHealth:
    """A snapshot of a reader's condition.

    ``state``: "ok" (polling), "connecting" (opening the frontend, or about to reopen it after a
    failure), "failed" (the last attempt failed; waiting to retry), "stopped" (not started, or
    closed). ``last_error``: why it last failed ("" if never). ``last_seen_at``: when a card was
    last read (UTC), or None. ``reconnects``: how many times the frontend was reopened after a
    failure.
    """

    state: ReaderState
    last_error: str
    last_seen_at: datetime | None
    reconnects: int


@runtime_checkable
class CardReader(Device, Protocol):
    """A card reader reporting identifiers through a callback given at construction."""

    def start(self) -> None:
        """Start reading in the background; calling it again does nothing."""

    def health(self) -> ReaderHealth:
        """The reader's condition now."""


class _FrontendError(Exception):
    """The frontend stopped working (nfcpy swallowed the cause and logged it)."""


class _ThreadErrors(logging.Handler):
    """Keeps the last error nfcpy logged from one thread.

    ``ContactlessFrontend.connect`` catches the I/O error of an unplugged reader, logs it and
    returns False; this handler recovers the message for :class:`ReaderHealth`.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread_id: int | None = None
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.last = record.getMessage()


class NfcpyReader(ClosedOnExit):
    """An nfcpy reader polling for cards in a daemon thread, recovering from failures by itself.

    >>> with NfcpyReader("udp:127.0.0.1:54321", print) as reader:
    ...     reader.start()

    ``targets`` are the technologies polled (nfcpy bitrate/type strings, :data:`TARGETS`; only
    the card types in use: each costs a sense command per cycle); ``max_backoff_s`` caps the
    wait between attempts to reopen a failed frontend.
    """

    def __init__(
        self,
        device_path: str,
        on_uid: Callable[[str], None],
        *,
        debounce_s: float = 3.0,
        targets: tuple[str, ...] = DEFAULT_TARGETS,
        max_backoff_s: float = 4.0,
    ) -> None:
        unknown = set(targets) - set(TARGETS)
        if not targets or unknown:
            raise ValueError(f"card types to poll must be some of {', '.join(TARGETS)}")
        self._path = device_path
        self._on_uid = on_uid
        self._debounce_s = debounce_s
        self._targets = list(targets)
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._errors = _ThreadErrors()
        self._last_seen: dict[str, float] = {}
        self._health = ReaderHealth("stopped", "", None, 0)

    def start(self) -> None:
        """Start the reader thread (at most once)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._health = ReaderHealth("connecting", "", None, 0)
            self._thread = threading.Thread(target=self._run, name="nfc-reader", daemon=True)
        logging.getLogger("nfc").addHandler(self._errors)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the frontend; waits for nfcpy's current sense cycle."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(STOP_GRACE_S)
            logging.getLogger("nfc").removeHandler(self._errors)
        self._update(state="stopped")

    def health(self) -> ReaderHealth:
        """The reader's condition now."""
        with self._lock:
            return self._health

    @property
    def running(self) -> bool:
        """True while the reader's thread runs (started, not closed, not died)."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._health = replace(self._health, **changes)

    def _run(self) -> None:
        self._errors.thread_id = threading.get_ident()
        backoff = FIRST_BACKOFF_S
        while not self._stop.is_set():
            opened_at = time.monotonic()
            opened = False
            try:
                with nfc.ContactlessFrontend(self._path) as clf:
                    opened = True
                    self._update(state="ok")
                    self._poll(clf)
            # The reader must outlive anything its driver raises: nfcpy lets the error of a
            # garbled frame escape as ValueError, and a reader that cannot be opened as OSError.
            except Exception as error:
                self._update(state="failed", last_error=_describe(error))
                log.warning("NFC reader on %s failed: %s", self._path, _describe(error))
            if not opened:
                self._recover_uart()
            if time.monotonic() - opened_at > WORKED_FOR_S:
                backoff = FIRST_BACKOFF_S  # it had been working: a fresh failure, retry soon
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self._max_backoff_s)
            self._update(state="connecting", reconnects=self.health().reconnects + 1)

    def _recover_uart(self) -> None:
        """After a failed open of a PN532 on a UART: it may have been left at a fast rate."""
        port = uart_port(self._path)
        if port is None:
            return
        try:
            restore_baud_rate(port)
        except OSError as error:
            log.warning("cannot probe the PN532 on %s: %s", port, error)

    def _poll(self, clf: nfc.ContactlessFrontend) -> None:
        """Sense for cards until stopped; raises _FrontendError when the frontend gives up."""
        options = {
            "targets": self._targets,
            "on-connect": self._on_connect,
            "on-release": self._on_release,
            "iterations": 1,
            "beep-on-connect": False,
        }
        while not self._stop.is_set():
            self._errors.last = ""
            if clf.connect(rdwr=options, terminate=self._pause) is False:
                raise _FrontendError(self._errors.last or "the reader stopped responding")

    def _pause(self) -> bool:
        """nfcpy's ``terminate``: called before each sense cycle and each presence check.

        Waiting here paces the polling (a USB reader would otherwise be polled back to back)
        while a close() still ends the wait at once.
        """
        return self._stop.wait(POLL_PAUSE_S)

    def _on_connect(self, tag: Any) -> bool:
        uid = bytes(tag.identifier).hex().upper()
        if self._sighting(uid):
            self._report(uid)
        # True: nfcpy waits here until the card is gone, checking ``terminate`` meanwhile.
        return True

    def _on_release(self, tag: Any) -> bool:
        self._sighting(bytes(tag.identifier).hex().upper())
        return True

    def _sighting(self, uid: str) -> bool:
        """Record that ``uid`` is seen now; True if it is a new tap (not seen within debounce)."""
        now = time.monotonic()
        last = self._last_seen.get(uid)
        self._last_seen = {
            seen_uid: at for seen_uid, at in self._last_seen.items() if now - at < self._debounce_s
        }
        self._last_seen[uid] = now
        self._update(last_seen_at=datetime.now(UTC))
        return last is None or now - last >= self._debounce_s

    def _report(self, uid: str) -> None:
        try:
            self._on_uid(uid)
        except Exception:
            # The callback belongs to the caller; its failure must not stop the reader.
            log.exception("on_uid callback failed for %s", uid)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, _FrontendError) else f"{type(error).__name__}: {text}"


def emulate_card(device_path: str, uid_hex: str, *, duration_s: float = 2.5) -> None:
    """Present a card with identifier ``uid_hex`` on nfcpy's udp link for ``duration_s``.

    An 8-byte identifier is a FeliCa IDm (a Type 3 card at 212F); 4 or 7 bytes is a Type A
    NFCID1 (a Type 2 card at 106A). The reader must be polling that technology. On the udp link
    a reader waits up to a second per technology for an answer, so a card should stay at least
    one full poll cycle (a second per technology polled) to be sure to be seen.

    >>> emulate_card("udp:127.0.0.1:54321", "0102030405060708", duration_s=2.5)

    Raises ValueError for a malformed identifier, OSError if the port is taken.
    """
    uid = _parse_uid(uid_hex)
    deadline = time.monotonic() + duration_s
    with nfc.ContactlessFrontend(device_path) as clf:
        if len(uid) == 8:
            _listen(clf, _felica_target(uid), deadline)
        else:
            # A Type 2 listen returns at the reader's first command after anticollision (nfcpy
            # emulates no Type 2 memory); the reader then senses again, so keep listening.
            activated = True
            while activated:
                activated = _listen(clf, _type_a_target(uid), deadline)


def _parse_uid(uid_hex: str) -> bytes:
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        raise ValueError(f"card identifier {uid_hex!r} is not hexadecimal") from None
    # 10-byte NFCID1s are left out: nfcpy 1.0.4's udp listen_tta matches the third cascade
    # level's SEL_REQ with the second level's command code, so such a card never answers.
    if len(uid) not in (4, 7, 8):
        raise ValueError(f"card identifier {uid_hex!r}: expected 4, 7 or 8 bytes")
    return uid


def _felica_target(idm: bytes) -> nfc.clf.LocalTarget:
    # A PMm whose IC code (first byte) nfcpy does not know: the reader activates a plain
    # Type 3 tag from the polling response alone, without further commands.
    pmm, system_code = bytes(8 * [0xFF]), bytes.fromhex("12FC")
    return nfc.clf.LocalTarget("212F", sensf_res=bytearray(b"\x01" + idm + pmm + system_code))


def _type_a_target(nfcid1: bytes) -> nfc.clf.LocalTarget:
    # ATQA: single- or double-size UID; SAK 00: a Type 2 tag (no ISO-DEP, no NFC-DEP).
    atqa = "0400" if len(nfcid1) == 4 else "4400"
    return nfc.clf.LocalTarget(
        "106A",
        sens_res=bytearray.fromhex(atqa),
        sdd_res=bytearray(nfcid1),
        sel_res=bytearray.fromhex("00"),
    )


def _listen(clf: nfc.ContactlessFrontend, target: nfc.clf.LocalTarget, deadline: float) -> bool:
    """Listen as ``target`` until ``deadline``; True if activated with time left to go on."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    activated = clf.listen(target, left)
    if activated is None and deadline - time.monotonic() > 0.1:
        # nfcpy returns early with nothing when it cannot bind the udp port.
        raise OSError(errno.EADDRINUSE, f"cannot present a card on {clf.device}: port in use")
    return activated is not None
