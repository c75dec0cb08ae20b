"""Attendants' shifts at the stand: opening one with the cash in the drawer, closing it by
counting the cash, and the shift's report (``sync.shifts``). Part of
:class:`edge.engine.Engine` (a mixin over its store, lock and events), like
``edge.attendant``.

Each opening and closing is a stand event (``shift.opened``, ``shift.closed``) written with
its ``LocalShift`` row in one transaction, so it works offline and syncs like the others.

A top-up taken while the attendant has no open shift is recorded all the same (money taken is
never refused for want of a shift): it belongs to no shift, the top-up tab says so, and the
central Shifts page counts it as taken outside shifts."""

from __future__ import annotations

import uuid
from typing import Any

from edge.store import LocalShift
from sync.errors import RuleError
from sync.events import Payload
from sync.money import format_kopecks
from sync.shifts import MAX_DRAWER_KOPECKS, ShiftTotals, shift_totals


def _drawer(kopecks: int) -> int:
    """Cash in a drawer: whole kopecks, 0 to ``MAX_DRAWER_KOPECKS``; RuleError otherwise."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise RuleError("Сумма должна быть целым числом копеек", "bad_amount")
    if kopecks < 0:
        raise RuleError("Сумма в кассе не может быть отрицательной", "bad_amount")
    if kopecks > MAX_DRAWER_KOPECKS:
        raise RuleError(
            f"Слишком большая сумма: не больше {format_kopecks(MAX_DRAWER_KOPECKS)}", "bad_amount"
        )
    return kopecks


class ShiftActions:
    """Shifts; the engine provides ``store``, ``clock``, ``_lock`` and ``_event``."""

    store: Any
    clock: Any
    _lock: Any
    _event: Any

    def open_shift(self, actor: int, cash_kopecks: int) -> LocalShift:
        """Open the attendant's shift with ``cash_kopecks`` in the drawer; RuleError
        ("shift_open") if they have one open here already."""
        cash = _drawer(cash_kopecks)
        staff = _staff_id(actor)
        shift_uuid = str(uuid.uuid4())
        with self._lock:
            if self.store.open_shift_of(staff) is not None:
                raise RuleError("Смена уже открыта", "shift_open")
            now = self.clock.now()
            payload: Payload = {"shift_uuid": shift_uuid, "cash_kopecks": cash}
            with self.store.atomic():
                event_id = self._event("shift.opened", payload, str(staff), now)
                seq = self.store.event_seq(event_id)
                return self.store.add_shift(shift_uuid, staff, cash, now, seq)

    def close_shift(self, actor: int, counted_kopecks: int) -> tuple[LocalShift, ShiftTotals]:
        """Close the attendant's open shift with ``counted_kopecks`` counted in the drawer;
        returns it and its report. RuleError ("no_shift") when none is open."""
        counted = _drawer(counted_kopecks)
        staff = _staff_id(actor)
        with self._lock:
            shift = self.store.open_shift_of(staff)
            if shift is None:
                raise RuleError("Смена не открыта", "no_shift")
            now = self.clock.now()
            payload: Payload = {"shift_uuid": shift.uuid, "counted_kopecks": counted}
            with self.store.atomic():
                event_id = self._event("shift.closed", payload, str(staff), now)
                seq = self.store.event_seq(event_id)
                self.store.close_shift(shift.uuid, counted, now, seq)
            closed = self.store.shift(shift.uuid)
            return closed, self.shift_report(closed)

    def shift_report(self, shift: LocalShift) -> ShiftTotals:
        """The shift's report so far (closed: with the count and the difference)."""
        return shift_totals(
            int(shift.opening_kopecks), self.store.shift_topups(shift), shift.counted_kopecks
        )


def _staff_id(actor: int) -> int:
    if isinstance(actor, bool) or not isinstance(actor, int) or actor < 1:
        raise ValueError(f"not a staff id: {actor!r}")
    return actor
