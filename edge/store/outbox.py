"""The outbox: events numbered and stored with their local effect, then sent by the sync agent
until the central service acknowledges them (see the package's notes on ``seq``)."""

from __future__ import annotations

from datetime import datetime

import peewee as pw

from edge.store.base import StoreBase
from edge.store.sql import COUNTERS_SQL, NEXT_SEQ_SQL
from sync.document import format_utc
from sync.events import Event, Payload, validate_event


class OutboxEvents(StoreBase):
    """Appending events, and what the sync agent asks of the outbox."""

    def append_event(
        self,
        event_id: str,
        event_type: str,
        payload: Payload,
        *,
        stand_id: int,
        occurred_at: datetime,
        boot_id: str,
        mono_ms: int,
        actor: str,
    ) -> Event:
        """Number an event and put it in the outbox, in the caller's transaction. The event
        is checked against the shared schema first: an invalid one is never stored."""
        t = self.tables
        with self.atomic():
            counters = ("next_seq", "directory_version")
            held = dict(self.database.execute_sql(COUNTERS_SQL, counters).fetchall())
            seq = int(held.get("next_seq") or 1)
            event = validate_event(
                {
                    "id": event_id,
                    "stand_id": stand_id,
                    "seq": seq,
                    "type": event_type,
                    "occurred_at": format_utc(occurred_at),
                    "boot_id": boot_id,
                    "mono_ms": mono_ms,
                    "actor": actor,
                    "directory_version": int(held.get("directory_version") or 0),
                    "payload": payload,
                }
            )
            self._insert(
                t.Outbox(
                    seq=seq,
                    id=event.id,
                    type=event.type,
                    payload=event.payload,
                    occurred_at=event.occurred_at,
                    boot_id=event.boot_id,
                    mono_ms=event.mono_ms,
                    actor=event.actor,
                    directory_version=event.directory_version,
                    stand_id=event.stand_id,
                )
            )
            self.database.execute_sql(NEXT_SEQ_SQL, (str(seq + 1),))
        return event

    def pending_events(self, limit: int = 100) -> list[Event]:
        """Unacknowledged events in ``seq`` order, as the agent sends them."""
        t = self.tables
        rows = t.Outbox.select().where(~t.Outbox.acked).order_by(t.Outbox.seq).limit(limit)
        return [row.event() for row in rows]

    def outbox_size(self) -> int:
        t = self.tables
        return int(t.Outbox.select().where(~t.Outbox.acked).count())

    def acked_up_to(self) -> int:
        """The highest seq the central service acknowledged (every event up to it is), even
        after acknowledged events were pruned."""
        t = self.tables
        first_waiting = t.Outbox.select(pw.fn.MIN(t.Outbox.seq)).where(~t.Outbox.acked).scalar()
        return int(first_waiting) - 1 if first_waiting is not None else self.next_seq() - 1

    def resend_from(self, seq: int) -> bool:
        """Take back the acknowledgment of the events from ``seq`` on, so they are sent again
        (the central service lost them: a restore from a backup), and count their local
        entries again until a balance including them comes back. False, and nothing changed,
        if some of them were pruned already."""
        t = self.tables
        with self.atomic():
            upto = self.acked_up_to()
            if not 1 <= seq <= upto:
                return seq > upto  # nothing acknowledged from there: nothing to take back
            held = t.Outbox.select().where(t.Outbox.seq.between(seq, upto)).count()
            if held != upto - seq + 1:
                return False
            ids = t.Outbox.select(t.Outbox.id).where(t.Outbox.seq >= seq)
            t.LocalLedger.update(settled=False).where(t.LocalLedger.event_id.in_(ids)).execute()
            t.Outbox.update(acked=False).where(t.Outbox.seq >= seq).execute()
        return True

    def prune_acknowledged(self, older_than: datetime, keep_max: int) -> int:
        """Delete acknowledged events that occurred before ``older_than``, and the oldest ones
        beyond the newest ``keep_max``, so the outbox does not fill the card; returns how many.
        Until then they are kept to send again if the central service loses them."""
        t = self.tables
        with self.atomic():
            old = t.Outbox.acked & (t.Outbox.occurred_at < older_than)
            newest_kept = (
                t.Outbox.select(t.Outbox.seq)
                .where(t.Outbox.acked)
                .order_by(t.Outbox.seq.desc())
                .offset(keep_max)
                .limit(1)
                .scalar()
            )
            if newest_kept is not None:
                old |= t.Outbox.acked & (t.Outbox.seq <= newest_kept)
            return int(t.Outbox.delete().where(old).execute())

    def mark_acked(self, up_to_seq: int) -> int:
        """Record the central service's acknowledgment of every event up to ``up_to_seq``."""
        t = self.tables
        with self.atomic():
            return int(
                t.Outbox.update(acked=True)
                .where(~t.Outbox.acked & (t.Outbox.seq <= up_to_seq))
                .execute()
            )

    def oldest_unacked_at(self) -> datetime | None:
        """When the oldest event still waiting for an acknowledgment occurred (None: none)."""
        outbox = self.tables.Outbox
        row = outbox.select(outbox.occurred_at).where(~outbox.acked).order_by(outbox.seq).first()
        return None if row is None else row.occurred_at
