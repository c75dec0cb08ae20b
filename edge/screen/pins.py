"""Wrong PINs counted per staff member, to lock them out for a while."""

from __future__ import annotations

import threading

MAX_PIN_FAILURES = 5
PIN_LOCK_S = 60


class PinGuard:
    """Counts wrong PINs per staff member: ``MAX_PIN_FAILURES`` in a row lock them out for
    ``PIN_LOCK_S`` seconds. Kept in memory (a restart of the stand process clears it); times
    are monotonic seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[int, tuple[int, float]] = {}  # staff id -> (failures, locked until)

    def locked_for(self, staff_id: int, now: float) -> int:
        """Seconds the staff member is still locked out (0: not locked)."""
        with self._lock:
            _failures, until = self._state.get(staff_id, (0, 0.0))
        return max(0, int(until - now + 0.999))

    def failed(self, staff_id: int, now: float) -> bool:
        """Count a wrong PIN; True if this one locks the staff member out."""
        with self._lock:
            failures, _until = self._state.get(staff_id, (0, 0.0))
            failures += 1
            if failures >= MAX_PIN_FAILURES:
                self._state[staff_id] = (0, now + PIN_LOCK_S)
                return True
            self._state[staff_id] = (failures, 0.0)
            return False

    def succeeded(self, staff_id: int) -> None:
        with self._lock:
            self._state.pop(staff_id, None)
