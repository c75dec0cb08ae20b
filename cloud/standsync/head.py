"""The head of a protocol 2 or 3 poll: the stand's own part, beside the windows every stand
shares (cloud/standsync/windows.py, sync/directorywindow.py).

It says the stand's ids, acknowledged seq, point value, default tariff and commands, the staff
who may log in at its site changed after the stand's cursor, and the details of its site's
clients whose entries lie after ``since``, the start of the first window the stand took in full
(cloud/clients/scope.py). What is there to send is known from one read (``stand_facts``,
cloud/standsync/standfacts.py): an idle stand's head is that read alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

from cloud import changes
from cloud.config import CloudConfig
from cloud.models import Stand
from cloud.standsync.directory import site_details, site_details_after, staff_entries
from cloud.standsync.feed import MAX_CURSOR, snapshot, stand_orders, stand_page, tariff_catalogue
from cloud.standsync.standfacts import StandFacts, stand_facts
from sync.directory import StaffEntry
from sync.directorypage import DirectoryPage, Tombstones
from sync.directorywindow import PROTOCOL_VERSION, ClientDetails, details_dict, window_start

DETAILS_AS_LIST = 500  # changed clients read into a list first, up to this many


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
        page, details = _read_head(stand, cursor, min(since, cursor), config, now, protocol)
    data = page.to_dict()
    data["protocol"] = protocol
    data["details"] = [details_dict(d) for d in details]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _read_head(
    stand: Stand, cursor: int, since: int, config: CloudConfig, now: datetime, protocol: int
) -> tuple[DirectoryPage, list[ClientDetails]]:
    entity = changes.DETAILS if protocol > 2 else changes.CLIENT
    facts = stand_facts(stand.id, stand.site_id, cursor, entity, since)
    head = stand_page(stand, config, now, facts, cursor=cursor, more=False, reset=cursor == 0)
    if cursor > facts.newest:  # a restored database: walk again from 0
        return replace(head, cursor=0, more=True, reset=True), []
    all_tariffs, positions = tariff_catalogue().read(facts.tariffs_at)
    default_id, commands = stand_orders(stand, config, now, all_tariffs, facts)
    newer = default_id is not None and positions.get(default_id, cursor + 1) > cursor
    fresh = {default_id} if newer else set()
    staff_ids, staff = _staff(stand, cursor, config, facts)
    page = replace(
        head,
        default_tariff_id=default_id,
        tariffs=tuple(t for t in all_tariffs if t.id in fresh),
        staff=staff,
        tombstones=Tombstones(staff=tuple(sorted(staff_ids - {s.id for s in staff}))),
        commands=commands,
    )
    details = _details(stand.site_id, entity, since) if facts.details_changed else []
    return page, details


def _staff(
    stand: Stand, cursor: int, config: CloudConfig, facts: StandFacts
) -> tuple[set[int], tuple[StaffEntry, ...]]:
    """Staff travel only in heads: the ids changed after the cursor, and the entries of those
    who may log in at the stand's site (the rest are tombstones)."""
    if not facts.staff_changed:
        return set(), ()
    ids = {int(i) for (i,) in changes.ids_between(changes.STAFF, cursor, MAX_CURSOR).tuples()}
    everywhere = config.manager_pins_at_every_site
    return ids, staff_entries(stand.site_id, ids, everywhere) if ids else ()


def _details(site_id: int, entity: str, start: int) -> list[ClientDetails]:
    """The details of the site's clients whose ``entity`` entries lie after ``start`` (protocol
    3: those whose details changed). A poll's few changed clients are read into a list first,
    a walk's many by a subquery."""
    changed = changes.ids_between(entity, start, MAX_CURSOR).limit(DETAILS_AS_LIST + 1)
    few = [i for (i,) in changed.tuples()]
    if len(few) > DETAILS_AS_LIST:
        return [ClientDetails(*d) for d in site_details_after(site_id, entity, start)]
    return [ClientDetails(*d) for d in site_details(site_id, few)] if few else []
