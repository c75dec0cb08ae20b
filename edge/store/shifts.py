"""Attendants' shifts at this stand (``LocalShift``) and the top-ups each one took.

A shift's top-ups are its attendant's ``topup.recorded`` events in the outbox numbered after
its opening event and before its closing one (the same rule as the central service's,
``sync.shifts``): read from the outbox, which keeps acknowledged events for
``outbox_keep_days`` (far longer than a shift)."""

from __future__ import annotations

from datetime import datetime

from edge.store.base import StoreBase
from edge.store.models import LocalShift


class Shifts(StoreBase):
    """Opening and closing shifts, and a shift's top-ups."""

    def open_shift_of(self, staff_id: int) -> LocalShift | None:
        """The staff member's open shift at this stand, if any."""
        t = self.tables
        return t.LocalShift.get_or_none(
            (t.LocalShift.staff_id == staff_id) & t.LocalShift.closed_seq.is_null()
        )

    def shift(self, shift_uuid: str) -> LocalShift | None:
        t = self.tables
        return t.LocalShift.get_or_none(t.LocalShift.uuid == shift_uuid)

    def last_closed_shift_of(self, staff_id: int) -> LocalShift | None:
        t = self.tables
        query = t.LocalShift.select().where(
            (t.LocalShift.staff_id == staff_id) & t.LocalShift.closed_seq.is_null(False)
        )
        return query.order_by(t.LocalShift.closed_seq.desc()).first()

    def event_seq(self, event_id: str) -> int:
        """The seq of an event in the outbox (appended in the caller's transaction)."""
        t = self.tables
        return int(t.Outbox.get(t.Outbox.id == event_id).seq)

    def add_shift(
        self, shift_uuid: str, staff_id: int, opening_kopecks: int, at: datetime, seq: int
    ) -> LocalShift:
        """Store a shift opened by the event ``seq``, in the caller's transaction."""
        return self._insert(
            self.tables.LocalShift(
                uuid=shift_uuid,
                staff_id=staff_id,
                opening_kopecks=opening_kopecks,
                opened_at=at,
                opened_seq=seq,
            )
        )

    def close_shift(self, shift_uuid: str, counted_kopecks: int, at: datetime, seq: int) -> bool:
        """Record the closing of an open shift (event ``seq``); False if it is not open."""
        t = self.tables
        closed = (
            t.LocalShift.update(counted_kopecks=counted_kopecks, closed_at=at, closed_seq=seq)
            .where((t.LocalShift.uuid == shift_uuid) & t.LocalShift.closed_seq.is_null())
            .execute()
        )
        return int(closed) == 1

    def shift_topups(self, shift: LocalShift) -> list[tuple[str, int, int]]:
        """The shift's top-ups as (payment method, kopecks, 1), in order (``sync.shifts``)."""
        t = self.tables
        query = t.Outbox.select(t.Outbox.payload).where(
            (t.Outbox.type == "topup.recorded")
            & (t.Outbox.actor == str(shift.staff_id))
            & (t.Outbox.seq > shift.opened_seq)
        )
        if shift.closed_seq is not None:
            query = query.where(t.Outbox.seq < shift.closed_seq)
        return [
            (str(row.payload["method"]), int(row.payload["amount_kopecks"]), 1)
            for row in query.order_by(t.Outbox.seq)
        ]
