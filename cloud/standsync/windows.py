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

The **head** is the stand's own: its ids, acknowledged seq, commands, the staff who may log in
at its site (changed after the window of the stand's cursor), the default tariff and the
details of its site's clients whose entries lie after that window start (cloud/clients/scope.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from flask import current_app

from cloud import changes
from cloud.config import CloudConfig
from cloud.models import DirectoryChange, Stand
from cloud.standsync.directory import (
    site_details,
    site_details_after,
    staff_entries,
)
from cloud.standsync.feed import (
    MAX_CURSOR,
    read_changes,
    snapshot,
    stand_orders,
    stand_page,
    tariff_catalogue,
)
from cloud.standsync.windowrows import Window, WindowRows, rows_cache
from sync.directorypage import DirectoryPage, Tombstones
from sync.directorywindow import (
    PROTOCOL_VERSION,
    PROTOCOLS,
    WINDOW,
    ClientDetails,
    details_dict,
    window_start,
)

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


DETAILS_AS_LIST = 500  # changed clients read into a list first, up to this many


def _details(site_id: int, start: int, protocol: int) -> list[ClientDetails]:
    """The details of the site's clients whose windows' entries after ``start`` carry whole
    (protocol 3: those whose details changed). A poll's few changed clients are read first
    (most protocol 3 polls have none: nothing more is read), a walk's many by a subquery."""
    entity = changes.DETAILS if protocol > 2 else changes.CLIENT
    changed = changes.ids_between(entity, start, MAX_CURSOR).limit(DETAILS_AS_LIST + 1)
    few = [i for (i,) in changed.tuples()]
    if len(few) > DETAILS_AS_LIST:
        return [ClientDetails(*d) for d in site_details_after(site_id, entity, start)]
    return [ClientDetails(*d) for d in site_details(site_id, few)] if few else []


def _read_head(
    stand: Stand, cursor: int, since: int, config: CloudConfig, now: datetime, protocol: int
) -> tuple[DirectoryPage, list[ClientDetails]]:
    newest = changes.current_position()
    head = stand_page(stand, config, now, cursor=cursor, more=False, reset=cursor == 0)
    if cursor > newest:  # a restored database: walk again from 0
        return replace(head, cursor=0, more=True, reset=True), []
    # Staff travel only in heads: what changed after the cursor. Details go with the windows'
    # clients: those after ``since``, the start of the first window the stand took in full.
    staff_ids = {int(i) for (i,) in changes.ids_between(changes.STAFF, cursor, MAX_CURSOR).tuples()}
    everywhere = config.manager_pins_at_every_site
    staff = staff_entries(stand.site_id, staff_ids, everywhere) if staff_ids else ()
    all_tariffs, positions = tariff_catalogue().read()
    default_id, commands = stand_orders(stand, config, now, all_tariffs)
    newer = default_id is not None and positions.get(default_id, cursor + 1) > cursor
    fresh = {default_id} if newer else set()
    page = replace(
        head,
        default_tariff_id=default_id,
        tariffs=tuple(t for t in all_tariffs if t.id in fresh),
        staff=staff,
        tombstones=Tombstones(staff=tuple(sorted(staff_ids - {s.id for s in staff}))),
        commands=commands,
    )
    return page, _details(stand.site_id, min(since, cursor), protocol)


def directory_head(
    stand: Stand,
    cursor: int,
    since: int | None,
    config: CloudConfig,
    now: datetime,
    protocol: int = PROTOCOL_VERSION,
) -> bytes:
    """The JSON of the stand's head for ``cursor``, with the details of the site's clients
    changed after ``since`` (None: the cursor's window start; see the module)."""
    if not 0 <= cursor <= MAX_CURSOR:
        raise ValueError("cursor out of range")
    with snapshot():
        since = window_start(cursor) if since is None else since
        page, details = _read_head(stand, cursor, since, config, now, protocol)
    data = page.to_dict()
    data["protocol"] = protocol
    data["details"] = [details_dict(d) for d in details]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
