"""Merging the pages of one directory walk into one page: the last word per client, credential,
tariff and staff member wins, tombstones included, so a walk is applied at once."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import TypeVar

from sync.directory import ClientEntry, CredentialEntry, StaffEntry, TariffEntry
from sync.directorypage import CredentialKey, DirectoryPage, StandCommand, Tombstones

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _latest(
    changes: Sequence[tuple[Sequence[V], Sequence[K]]], key: Callable[[V], K]
) -> tuple[tuple[V, ...], tuple[K, ...]]:
    """Upserts and tombstones of several pages in order, reduced to the last word per key."""
    final: dict[K, V | None] = {}
    for upserts, tombstones in changes:
        for dead in tombstones:
            final[dead] = None
        for row in upserts:
            final[key(row)] = row
    alive = tuple(row for row in final.values() if row is not None)
    gone = tuple(k for k, row in final.items() if row is None)
    return alive, gone


def merge_pages(pages: Sequence[DirectoryPage]) -> DirectoryPage:
    """The pages of one walk as one page: the last word on every row, the last page's
    cursor and header, ``reset`` if the walk was one, every command once."""
    first, last = pages[0], pages[-1]

    def client_key(c: ClientEntry) -> int:
        return c.id

    def credential_key(c: CredentialEntry) -> CredentialKey:
        return CredentialKey(c.kind, c.value)

    def tariff_key(t: TariffEntry) -> int:
        return t.id

    def staff_key(s: StaffEntry) -> int:
        return s.id

    clients, dead_clients = _latest([(p.clients, p.tombstones.clients) for p in pages], client_key)
    credentials, dead_credentials = _latest(
        [(p.credentials, p.tombstones.credentials) for p in pages], credential_key
    )
    tariffs, dead_tariffs = _latest([(p.tariffs, p.tombstones.tariffs) for p in pages], tariff_key)
    staff, dead_staff = _latest([(p.staff, p.tombstones.staff) for p in pages], staff_key)
    commands: dict[int, StandCommand] = {}
    for page in pages:
        commands.update((c.id, c) for c in page.commands)
    revoked = dict.fromkeys(token for page in pages for token in page.revoked_qr_token_ids)
    return replace(
        last,
        more=False,
        reset=first.reset,
        clients=clients,
        credentials=credentials,
        tariffs=tariffs,
        staff=staff,
        revoked_qr_token_ids=tuple(revoked),
        tombstones=Tombstones(dead_clients, dead_credentials, dead_tariffs, dead_staff),
        commands=tuple(commands.values()),
    )
