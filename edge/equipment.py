"""The post's equipment (pump, valves) behind a relay: on exactly while a session is open here.

The engine tells :class:`Equipment` which sessions each committed transaction opened or
closed (never before the commit, never on a rollback), so the relay follows the stand's open
sessions without reading the database: on while any is open (the screen can start a second
one), off once the last one ends, whatever ended it (a tap, the screen, a remote command, the
automatic end). A stand that comes back with a session still open turns the relay on at once.
The output is a :class:`hardware.relay.Output`, off from its creation and on close.

>>> equipment = Equipment(NoOutput(), open_sessions=["7d0c…"])  # restarted mid-session: on
>>> equipment.follow(opened=(), closed=["7d0c…"])  # its end: off
"""

from __future__ import annotations

from collections.abc import Iterable

from hardware.relay import Output


class Equipment:
    """Keeps ``output`` on exactly while the set of open sessions is not empty."""

    def __init__(self, output: Output, open_sessions: Iterable[str]) -> None:
        self.output = output
        self._open = set(open_sessions)
        self.output.set(bool(self._open))

    @property
    def open_sessions(self) -> frozenset[str]:
        """The sessions the equipment runs for (their uuids)."""
        return frozenset(self._open)

    def follow(self, opened: Iterable[str], closed: Iterable[str]) -> None:
        """A commit opened and closed these sessions: switch the output to match."""
        self._open.update(opened)
        self._open.difference_update(closed)
        self.output.set(bool(self._open))
