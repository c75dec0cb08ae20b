"""Wrong PINs counted per staff member, to lock them out for a growing while.

The rule (``PinGuard``):

1. A try is counted *before* its PIN is checked, in one write transaction of the stand's
   database: parallel tries cannot all read "4 failures" and all be checked; at most
   ``MAX_PIN_TRIES`` are checked before a lock, however many arrive at once.
2. The ``MAX_PIN_TRIES``-th try in a row without a right PIN locks the staff member out:
   ``PIN_LOCK_S`` the first time, twice as long at each next lock, at most ``PIN_LOCK_MAX_S``.
   While locked, a try is refused unchecked and not counted.
3. A right PIN forgets the tries and the locks.
4. The count lives in the database (``PinFailures``), with wall-clock times, so a restart of
   the stand keeps the lock. A wait is never longer than its lock, so a clock set back
   cannot lock anyone out for longer; only the staff member is locked, never the screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.store import Store
from edge.store.models import PinFailures

MAX_PIN_TRIES = 5
PIN_LOCK_S = 60
PIN_LOCK_MAX_S = 30 * 60


def lock_length_s(earlier_locks: int) -> int:
    """How long the lock after ``earlier_locks`` locks in a row lasts: 60 s, 120 s, … 30 min."""
    return min(PIN_LOCK_S * 2 ** min(earlier_locks, 16), PIN_LOCK_MAX_S)


@dataclass(frozen=True)
class PinTry:
    """What the guard says of one try: ``wait_s`` > 0, locked (do not check the PIN);
    ``lock_s`` > 0, this try was the last before a lock of that many seconds."""

    wait_s: int = 0
    lock_s: int = 0


class PinGuard:
    """The wrong-PIN counter of one stand's screen, in ``store``'s database.

    guard = PinGuard(store)
    if guard.begin(staff_id, now).wait_s == 0 and pin_is_right: guard.succeeded(staff_id)
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows = store.tables[PinFailures]

    def begin(self, staff_id: int, now: datetime) -> PinTry:
        """Count a try of ``staff_id`` at ``now`` unless they are locked out."""
        rows = self._rows
        with self._store.atomic():  # BEGIN IMMEDIATE: one try counted at a time
            rows.insert(staff_id=staff_id).on_conflict_ignore().execute()
            row = rows.get_by_id(staff_id)
            wait_s = _wait_s(row, now)
            if wait_s:
                return PinTry(wait_s=wait_s)
            row.tries += 1
            lock_s = 0
            if row.tries >= MAX_PIN_TRIES:
                lock_s = lock_length_s(row.locks)
                row.tries, row.locks = 0, row.locks + 1
                row.locked_until = now + timedelta(seconds=lock_s)
            row.save()
        return PinTry(lock_s=lock_s)

    def succeeded(self, staff_id: int) -> None:
        """The right PIN: forget the staff member's tries and locks."""
        self._rows.delete_by_id(staff_id)


def _wait_s(row: PinFailures, now: datetime) -> int:
    if row.locked_until is None or row.locked_until <= now:
        return 0
    left = (row.locked_until - now).total_seconds()
    return math.ceil(min(left, lock_length_s(max(row.locks - 1, 0))))
