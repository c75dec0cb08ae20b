"""What the sync agent (sync/agent.py) needs of the stand, its store and clock, and what it
tells: the central service's commands and its own status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sync.directorypage import DirectoryPage
from sync.events import Event


class AgentStore(Protocol):
    """What the agent needs of the stand's database (``edge.syncwiring`` adapts the Store)."""

    def pending_events(self, limit: int) -> list[Event]:
        """Unacknowledged events in ``seq`` order."""

    def mark_acked(self, up_to_seq: int) -> int:
        """Record the acknowledgment of every event up to ``up_to_seq``."""

    def acked_up_to(self) -> int:
        """The highest seq acknowledged (every event up to it is)."""

    def resend_from(self, seq: int) -> bool:
        """Mark the events from ``seq`` on unacknowledged to send them again; False if some of
        them are no longer kept."""

    def prune_acknowledged(self) -> int:
        """Delete acknowledged events past their retention."""

    def outbox_size(self) -> int: ...

    def oldest_unacked_at(self) -> datetime | None: ...

    def directory_cursor(self) -> int:
        """The cursor stored with the directory copy (0: none, ask for everything)."""

    def apply_directory_page(self, page: DirectoryPage) -> None:
        """Apply ``page`` and store its cursor, in one transaction."""


class StandClock(Protocol):
    """The stand's wall clock and its monotonic clock within boot ``boot_id``."""

    boot_id: str

    def now(self) -> datetime: ...

    def monotonic_ns(self) -> int: ...


@dataclass(frozen=True)
class Command:
    """An order from the central service (``type``: sync.directorypage.COMMAND_TYPES)."""

    id: int
    type: str
    session_uuid: str
    comment: str
    issued_by: int | None  # the staff member who ordered it (None: no longer on the staff)
    client_id: int | None = None  # whose session to start (start_session)


@dataclass(frozen=True)
class SyncStatus:
    """The agent's view, for the screen, ``/api/state`` and the heartbeat."""

    last_sync_at: datetime | None = None  # the stand's clock at the last successful cycle
    last_contact_mono: float | None = None  # time.monotonic() of the last reply read
    last_error: str = ""  # why the last cycle failed ("" after a good one)
    refused: str = ""  # the central service's reason for refusing an outbox event, if stuck
    alarm: str = ""  # what the stand cannot repair by itself (see the module's notes)
    failures: int = 0  # cycles failed in a row
    cursor: int = 0
    outbox: int = 0

    def online(self, now_mono: float, window_s: float) -> bool:
        return self.last_contact_mono is not None and now_mono - self.last_contact_mono <= window_s
