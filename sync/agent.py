"""The stand's sync agent (DESIGN.md, sync protocol): events up, directory and commands down,
a heartbeat now and then, over HTTP with the stand's token.

One :meth:`SyncAgent.run_once` is one cycle, run by the stand's scheduler every
``interval_s`` seconds (never two at once):

1. Push: the outbox's unacknowledged events in ``seq`` order, in batches. An event is marked
   acknowledged only from a reply's ``acked_seq`` — and never past what this batch sent or past
   an event the reply refused, so a conflicting ``seq`` (the stand's database replaced) is never
   papered over. A refused event stays in the outbox and is sent again next cycle (the stands
   page shows the refusal); nothing is ever dropped, there is no attempt limit.
2. Poll (protocol 3, sync/directorywindow.py): the shared windows from the stored cursor's
   window to the tail (the tail revalidated with its ``ETag``: an idle poll is a 304 and a
   small head), then the stand's head; merged and applied with the tail's end as the cursor.
   Balance-only changes come compact (sync/balances.py); ``protocol=2`` asks for the windows
   of whole entries the central services before version 31 serve. Protocol 1 (``protocol=1``, the central services before it): ``GET /directory`` from the
   stored cursor until ``more`` is false. The pages of one
   walk are merged and handed to the store at once, with the walk's last cursor, so a
   ``reset`` walk (cursor 0) replaces the copy as a whole and a credential never arrives
   before its client. The poll runs only after a push whose reply was read: an event whose
   reply was lost may already be in the central balances, and a directory fetched then would
   count it twice at the stand.
3. Commands that came with the directory go to ``on_command`` (e.g. end a forgotten session);
   they are repeated on every poll until done, so the callback must be idempotent.
4. Heartbeat every ``heartbeat_interval_s`` (and the outbox's acknowledged events past their
   retention pruned, ``AgentStore.prune_acknowledged``).

A central database restored from a backup may hold fewer of the stand's events than the stand
had acknowledged. The stand learns it from a ``gap`` refusal, whose ``expected_seq`` is below
its next event, or from a directory page whose ``acked_seq`` is below what it had acknowledged
(when it has nothing new to send). It then takes the acknowledgment of the events from there
back (``AgentStore.resend_from``) and sends them again before polling; the central service
applies those it lacks and acknowledges the others again. If it no longer keeps them (pruned),
:attr:`SyncStatus.alarm` says so (in the stand's ``/api/state`` and in the heartbeat, for the
stands page), and the events after them stay queued: nothing is dropped.

A transport failure (refused connection, timeout, a reply cut short, a 5xx, a 401) ends the
cycle; the next one waits an exponential back-off with jitter (``interval_s`` doubling up to
``max_backoff_s``, each wait drawn from its upper half). :attr:`SyncAgent.status` says what
the stand's screen and ``/api/state`` show: online means a successful contact within
``online_window_s``.

Every request carries ``X-Stand-Clock`` (the stand's wall clock), ``X-Stand-Boot`` and
``X-Stand-Mono-Ms`` so the central service can measure the skew and correct event times.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import requests

from sync.agenthttp import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    CentralUnreachable,
    Enrolment,
    api_url,
    enrol,
    error_message,
    error_message_of,
    expected_seq,
    with_device_faults,
)
from sync.agentparts import AgentStore, Command, StandClock, SyncStatus
from sync.directorypage import DirectoryPage, validate_directory_page
from sync.directorywindow import (
    PROTOCOL_VERSION,
    WINDOW,
    WindowPage,
    merge_windows,
    validate_head,
    validate_window_page,
    window_start,
)
from sync.document import format_utc
from sync.errors import RuleError
from sync.pagemerge import merge_pages

log = logging.getLogger(__name__)
__all__ = ["CentralUnreachable", "Command", "Enrolment", "SyncAgent", "SyncStatus", "enrol"]

BATCH_SIZE = 200
PAGE_LIMIT = 2000
MAX_PAGES_PER_WALK = 10_000


class SyncAgent:
    """See the module's notes. Thread-safe reads of :attr:`status`; ``run_once`` is meant to
    be called from one scheduler job (``max_instances=1``)."""

    def __init__(
        self,
        central_url: str,
        token: str,
        store: AgentStore,
        clock: StandClock,
        on_command: Callable[[Command], None],
        *,
        version: str = "",
        health: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
        interval_s: float = 2.0,
        max_backoff_s: float = 60.0,
        heartbeat_interval_s: float = 15.0,
        online_window_s: float | None = None,
        batch_size: int = BATCH_SIZE,
        page_limit: int = PAGE_LIMIT,
        read_timeout_s: float = READ_TIMEOUT_S,
        protocol: int = PROTOCOL_VERSION,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.central_url = central_url.rstrip("/")
        self.store = store
        self.clock = clock
        self.on_command = on_command
        self.version = version
        self.health = health
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.online_window_s = online_window_s or max(10.0, 5 * interval_s)
        self.batch_size = batch_size
        self.page_limit = page_limit
        self.protocol = protocol
        self._tail: tuple[str, WindowPage] | None = None  # the last tail and its ETag
        self._etag = ""  # the last answer's ETag
        self.timeout = (CONNECT_TIMEOUT_S, read_timeout_s)
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # jitter, not a secret
        self._started_mono = monotonic()
        self._next_due = 0.0
        self._next_heartbeat = 0.0
        self._lock = threading.Lock()
        self._status = SyncStatus()
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {token}"

    # --- what others read -------------------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        with self._lock:
            return self._status

    def online(self) -> bool:
        return self.status.online(self._monotonic(), self.online_window_s)

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def close(self) -> None:
        self._http.close()

    # --- the cycle --------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether a cycle should run now (False while backing off)."""
        return self._monotonic() >= self._next_due

    def run_once(self, force: bool = False) -> bool:
        """One cycle if due (or ``force``); True if it completed, False if it failed or was
        not due. Never raises for a network or central-service problem."""
        if not force and not self.due():
            return False
        try:
            self._cycle()
        except CentralUnreachable as error:
            failures = self.status.failures + 1
            delay = min(self.max_backoff_s, self.interval_s * 2 ** (failures - 1))
            wait = self._rng.uniform(delay / 2, delay)
            self._next_due = self._monotonic() + wait
            log.warning("sync failed (%s); next attempt in %.1f s", error, wait)
            self._update(last_error=str(error), failures=failures, outbox=self._outbox())
            return False
        self._next_due = 0.0
        self._update(
            last_sync_at=self.clock.now(),
            last_error="",
            failures=0,
            outbox=self._outbox(),
            cursor=self.store.directory_cursor(),
        )
        return True

    def _outbox(self) -> int:
        return self.store.outbox_size()

    def _cycle(self) -> None:
        self._push()
        commands = self._poll()
        if commands is None:  # the central service lost acknowledged events: sent again
            self._push()
            commands = self._poll(check_central=False) or []
        for command in commands:
            try:
                self.on_command(command)
            except Exception:
                # A command the stand cannot carry out must not stop the sync: it is repeated
                # on the next poll, and the log says why.
                log.exception("command %s (%s) failed", command.id, command.type)
        if self._monotonic() >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = self._monotonic() + self.heartbeat_interval_s

    # --- HTTP -------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "X-Stand-Clock": format_utc(self.clock.now()),
            "X-Stand-Boot": self.clock.boot_id,
            "X-Stand-Mono-Ms": str(self.clock.monotonic_ns() // 1_000_000),
        }

    def _request(
        self, method: str, path: str, etag: str = "", cursor: int | None = None, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of a request (``{}`` for a 304 to ``If-None-Match: etag``;
        ``cursor``: the directory cursor held, which lets the service answer a window from
        what it built moments ago); CentralUnreachable when there is no usable answer
        (transport error, cut reply, not JSON, 5xx, 401)."""
        headers = self._headers()
        if etag:
            headers["If-None-Match"] = etag
        if cursor is not None:
            headers["X-Directory-Cursor"] = str(cursor)
        try:
            response = self._http.request(
                method,
                api_url(self.central_url, path),
                headers=headers,
                timeout=self.timeout,
                **kwargs,
            )
            body = {} if etag and response.status_code == 304 else response.json()
            self._etag = response.headers.get("ETag", "")
        except (requests.RequestException, ValueError) as error:
            raise CentralUnreachable(f"{method} {path}: {type(error).__name__}: {error}") from error
        if not isinstance(body, dict):
            raise CentralUnreachable(f"{method} {path}: the reply is not a JSON object")
        if response.status_code >= 500 or response.status_code == 401:
            raise CentralUnreachable(
                f"{method} {path}: HTTP {response.status_code}: {error_message(response)}"
            )
        self._update(last_contact_mono=self._monotonic())
        return response.status_code, body

    # --- events up --------------------------------------------------------------------------

    def _push(self) -> None:
        resent_from: set[int] = set()
        while events := self.store.pending_events(self.batch_size):
            status, body = self._request(
                "POST", "/events", json={"events": [event.to_dict() for event in events]}
            )
            acked = body.get("acked_seq")
            if not isinstance(acked, int) or isinstance(acked, bool):
                raise CentralUnreachable(f"POST /events: HTTP {status} without acked_seq")
            refused = body.get("refused")
            highest = events[-1].seq
            if isinstance(refused, dict) and isinstance(refused.get("seq"), int):
                highest = min(highest, int(refused["seq"]) - 1)
            acked = min(acked, highest)
            if acked >= events[0].seq:
                self.store.mark_acked(acked)
            expected = expected_seq(refused)
            if expected is not None and expected < events[0].seq and expected not in resent_from:
                resent_from.add(expected)
                if self._resend_from(expected):
                    continue
            if status != 200 or refused is not None:
                reason = refused.get("message") if isinstance(refused, dict) else None
                message = f"HTTP {status}: {reason or error_message_of(body)}"
                log.error("the central service refused an event: %s", message)
                self._update(refused=message)
                return
            self._update(refused="")
            if acked < events[-1].seq:
                raise CentralUnreachable(f"POST /events: acknowledged {acked} of {events[-1].seq}")

    def _resend_from(self, seq: int) -> bool:
        """Send the events from ``seq`` on again (the central service lost them); False, with
        the alarm raised, if they are no longer kept."""
        if self.store.resend_from(seq):
            log.warning("the central service lost events from %s on: sending them again", seq)
            self._update(alarm="")
            return True
        alarm = (
            f"Центральная служба потеряла события поста с № {seq} (восстановление из резервной "
            f"копии?), а пост их уже не хранит: последующие события ждут в очереди"
        )
        if alarm != self.status.alarm:  # once, not every cycle
            log.error("%s", alarm)
        self._update(alarm=alarm)
        return False

    def _central_lost_events(self, page: DirectoryPage) -> bool:
        """Whether ``page`` says the central service holds fewer events than were acknowledged
        and they are marked to be sent again (the alarm is raised if they cannot be)."""
        if page.acked_seq is None:
            return False
        if page.acked_seq >= self.store.acked_up_to():
            if self.status.alarm:
                self._update(alarm="")  # it has them all again
            return False
        return self._resend_from(page.acked_seq + 1)

    # --- directory down ---------------------------------------------------------------------

    def _poll(self, check_central: bool = True) -> list[Command] | None:
        """The commands that came with the directory, applied; None if the central service
        turned out to lack acknowledged events (marked to be sent again, nothing applied)."""
        if self.protocol == 1:
            return self._poll_pages(check_central)
        cursor = self.store.directory_cursor()
        for _attempt in range(2):
            windows = self._windows(cursor)
            if windows[-1].beyond_newest:  # a restored central database: walk again
                cursor, windows = 0, self._windows(0)
            # Details for the clients the windows carry (a tail answered 304 carries none).
            since = min([w.start for w in windows if w.clients] + [cursor])
            status, body = self._request(
                "GET", "/directory/head", params={"cursor": cursor, "since": since, **self._form()}
            )
            if status != 200:
                raise CentralUnreachable(f"GET /directory/head: HTTP {status}")
            try:
                head, details = validate_head(body)
            except RuleError as error:
                raise CentralUnreachable(f"GET /directory/head: {error.message}") from error
            if check_central and self._central_lost_events(head):
                return None
            if not (head.reset and head.cursor == 0 and cursor != 0):
                break
            cursor = 0  # the cursor is beyond the central's newest position
        else:
            raise CentralUnreachable("GET /directory/head: the walk keeps starting over")
        return self._apply(merge_windows(windows, head, details, reset=cursor == 0))

    def _form(self) -> dict[str, int]:
        """The window form asked for: protocol 3's compact balances (protocol 2 asks none,
        as the stands before it did)."""
        return {"protocol": self.protocol} if self.protocol > 2 else {}

    def _windows(self, cursor: int) -> list[WindowPage]:
        """The windows from the one of ``cursor`` to the tail (or to a start beyond the newest
        position, the last then says so)."""
        windows: list[WindowPage] = []
        start = window_start(cursor)
        while len(windows) < MAX_PAGES_PER_WALK:
            # The tail this stand applied last, to revalidate: unchanged, it brings nothing new.
            held = self._tail if self._tail and self._tail[1].start == start else None
            held = held if held and held[1].end == cursor else None
            path = f"/directory/window/{start}"
            status, body = self._request(
                "GET", path, held[0] if held else "", cursor, params=self._form()
            )
            if status == 304 and held is not None:
                window = WindowPage(start=start, end=held[1].end, closed=False)
            elif status != 200:
                raise CentralUnreachable(f"GET {path}: HTTP {status}: {error_message_of(body)}")
            else:
                try:
                    window = validate_window_page(body)
                except RuleError as error:
                    raise CentralUnreachable(f"GET {path}: {error.message}") from error
            windows.append(window)
            if not window.closed:
                self._tail = (self._etag, window) if self._etag else None
                break
            start += WINDOW
        return windows

    def _poll_pages(self, check_central: bool) -> list[Command] | None:
        """Protocol 1's poll (see ``_poll``)."""
        cursor = self.store.directory_cursor()
        pages: list[DirectoryPage] = []
        while True:
            status, body = self._request(
                "GET", "/directory", params={"cursor": cursor, "limit": self.page_limit}
            )
            if status != 200:
                raise CentralUnreachable(f"GET /directory: HTTP {status}: {error_message_of(body)}")
            try:
                page = validate_directory_page(body)
            except RuleError as error:
                raise CentralUnreachable(f"GET /directory: {error.message}") from error
            if check_central and not pages and self._central_lost_events(page):
                return None
            if page.reset and (page.cursor == 0 or (pages and not pages[0].reset)):
                pages = []  # the walk starts (again) from the beginning
            pages.append(page)
            cursor = page.cursor
            if not page.more or len(pages) >= MAX_PAGES_PER_WALK:
                break
        return self._apply(merge_pages(pages))

    def _apply(self, merged: DirectoryPage) -> list[Command]:
        """Apply a merged walk; its commands."""
        self._tail, tail = None, self._tail  # held again only once the walk is applied
        try:
            # Applied even when nothing changed: the store notes that the copy is fresh.
            self.store.apply_directory_page(merged)
        except RuleError as error:
            raise CentralUnreachable(f"directory: {error.message}") from error
        self._tail = tail
        return [
            Command(c.id, c.type, c.session_uuid, c.comment, c.issued_by, c.client_id)
            for c in merged.commands
        ]

    # --- heartbeat --------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        self.store.prune_acknowledged()
        status = self.status
        oldest = self.store.oldest_unacked_at()
        health = dict(self.health()) if self.health is not None else {}
        body = {
            "version": self.version,
            "uptime_s": int(self._monotonic() - self._started_mono),
            "outbox": self.store.outbox_size(),
            "oldest_unacked_at": None if oldest is None else format_utc(oldest),
            "cursor": self.store.directory_cursor(),
            "last_sync_at": None
            if status.last_sync_at is None
            else format_utc(status.last_sync_at),
            "reader": dict(health.get("reader", {})),
            "camera": dict(health.get("camera", {})),
            "lights": dict(health.get("lights", {})),
            "alarm": with_device_faults(status.alarm, health),
        }
        code, reply = self._request("POST", "/heartbeat", json=body)
        if code >= 400:
            log.warning("heartbeat refused: HTTP %s: %s", code, error_message_of(reply))
