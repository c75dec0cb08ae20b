"""Sync protocols 2 and 3's directory (sync/directorywindow.py): window pages shared by every
stand, and each stand's small head. Each window has two forms, kept apart in every cache:
protocol 2's whole client entries and protocol 3's, where a client whose details did not change
in the window comes as its compact balance (sync/balances.py, cloud/standsync/feed.py).

A **window** holds the changes with a position in ``(start, start + WINDOW]``, read in one
snapshot as protocol 1's pages are (cloud/standsync/feed.py), with clients as a stand of
another site receives them (no name, no phones), so every stand can take the same bytes. Once
the newest position is past its end it is *closed*: every position in it was committed before
it was read (positions commit in order, cloud/changes.py), and a row that changes later moves
its entry past the window, so the answer is final. A closed window is kept in this process
(``WindowCache``, bounded in bytes, with its gzip form) and sent with a strong ``ETag`` (a hash
of its bytes) and ``Cache-Control: public, max-age=31536000, immutable`` so a reverse proxy
keeps it too. Its key is its start alone: two instances on one database build the same window
from the same committed rows. (A database restored from a backup hands positions out again:
restart the instances, which empties their caches, and purge the proxy's cache.)

The **tail**, the open window, is answered on every request that does not hold its ``ETag``:
the tag names the window's start, the newest position and that entry's time, read with one
indexed query, so an idle stand's revalidation answers 304 without building anything, and a
change made through any instance changes the newest position, hence the tag, at once. The
process keeps the rows it answered last and reads only the entries after them
(cloud/standsync/windowrows.py), so a busy chain's poll no longer reads the whole tail again.
With ``directory_tail_reuse_ms`` set, a stand that says its cursor (``X-Directory-Cursor``,
or the position in the tail's tag it revalidates) is answered with the tail built less than
that long ago, read nothing, when that tail reaches its cursor: in a chain of thousands of
stands the newest position moves with every session, and each poll would build a tail of
its own. The stand's new cursor is that tail's end, so nothing is skipped: what came after
comes with its next poll.

The **head**, each stand's own part of a poll, is cloud/standsync/head.py.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict

from flask import current_app

from cloud import changes
from cloud.models import DirectoryChange
from cloud.standsync.feed import MAX_CURSOR, read_changes, snapshot
from cloud.standsync.windowrows import Window, WindowRows, rows_cache
from sync.directorywindow import PROTOCOL_VERSION, PROTOCOLS, WINDOW

CACHE_BYTES = 64 << 20  # closed windows kept per process (raw + gzip)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


# A window's key: its form (sync/directorywindow.py ``PROTOCOLS``) and start.
Key = tuple[int, int]


class WindowCache:
    """Closed windows by form and start, the least recently used dropped beyond ``capacity``
    bytes."""

    def __init__(self, capacity: int = CACHE_BYTES) -> None:
        self.capacity = capacity
        self._held: OrderedDict[Key, Window] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.builds = 0

    def get(self, key: Key) -> Window | None:
        with self._lock:
            window = self._held.get(key)
            if window is not None:
                self._held.move_to_end(key)
                self.hits += 1
            return window

    def put(self, key: Key, window: Window) -> None:
        size = len(window.body) + len(window.gzipped or b"")
        with self._lock:
            self.builds += 1
            if size > self.capacity or key in self._held:
                return
            self._held[key] = window
            self._bytes += size
            while self._bytes > self.capacity:
                _start, dropped = self._held.popitem(last=False)
                self._bytes -= len(dropped.body) + len(dropped.gzipped or b"")


def window_cache() -> WindowCache:
    cache = current_app.extensions.get("aquastand_windows")
    if cache is None:
        cache = current_app.extensions["aquastand_windows"] = WindowCache()
    return cache


def _newest() -> tuple[int, str]:
    """The newest position and its entry's time (a restored database reusing the position
    gives another time)."""
    row = (
        DirectoryChange.select(DirectoryChange.position, DirectoryChange.changed_at)
        .order_by(DirectoryChange.position.desc())
        .limit(1)
        .tuples()
        .first()
    )
    return (int(row[0]), str(row[1])) if row else (0, "")


def tail_etag(start: int, protocol: int = PROTOCOL_VERSION) -> str:
    """The tag the window at ``start`` has in the form of ``protocol`` while it is open (see
    the module)."""
    position, changed_at = _newest()
    text = f"{protocol}:{start}:{position}:{changed_at}"
    return f'"t{start}-{position}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"'


def _rows(rows: WindowRows, end: int) -> WindowRows:
    """The window's rows as of ``end`` (in the caller's snapshot): ``rows``, those kept from
    the last request, with the entries after them laid over (windowrows.py)."""
    if rows.end >= end:  # nothing new (or kept from a later snapshot than this one)
        return rows
    entries = [e for e in changes.changes_after(rows.end, WINDOW) if e.position <= end]
    read = read_changes(entries, rows.end, end, compact=rows.protocol > 2, kept_whole=rows.whole())
    return rows.laid_over(read, end)


def directory_window(
    start: int,
    cursor: int | None = None,
    reuse_s: float = 0.0,
    protocol: int = PROTOCOL_VERSION,
) -> Window:
    """The window at ``start`` (a multiple of WINDOW) in the form of ``protocol``, from the
    caches when it can be: a closed one always, the open one if built less than ``reuse_s``
    ago and the stand said its ``cursor`` (see the module)."""
    if start % WINDOW or not 0 <= start <= MAX_CURSOR or protocol not in PROTOCOLS:
        raise ValueError("start or protocol out of range")
    cache = window_cache()
    held = cache.get((protocol, start)) or (
        rows_cache().recent(protocol, start, cursor, reuse_s)
        if cursor is not None and reuse_s
        else None
    )
    if held is not None:
        return held
    if start == 0:  # a full walk: rows no trigger saw get their entries first, as in protocol 1
        changes.adopt_unlogged()
    with snapshot():
        newest = changes.current_position()
        if start > newest:  # a restored database: the stand walks again from 0
            body = WindowRows(start, newest, protocol).body(False)
            return Window(body, None, tail_etag(start, protocol), False)
        kept = rows_cache().get(protocol, start)
        empty = WindowRows(start, start, protocol)
        rows = _rows(kept.rows if kept else empty, min(start + WINDOW, newest))
        closed = rows.end >= start + WINDOW
        if not closed and kept is not None and rows is kept.rows:  # nothing new: its answer
            return kept.window
        etag = None if closed else tail_etag(start, protocol)
    body = rows.body(closed)
    if not closed:
        window = Window(body, gzip.compress(body, compresslevel=1), etag or "", False)
        rows_cache().put(rows, window)
        return window
    digest = hashlib.sha256(body).hexdigest()[:32]
    window = Window(body, gzip.compress(body, compresslevel=6), f'"w{start}-{digest}"', True)
    cache.put((protocol, start), window)
    return window
