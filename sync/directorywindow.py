"""Sync protocols 2 and 3's directory: shared window pages and the stand's own small head.

Protocol 1 (``GET /sync/v1/directory?cursor=N``, sync/directorypage.py) builds a page per stand
from its own cursor, so in a chain where every balance change goes to every stand each poll
rebuilds the same rows for every stand. Protocol 2 splits the answer in two:

1. **Window pages**, ``GET /sync/v1/directory/window/<start>``: the changes with a position in
   ``(start, start + WINDOW]`` (``start`` a multiple of ``WINDOW``), the same for every stand of
   every site: clients without their name and phones (``sync.directory.without_details``),
   credentials, tariffs, revoked QR ids and their tombstones. A window whose last position has
   been handed out is ``closed``: its answer never changes (strong ``ETag``, ``Cache-Control:
   public, immutable``), so a reverse proxy and each process keep it. The last window, still
   open, is the *tail*: it ends at the newest position (``end``) and is revalidated
   (``If-None-Match`` → 304 while nothing changed). A ``start`` beyond the newest position (a
   central database restored from a backup) answers ``end`` below ``start``: the stand walks
   again from 0.
2. **The head**, ``GET /sync/v1/directory/head?cursor=N``: what is the stand's own, a few
   hundred bytes when idle: its site and stand ids, the acknowledged seq, its commands, the
   staff who may log in at its site and the *details* (name, phones) of its site's clients
   whose entries lie after the window of ``N`` (``window_start``), the default tariff, the QR
   key, the time. It is fetched after the windows, so it covers every client they carry.

A stand asks for the windows from ``window_start(cursor)`` on until the tail, then the head,
merges them (``merge_windows``: the last word per row, later windows after earlier ones) and
applies the result with the tail's ``end`` as its new cursor, in one transaction, as in
protocol 1. A window may repeat rows the stand has (those between the window's start and its
cursor): their values are as new or newer. Entries only move forward and a closed window's
positions were all committed before it was read, so every row whose entry lay in
``(cursor, end]`` when the head was read is in some window of the walk, or moved past ``end``
and comes with the next poll. Cursor 0 is a full walk (``reset``): the same windows from 0.

Protocol 3 (``?protocol=3``) is protocol 2 with balance-only changes compact: a window's
``balances`` (sync/balances.py) hold the clients whose balance, ledger position, points or open
session changed and nothing else since the window's start, and ``upserts.clients`` the others,
whole (docs/directory-protocol.md). The merge takes a compact balance as the last word on the
balance unless a later window has the client whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sync.balances import BalanceEntry, balance_row, parse_balances
from sync.directory import (
    QR_TOKEN_ID,
    ClientEntry,
    CredentialEntry,
    TariffEntry,
    client_dict,
    credential_dict,
    parse_clients,
    parse_credentials,
    parse_tariffs,
    tariff_dict,
)
from sync.directorypage import (
    MAX_PAGE_ROWS,
    DirectoryPage,
    Tombstones,
    parse_tombstones,
    validate_directory_page,
)
from sync.document import Fields
from sync.lengths import MAX_NAME
from sync.pagemerge import merge_pages

PROTOCOL_VERSION = 3
PROTOCOLS = (2, 3)  # the window forms a stand reads: 2's whole entries, 3's compact balances
WINDOW = 4096  # positions per window: a busy chain closes one every few seconds
_WINDOW_PAGE = "Окно справочника"
_HEAD = "Заголовок справочника"


def window_start(cursor: int) -> int:
    """The start of the window holding the position after ``cursor``."""
    return cursor - cursor % WINDOW


@dataclass(frozen=True)
class ClientDetails:
    """What a stand of the client's own site shows besides the shared entry."""

    id: int
    name: str
    phones: tuple[str, ...]


@dataclass(frozen=True)
class WindowPage:
    """One window: the changes with a position in ``(start, end]`` (see the module)."""

    start: int
    end: int
    closed: bool
    clients: tuple[ClientEntry, ...] = ()
    credentials: tuple[CredentialEntry, ...] = ()
    tariffs: tuple[TariffEntry, ...] = ()
    revoked_qr_token_ids: tuple[str, ...] = ()
    tombstones: Tombstones = field(default_factory=Tombstones)
    balances: tuple[BalanceEntry, ...] = ()  # protocol 3 (sync/balances.py)
    protocol: int = PROTOCOL_VERSION

    @property
    def beyond_newest(self) -> bool:
        """The window starts after the newest position: the stand walks again from 0."""
        return self.end < self.start

    def to_dict(self) -> dict[str, object]:
        compact = {"balances": [balance_row(b) for b in self.balances]} if self.protocol > 2 else {}
        return {
            "protocol": self.protocol,
            "start": self.start,
            "end": self.end,
            "closed": self.closed,
            "upserts": {
                "clients": [client_dict(c) for c in self.clients],
                "credentials": [credential_dict(c) for c in self.credentials],
                "tariffs": [tariff_dict(t) for t in self.tariffs],
                "revoked_qr_token_ids": list(self.revoked_qr_token_ids),
            },
            "tombstones": self.tombstones.to_dict(),
            **compact,
        }


def validate_window_page(obj: object) -> WindowPage:
    """Check a parsed JSON window page; RuleError(code "bad_document") otherwise."""
    doc = Fields(obj, _WINDOW_PAGE)
    upserts = doc.nested("upserts")
    start = doc.integer("start", 0)
    if start % WINDOW:
        raise doc.fail("start", f"нужно кратное {WINDOW}")
    protocol = doc.integer("protocol")
    if protocol not in PROTOCOLS:
        raise doc.fail("protocol", "одно из значений: " + ", ".join(map(str, PROTOCOLS)))
    clients = parse_clients(upserts, None)
    balances = parse_balances(doc, "balances", MAX_PAGE_ROWS) if protocol > 2 else ()
    twice = {c.id for c in clients} & {b.id for b in balances}
    if twice:
        raise doc.fail("balances", f"клиент {min(twice)} уже есть в upserts.clients")
    return WindowPage(
        protocol=protocol,
        balances=balances,
        start=start,
        end=doc.integer("end", 0),
        closed=doc.flag("closed"),
        clients=clients,
        credentials=parse_credentials(upserts, None),
        tariffs=parse_tariffs(upserts),
        revoked_qr_token_ids=tuple(
            upserts.texts("revoked_qr_token_ids", 32, QR_TOKEN_ID, MAX_PAGE_ROWS)
        ),
        tombstones=parse_tombstones(doc),
    )


def details_dict(details: ClientDetails) -> dict[str, object]:
    return {"id": details.id, "name": details.name, "phones": list(details.phones)}


def validate_head(obj: object) -> tuple[DirectoryPage, tuple[ClientDetails, ...]]:
    """Check a parsed JSON head: a directory page (the stand's header, staff, commands) and its
    ``details`` list."""
    page = validate_directory_page(obj)
    doc = Fields(obj, _HEAD)
    details: list[ClientDetails] = []
    seen: set[int] = set()
    for item in doc.objects("details", MAX_PAGE_ROWS):
        entry = ClientDetails(
            id=item.integer("id", 1),
            name=item.text("name", MAX_NAME),
            phones=tuple(item.texts("phones", 20)),
        )
        if entry.id in seen:
            raise item.fail("id", f"{entry.id} повторяется")
        seen.add(entry.id)
        details.append(entry)
    return page, tuple(details)


def _as_page(window: WindowPage, head: DirectoryPage) -> DirectoryPage:
    return replace(
        head,
        clients=window.clients,
        credentials=window.credentials,
        tariffs=window.tariffs,
        staff=(),
        revoked_qr_token_ids=window.revoked_qr_token_ids,
        tombstones=window.tombstones,
        commands=(),
    )


def merge_windows(
    windows: Sequence[WindowPage],
    head: DirectoryPage,
    details: Sequence[ClientDetails],
    reset: bool,
) -> DirectoryPage:
    """The windows of one walk and the head as one page to apply: the rows' last word (the
    head's staff and tariffs after the windows), the details of the site's clients, the head's
    header and commands, the tail's ``end`` as the cursor. A compact balance is the last word on
    a client's balance unless a later window carries the whole client: it goes into the client
    the walk upserts, or stays in ``balances`` for a client the stand holds."""
    if not windows:
        raise ValueError("a walk has at least its tail")
    pages = [_as_page(window, head) for window in windows] + [head]
    merged = merge_pages(pages)
    balances = _last_balances(windows)
    named = {d.id: d for d in details}
    clients = tuple(_with(c, named.get(c.id), balances.pop(c.id, None)) for c in merged.clients)
    dead = set(merged.tombstones.clients)
    return replace(
        merged,
        clients=clients,
        balances=tuple(b for i, b in sorted(balances.items()) if i not in dead),
        cursor=windows[-1].end,
        reset=reset,
        more=False,
    )


def _last_balances(windows: Sequence[WindowPage]) -> dict[int, BalanceEntry]:
    """Each client's last compact balance in the walk, unless a later window has the client
    whole (or its tombstone): that one is newer."""
    balances: dict[int, BalanceEntry] = {}
    for window in windows:
        for client_id in [c.id for c in window.clients] + list(window.tombstones.clients):
            balances.pop(client_id, None)
        balances.update((b.id, b) for b in window.balances)
    return balances


def _with(
    client: ClientEntry, details: ClientDetails | None, balance: BalanceEntry | None
) -> ClientEntry:
    """``client`` with its site's details and a later compact balance, if any."""
    if details is not None:
        client = replace(client, name=details.name, phones=details.phones, details=True)
    return client if balance is None else balance.applied_to(client)
