"""Time as the central service reads and writes it.

The app owns one clock (``create_app(clock=...)``, kept in ``app.extensions``): the web layer
reads it once per request with ``app_now()`` and passes ``now`` down, so a service never reads
the wall clock itself and a test can set the time::

    clock = FixedClock(datetime(2026, 3, 1, 21, 20, tzinfo=UTC))  # 00:20 in Moscow
    app = create_app(clock=clock, ...)

Texts for the API and CSV are ISO 8601 UTC (``iso_utc``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from flask import current_app

EXTENSION = "aquastand_clock"


class Clock(Protocol):
    """Where the central service gets the time from."""

    def now(self) -> datetime:
        """The current moment, UTC-aware."""


class SystemClock:
    """The wall clock (production)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told otherwise (tests, demo data at a chosen moment)."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("naive datetime given to a clock")
        self._at = at.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        """Move on by ``timedelta(**delta)`` (``clock.advance(minutes=5)``)."""
        self._at += timedelta(**delta)


def app_clock() -> Clock:
    """The running app's clock."""
    clock: Clock = current_app.extensions[EXTENSION]
    return clock


def app_now() -> datetime:
    """The running app's current moment: what a route or command reads, once, and passes on."""
    return app_clock().now()


def iso_utc(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp (``2024-03-01T10:00:00Z``), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
