"""The stand's Store as the sync agent's ``AgentStore`` (``sync.agent``): the outbox, and
directory pages applied with their cursor in one transaction (``Store.apply_directory_page``).

The agent polls only after a push whose reply it read, so an event applied centrally but not
yet acknowledged here is never in a balance the stand receives (see the package's notes on
balances).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from edge.config import EdgeConfig
from sync.agent import StandClock
from sync.directorypage import DirectoryPage
from sync.events import Event

if TYPE_CHECKING:
    from edge.store import Store


class StoreAdapter:
    """The stand's Store as the agent's ``AgentStore``: what the agent may do to it, with the
    stand's clock, its site and how long acknowledged events are kept."""

    def __init__(
        self,
        store: Store,
        clock: StandClock,
        site_id: int = 0,
        keep_days: float = EdgeConfig.outbox_keep_days,
        keep_max: int = EdgeConfig.outbox_keep_max,
    ) -> None:
        self.store = store
        self.clock = clock
        self.site_id = site_id
        self.keep_days = keep_days
        self.keep_max = keep_max

    def pending_events(self, limit: int) -> list[Event]:
        return self.store.pending_events(limit)

    def mark_acked(self, up_to_seq: int) -> int:
        return self.store.mark_acked(up_to_seq)

    def outbox_size(self) -> int:
        return self.store.outbox_size()

    def acked_up_to(self) -> int:
        return self.store.acked_up_to()

    def resend_from(self, seq: int) -> bool:
        """Send the events from ``seq`` on again; the central database was restored, so its
        directory positions are of the past too: the next poll walks the whole directory."""
        with self.store.atomic():
            if not self.store.resend_from(seq):
                return False
            self.store.forget_cursor()
        return True

    def prune_acknowledged(self) -> int:
        older_than = self.clock.now() - timedelta(days=self.keep_days)
        return self.store.prune_acknowledged(older_than, self.keep_max)

    def oldest_unacked_at(self) -> datetime | None:
        return self.store.oldest_unacked_at()

    def directory_cursor(self) -> int:
        return self.store.directory_cursor()

    def apply_directory_page(self, page: DirectoryPage) -> None:
        self.store.apply_directory_page(page, self.clock.now(), self.site_id)
