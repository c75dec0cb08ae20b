"""The stand's clocks: the wall clock (UTC) for what it records, and the monotonic clock of this
boot for durations (the Pi has no real-time clock and may boot with a wrong time)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    """Wall and monotonic time; ``boot_id`` names the boot the monotonic clock counts in."""

    boot_id: str

    def now(self) -> datetime: ...

    def monotonic_ns(self) -> int: ...


def read_boot_id(path: Path = Path("/proc/sys/kernel/random/boot_id")) -> str:
    """Linux's id of this boot (CLOCK_MONOTONIC counts from it, across process restarts);
    a fresh id per process where there is none."""
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except (OSError, ValueError):
        return str(uuid.uuid4())


class SystemClock:
    def __init__(self) -> None:
        self.boot_id = read_boot_id()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()
