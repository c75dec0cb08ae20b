"""A protocol 2 window's rows, built in steps (cloud/standsync/windows.py serves them).

Every stand's poll asks for the open window, the tail; in a busy chain it changes with every
session, so it cannot be kept as a closed window is, and reading all of it again (up to
``WINDOW`` entries, most of them clients) for each poll was most of what a poll cost the
service at 5,000 stands (bench/fleet.py). So each process keeps the rows of the window it
read last (``WindowRows``, by start) up to the position ``end`` it read them at, and the next
request reads only the entries after ``end`` and lays their rows over the kept ones.

That gives the rows a read of the whole window would: entries only move forward
(cloud/changes.py), so a row whose entry is at or before ``end`` was read as it still is, and
a row that changed (or went) since has its entry after ``end`` and is read again, its new
value or its tombstone replacing the old. A credential's client and a client's tariff whose
entries lie in the window are in it already, read from their own entries.

The answer is a function of the set of rows alone (every list in a fixed order), so a window
built in steps and one read at once give the same bytes, and a closed window the same bytes on
every instance.
"""

from __future__ import annotations

import threading
import time
from dataclasses import astuple, dataclass, field

from flask import current_app

from cloud.standsync.feed import ChangesRead, splice_clients
from sync.balances import BalanceEntry
from sync.directory import CredentialEntry, TariffEntry
from sync.directorypage import CredentialKey, Tombstones
from sync.directorywindow import PROTOCOL_VERSION, WindowPage

KEPT = 4  # windows kept per process: the tail, and the one just closed while stands finish it


@dataclass(frozen=True)
class Window:
    """A window's answer: its JSON, gzip form, tag and whether it is final."""

    body: bytes
    gzipped: bytes | None
    etag: str
    closed: bool


@dataclass(frozen=True)
class WindowRows:
    """The rows of the window at ``start`` as of position ``end``: each client's bare JSON,
    credential and tariff, or None for a tombstone, and the revoked QR token ids."""

    start: int
    end: int
    protocol: int = PROTOCOL_VERSION
    clients: dict[int, bytes | None] = field(default_factory=dict)
    credentials: dict[CredentialKey, CredentialEntry | None] = field(default_factory=dict)
    tariffs: dict[int, TariffEntry | None] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()
    balances: dict[int, BalanceEntry] = field(default_factory=dict)  # protocol 3

    def whole(self) -> frozenset[int]:
        """The clients held whole (a compact balance of theirs reads them whole again)."""
        return frozenset(i for i, text in self.clients.items() if text is not None)

    def laid_over(self, read: ChangesRead, end: int) -> WindowRows:
        """These rows with those of the entries in ``(self.end, end]`` over them."""
        named = read.balance_ids | read.client_ids
        balances = {i: b for i, b in self.balances.items() if i not in named}
        balances.update((b.id, b) for b in read.balances)
        clients = dict(self.clients)
        clients.update(dict.fromkeys(read.client_ids))
        clients.update((c.id, bare) for c, _full, bare in read.clients)
        credentials = dict(self.credentials)
        credentials.update(dict.fromkeys(read.dead_keys))
        credentials.update((CredentialKey(c.kind, c.value), c) for c in read.credentials)
        tariffs = dict(self.tariffs)
        tariffs.update(dict.fromkeys(read.tariff_ids))
        tariffs.update((t.id, t) for t in read.tariffs)
        relinked = {c.value for c in read.credentials if c.kind == "qr"}
        revoked = (self.revoked | set(read.revoked)) - relinked
        return WindowRows(
            self.start,
            end,
            self.protocol,
            clients,
            credentials,
            tariffs,
            frozenset(revoked),
            balances,
        )

    def body(self, closed: bool) -> bytes:
        """The window's JSON (sync.directorywindow.WindowPage, the clients spliced in)."""
        credentials = sorted(self.credentials.items(), key=lambda item: astuple(item[0]))
        page = WindowPage(
            start=self.start,
            end=self.end,
            closed=closed,
            credentials=tuple(c for _key, c in credentials if c is not None),
            tariffs=tuple(t for _id, t in sorted(self.tariffs.items()) if t is not None),
            revoked_qr_token_ids=tuple(sorted(self.revoked)),
            balances=tuple(b for _id, b in sorted(self.balances.items())),
            protocol=self.protocol,
            tombstones=Tombstones(
                clients=tuple(sorted(i for i, c in self.clients.items() if c is None)),
                credentials=tuple(key for key, c in credentials if c is None),
                tariffs=tuple(sorted(i for i, t in self.tariffs.items() if t is None)),
            ),
        )
        clients = [text for _id, text in sorted(self.clients.items()) if text is not None]
        return splice_clients(page.to_dict(), clients)


@dataclass(frozen=True)
class Kept:
    """A window's rows as last built, its answer, and when (monotonic seconds)."""

    rows: WindowRows
    window: Window
    built: float


class RowsCache:
    """The rows last built per window form and start with their answer, the ``KEPT`` highest
    starts of each form (sync/directorywindow.py ``PROTOCOLS``)."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int], Kept] = {}
        self._lock = threading.Lock()

    def get(self, protocol: int, start: int) -> Kept | None:
        with self._lock:
            return self._held.get((protocol, start))

    def put(self, rows: WindowRows, window: Window) -> None:
        key = (rows.protocol, rows.start)
        with self._lock:
            held = self._held.get(key)
            if held is None or held.rows.end < rows.end:
                self._held[key] = Kept(rows, window, time.monotonic())
            for old in sorted(k for k in self._held if k[0] == rows.protocol)[:-KEPT]:
                del self._held[old]

    def recent(self, protocol: int, start: int, cursor: int, within_s: float) -> Window | None:
        """The open window at ``start`` built less than ``within_s`` ago, if it reaches the
        asking stand's ``cursor`` (an older one would take the stand's newer rows back)."""
        held = self.get(protocol, start)
        if held is None or held.window.closed or held.rows.end < cursor:
            return None
        return held.window if time.monotonic() - held.built < within_s else None


def rows_cache() -> RowsCache:
    cache = current_app.extensions.get("aquastand_window_rows")
    if cache is None:
        cache = current_app.extensions["aquastand_window_rows"] = RowsCache()
    return cache
