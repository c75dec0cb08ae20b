"""How both processes log: one ``key=value`` line per record, journald-aware, repeats bounded.

A line reads ``level=warning logger=hardware.nfc msg="NFC reader on usb failed: ..."``, with
``time=...`` in front unless the process runs under systemd with its output going to the
journal (``JOURNAL_STREAM`` names our stderr), where journald stamps every line itself and a
``<N>`` syslog prefix gives the line its priority (``journalctl -p warning`` finds it).

The same line (same logger, level and text, numbers aside) coming again within
``REPEAT_INTERVAL_S`` is dropped and counted; its next appearance after the interval carries ``repeated=N``. So a
reader failing every second writes one line a minute, not sixty: the stand's SD card is not
worn out by one broken cable.

>>> setup_logging()  # the stand's ``run``; gunicorn uses gunicorn_logging()
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

REPEAT_INTERVAL_S = 60.0
# Forget lines not seen for this long once this many are remembered (bounded memory).
REPEAT_MEMORY = 512
# journald's priorities for Python's levels (sd-daemon(3) prefixes).
PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def under_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True if ``stream`` is the journal stream systemd connected (``JOURNAL_STREAM`` holds its
    device and inode), not merely a process started from a service that set the variable."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):
        return False


def quote(value: object) -> str:
    """``value`` as a logfmt value: bare if it is one plain word, else in double quotes."""
    text = str(value)
    if text and not any(char in text for char in ' "=\\\n\r\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


class LogfmtFormatter(logging.Formatter):
    """``[time=...] level=... logger=... msg="..." [repeated=N] [exc="..."]``, then the
    traceback if any. ``journal`` (default: whether stderr is the journal stream) leaves the
    time out and puts journald's priority prefix on every line."""

    def __init__(self, journal: bool | None = None) -> None:
        super().__init__()
        self.journal = under_journal(sys.stderr) if journal is None else journal

    def format(self, record: logging.LogRecord) -> str:
        fields: list[tuple[str, object]] = []
        if not self.journal:
            moment = datetime.fromtimestamp(record.created, UTC)
            fields.append(("time", moment.isoformat(timespec="milliseconds")))
        fields += [
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
        ]
        repeated = getattr(record, "repeated", 0)
        if repeated:
            fields.append(("repeated", repeated))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            fields.append(("exc", f"{type(error).__name__}: {error}"))
        lines = [" ".join(f"{key}={quote(value)}" for key, value in fields)]
        if record.exc_info:
            lines += self.formatException(record.exc_info).splitlines()
        if record.stack_info:
            lines += record.stack_info.splitlines()
        if self.journal:
            prefix = f"<{PRIORITIES.get(record.levelno, 6)}>"
            return "\n".join(prefix + line for line in lines)
        return "\n".join(lines)


class RepeatFilter(logging.Filter):
    """Lets a line through once per ``interval_s``; the one let through after a quiet spell of
    repeats carries ``record.repeated``, how many were dropped since the last one shown.

    >>> handler.addFilter(RepeatFilter(60.0))
    """

    def __init__(
        self, interval_s: float = REPEAT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key: (shown at, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, _identity(record))
        now = self._clock()
        with self._lock:
            shown_at, dropped = self._seen.get(key, (None, 0))
            if shown_at is not None and now - shown_at < self.interval_s:
                self._seen[key] = (shown_at, dropped + 1)
                return False
            if len(self._seen) >= REPEAT_MEMORY:
                self._forget(now)
            self._seen[key] = (now, 0)
        record.repeated = dropped
        return True

    def _forget(self, now: float) -> None:
        self._seen = {
            key: entry for key, entry in self._seen.items() if now - entry[0] < self.interval_s
        }
        while len(self._seen) >= REPEAT_MEMORY:
            del self._seen[next(iter(self._seen))]


def _identity(record: logging.LogRecord) -> str:
    """What makes two records "the same line": the message with its numbers left out (the
    agent's "sync failed (...); next attempt in 7.5 s" is one line whatever the wait), and the
    exception they carry."""
    if isinstance(record.args, tuple) and record.args:
        words = [str(arg) for arg in record.args if isinstance(arg, bool | str) or not _number(arg)]
        text = "\x00".join([str(record.msg), *words])
    else:
        text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        text += f"\x00{type(error).__name__}: {error}"
    return text


def _number(value: object) -> bool:
    return isinstance(value, int | float)


_OURS = "aquastand"


def setup_logging(
    level: int = logging.INFO,
    stream: TextIO | None = None,
    levels: Mapping[str, int] | None = None,
    repeat_interval_s: float = REPEAT_INTERVAL_S,
) -> logging.Handler:
    """Send every record of this process to ``stream`` (stderr) as logfmt lines, a repeated
    line once per ``repeat_interval_s``; ``levels`` sets chatty libraries' loggers higher.
    Calling it again replaces the handler it installed before."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _OURS:
            root.removeHandler(handler)
            handler.close()
    target = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(target)
    handler.set_name(_OURS)
    handler.setFormatter(LogfmtFormatter(journal=under_journal(target)))
    handler.addFilter(RepeatFilter(repeat_interval_s))
    root.addHandler(handler)
    root.setLevel(level)
    for name, logger_level in (levels or {}).items():
        logging.getLogger(name).setLevel(logger_level)
    return handler


def gunicorn_logging() -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error and access logs and the app's own records
    through the same formatter and repeat filter as :func:`setup_logging`."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "logfmt",
        "filters": ["repeats"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"logfmt": {"()": LogfmtFormatter}},
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {"logfmt": handler},
        "root": {"level": "INFO", "handlers": ["logfmt"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
