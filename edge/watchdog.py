"""Telling systemd how the stand is: ready, still alive, stopping (``sd_notify`` in a few lines).

The unit is ``Type=notify`` with ``WatchdogSec=``: systemd starts the kiosk only once the stand
said ``READY=1``, and kills and restarts the stand when ``WATCHDOG=1`` stops coming. The
:class:`Watchdog` sends it only while every loop of the stand runs (the engine worker, the NFC
reader's thread, the scheduler whose ticks the worker handles), so a loop that died or hangs
takes the process down instead of leaving a stand that looks up and ignores cards. The QR
camera's thread is watched through its frame source (:class:`BeatingSource`): a read stuck in
the camera driver stops the watchdog as a dead thread does.

The protocol is one datagram per message to the unix socket named by ``$NOTIFY_SOCKET`` (a
path, or ``@name`` in the abstract namespace); no library needed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from hardware.camera import FrameSource

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ...) to systemd; False if not run by a
    ``Type=notify`` unit (no ``$NOTIFY_SOCKET``) or the socket cannot be reached."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]  # the abstract namespace
    elif not address.startswith("/"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a listener that stopped reading must not stall the stand
            sock.sendto(message.encode(), address)
    except OSError as error:
        log.warning("cannot notify systemd at %s: %s", address.lstrip("\0"), error)
        return False
    return True


def watchdog_period(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``$WATCHDOG_USEC`` as systemd advises; None
    when no watchdog is asked for (or it is meant for another process, ``$WATCHDOG_PID``)."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


class Watchdog:
    """Feeds systemd's watchdog while ``stopped_loops()`` names none.

    >>> watchdog = Watchdog(stand.stopped_loops)
    >>> watchdog.ready("serving on http://127.0.0.1:8080")
    >>> while not stop.wait(watchdog.check_every_s):
    ...     watchdog.beat()
    """

    def __init__(
        self,
        stopped_loops: Callable[[], list[str]],
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._stopped_loops = stopped_loops
        self._clock = clock
        self.period_s = watchdog_period(self._env)
        self._last_sent: float | None = None
        self._failing: list[str] = []

    @property
    def check_every_s(self) -> float:
        """How often :meth:`beat` should be called."""
        return min(0.5, self.period_s) if self.period_s else 0.5

    def ready(self, status: str) -> None:
        """The stand serves: systemd may start what waits for it (the kiosk)."""
        notify(f"READY=1\nSTATUS={status}", self._env)
        self.beat()

    def beat(self) -> bool:
        """Send ``WATCHDOG=1`` if it is due and every loop runs; True if the loops all run."""
        stopped = self._stopped_loops()
        if stopped:
            if stopped != self._failing:
                log.error("stopped: %s; systemd's watchdog is no longer fed", ", ".join(stopped))
                notify(f"STATUS=stopped: {', '.join(stopped)}", self._env)
            self._failing = stopped
            return False
        self._failing = []
        now = self._clock()
        due = self._last_sent is None or now - self._last_sent >= (self.period_s or 0) * 0.9
        if self.period_s and due:
            notify("WATCHDOG=1", self._env)
            self._last_sent = now
        return True

    def stopping(self) -> None:
        """The stand is shutting down on purpose."""
        notify("STOPPING=1", self._env)


class BeatingSource:
    """A frame source that calls ``beat`` whenever the camera's thread uses it, so that a
    thread stuck in the camera driver (or dead) shows in ``Stand.stopped_loops`` (:mod:`edge.stand`)."""

    def __init__(self, source: FrameSource, beat: Callable[[], None]) -> None:
        self.source = source
        self._beat = beat

    def start(self) -> None:
        self._beat()
        self.source.start()

    def read(self, timeout: float) -> Image.Image | None:
        self._beat()
        frame = self.source.read(timeout)
        self._beat()
        return frame

    def close(self) -> None:
        self.source.close()
