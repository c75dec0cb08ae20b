"""The directory a site's stands work from, built from the central database (see
``sync.directory`` for the document).

Until the sync agent fetches it, an operator exports it to a file
(``aquastand-cloud export-directory``) and loads it at the stand. It holds every client who
is not deleted (a member washes at any site) with their own overdraft limit and the stand where
a session of theirs is open (one open session per client across posts), their linked cards,
plates and QR token ids, the ids of revoked QR tokens, all tariffs with every version, and the
staff who may log in at the site's stands: its attendants and operators, administrators and the
owner with a PIN (of every site, or of their own sites only: ``manager_pins_at_every_site``).

Personal details (name, phones) go only to the stands of a site the client is of: registered
there or visited it (``cloud.clients.scope``, the rule the attendant's central view
follows). Every other client comes ``without_details`` (sync/directory.py): what a tap needs.
A client's first visit moves their entry (a session is a source of the client's changes,
cloud/changetriggers.py), so the site's stands receive the details at their next poll.
E-mail and notes never go to a stand.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.clients.qrkeys import public_key
from cloud.clients.scope import of_site_among, of_site_changed_after, of_site_within
from cloud.config import CloudConfig
from cloud.db import db_proxy
from cloud.errors import NotFound
from cloud.models import (
    REGISTRATIONS,
    Client,
    ClientPhone,
    Credential,
    LedgerEntry,
    Session,
    Site,
    StandEvent,
    Tariff,
    TariffVersion,
    User,
    UserSite,
    stored_setting,
)
from sync.balances import BalanceEntry
from sync.directory import (
    ClientEntry,
    CredentialEntry,
    Directory,
    StaffEntry,
    TariffEntry,
    TariffVersionEntry,
    without_details,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Which rows to read: ids, or a query selecting them. A directory page passes its window of the
# change log as a query, so a thousand changed clients are one subquery rather than a thousand
# parameters to build into the statement, send and parse on every poll.
Ids = Collection[int] | pw.SelectBase


# What a credential entry holds, in its order.
CREDENTIAL_FIELDS = (
    Credential.client,
    Credential.kind,
    Credential.value,
    Credential.lost,
    Credential.daily_limit_kopecks,
)
RATE_FIELDS = (
    TariffVersion.member_per_minute,
    TariffVersion.guest_per_minute,
    TariffVersion.step_s,
    TariffVersion.min_charge,
    TariffVersion.cap,
    TariffVersion.grace_s,
    TariffVersion.schedule,
)


def _among(field: pw.Field, ids: Ids) -> pw.Expression:
    """``field`` is one of ``ids``."""
    return field.in_(ids if isinstance(ids, pw.SelectBase) else sorted(ids))


def tariff_entries(ids: Collection[int] | None = None) -> tuple[TariffEntry, ...]:
    """Tariffs with every version, by id (all of them, or those of ``ids``)."""
    # Only the columns the entries hold: each is tracked (cloud/changetriggers.py).
    tariffs = Tariff.select(Tariff.id, Tariff.name, Tariff.active).order_by(Tariff.id)
    versions_query = TariffVersion.select(
        TariffVersion.id,
        TariffVersion.tariff,
        TariffVersion.effective_from,
        *RATE_FIELDS,
    ).order_by(TariffVersion.effective_from, TariffVersion.id)
    if ids is not None:
        tariffs = tariffs.where(_among(Tariff.id, ids))
        versions_query = versions_query.where(_among(TariffVersion.tariff, ids))
    versions: dict[int, list[TariffVersionEntry]] = defaultdict(list)
    for row in versions_query:
        versions[row.tariff_id].append(TariffVersionEntry(row.id, row.effective_from, row.rates()))
    return tuple(TariffEntry(t.id, t.name, t.active, tuple(versions[t.id])) for t in tariffs)


def default_tariff_of(
    tariffs: tuple[TariffEntry, ...], now: datetime, preferred: Iterable[int | None] = ()
) -> int | None:
    """The first of ``preferred`` (a stand's own default tariff, then its site's) that is
    active and in force now, else the oldest active tariff in force: the tariff a stand
    starts a client without one of their own with."""
    usable = [t.id for t in tariffs if t.active and t.version_at(now) is not None]
    chosen = [tariff_id for tariff_id in preferred if tariff_id in usable]
    return chosen[0] if chosen else min(usable, default=None)


def stand_uuids(ids: Ids | None = None) -> dict[int, list[str]]:
    """The uuids stands registered each client under (of all clients, or of ``ids``): its own
    ``Client.uuid`` and those of registrations attached to it (cloud/standsync/ingest/,
    ``client_by_uuid``); a uuid that is another client's own stays with that one."""
    own = Client.select(Client.id, Client.uuid).where(Client.uuid.is_null(False))
    attached = StandEvent.select(StandEvent.client, StandEvent.subject_uuid).where(
        StandEvent.type.in_(REGISTRATIONS)
        & StandEvent.client.is_null(False)
        & StandEvent.subject_uuid.is_null(False)
    )
    if ids is not None:
        own = own.where(_among(Client.id, ids))
        attached = attached.where(_among(StandEvent.client, ids))
    uuids: dict[int, list[str]] = defaultdict(list)
    owner: dict[str, int] = {}
    for client_id, uuid in own.tuples():
        uuids[client_id].append(uuid)
        owner[uuid] = client_id
    rows = list(attached.order_by(StandEvent.id).tuples())
    others = {uuid for _client, uuid in rows if uuid not in owner}
    if others:
        owned = Client.select(Client.uuid).where(Client.uuid.in_(sorted(others))).tuples()
        owner.update((uuid, 0) for (uuid,) in owned)  # another client's own uuid
    for client_id, uuid in rows:
        if owner.setdefault(uuid, client_id) == client_id and uuid not in uuids[client_id]:
            uuids[client_id].append(uuid)
    return uuids


def open_session_stands(ids: Ids | None = None) -> dict[int, int]:
    """The stand of each client's open session (of those of ``ids``), the latest started if
    the stands were offline and let a client open two."""
    where = Session.ended_at.is_null()
    if ids is not None:
        where &= _among(Session.client, ids)
    rows = Session.select(Session.client, Session.stand).where(where).order_by(Session.started_at)
    return {client_id: stand_id for client_id, stand_id in rows.tuples()}


def _live(ids: Ids | None) -> pw.Expression:
    """Clients who are not deleted (all of them, or those of ``ids``)."""
    live = Client.deleted_at.is_null()
    return live if ids is None else live & _among(Client.id, ids)


def _phones(live: pw.Expression) -> dict[int, list[str]]:
    """The phones of the clients ``live`` selects, in their order."""
    phones: dict[int, list[str]] = defaultdict(list)
    rows = (
        ClientPhone.select(ClientPhone.client, ClientPhone.phone)
        .join(Client)
        .where(live)
        .order_by(ClientPhone.client, ClientPhone.position, ClientPhone.id)
        .tuples()
    )
    for client_id, phone in rows:
        phones[client_id].append(phone)
    return phones


def site_details(site_id: int, ids: list[int]) -> list[tuple[int, str, tuple[str, ...]]]:
    """The name and phones of the live clients among ``ids`` who are of the site, by id: what
    a stand of the site shows besides the shared entry (sync protocol 2's head), without
    reading the rest of their entries."""
    return _named(Client.deleted_at.is_null() & of_site_within(site_id, ids))


def site_details_after(
    site_id: int, entity: str, since: int
) -> list[tuple[int, str, tuple[str, ...]]]:
    """``site_details`` of every client whose ``entity`` entry lies after ``since`` (a walk's
    many changed clients)."""
    of_site = of_site_changed_after(site_id, entity, since)
    return _named(Client.deleted_at.is_null() & Client.id.in_(of_site))


def _named(where: pw.Expression) -> list[tuple[int, str, tuple[str, ...]]]:
    rows = list(Client.select(Client.id, Client.name).where(where).order_by(Client.id).tuples())
    phones = _phones(_live([client_id for client_id, _name in rows])) if rows else {}
    return [(client_id, name, tuple(phones.get(client_id, ()))) for client_id, name in rows]


def client_entries(ids: Ids | None = None) -> tuple[ClientEntry, ...]:
    """Clients who are not deleted (all of them, or those of ``ids``), by id."""
    live = _live(ids)
    phones = _phones(live)
    uuids = stand_uuids(ids)
    open_at = open_session_stands(ids)
    rows = _with_ledger_position(
        Client.id,
        Client.kind,
        Client.name,
        Client.blocked,
        Client.default_tariff,
        Client.balance_kopecks,
        Client.points_balance,
        Client.points_spending,
        Client.discount_percent,
        Client.discount_kopecks,
        Client.overdraft_limit_kopecks,
    ).where(live)
    return tuple(
        ClientEntry(
            id=client_id,
            kind=kind,
            name=name,
            phones=tuple(phones[client_id]),
            blocked=bool(blocked),
            default_tariff_id=default_tariff_id,
            balance_kopecks=int(balance),
            ledger_position=int(ledger_position),
            overdraft_limit_kopecks=None if overdraft is None else int(overdraft),
            points_balance=int(points),
            points_spending=spending,
            discount_percent=percent,
            discount_kopecks=int(fixed),
            uuids=tuple(uuids.get(client_id, ())),
            open_session_stand_id=open_at.get(client_id),
        )
        for (
            client_id,
            kind,
            name,
            blocked,
            default_tariff_id,
            balance,
            points,
            spending,
            percent,
            fixed,
            overdraft,
            ledger_position,
        ) in rows
    )


def balance_entries(ids: Ids) -> list[BalanceEntry]:
    """The compact balances (sync/balances.py) of the clients of ``ids`` who are not deleted,
    by id: each balance with the ledger position it reflects, read in one statement."""
    open_at = open_session_stands(ids)
    rows = _with_ledger_position(Client.id, Client.balance_kopecks, Client.points_balance)
    return [
        BalanceEntry(int(i), int(balance), int(ledger), int(points), open_at.get(i))
        for i, balance, points, ledger in rows.where(_live(ids))
    ]


def _with_ledger_position(*columns: pw.Field) -> pw.ModelSelect:
    """Clients' ``columns`` and, last, the ledger position their balance includes, by id, as
    tuples: one statement, so each balance and that position come from one snapshot."""
    position = pw.fn.COALESCE(pw.fn.MAX(LedgerEntry.id), 0)
    return (
        Client.select(*columns, position)
        .join(LedgerEntry, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.client == Client.id))
        .group_by(Client.id)
        .order_by(Client.id)
        .tuples()
    )


def for_site(
    site_id: int, entries: tuple[ClientEntry, ...], ids: Ids | None = None
) -> tuple[ClientEntry, ...]:
    """The entries (of ``ids``, or of every client) as the site's stands receive them:
    details only of the site's clients."""
    known = of_site_among(site_id, ids) if entries else set()
    return tuple(e if e.id in known else without_details(e) for e in entries)


def credential_entries(
    keys: Collection[tuple[str, str]] | None = None,
) -> tuple[CredentialEntry, ...]:
    """Linked credentials of live clients (all of them, or those of these (kind, value) keys)."""
    if keys is None:
        where = Credential.unlinked_at.is_null() & Client.deleted_at.is_null()
        linked = (
            Credential.select(*CREDENTIAL_FIELDS).join(Client).where(where).order_by(Credential.id)
        )
        return tuple(CredentialEntry(*row) for row in linked.tuples())
    values: dict[str, set[str]] = defaultdict(set)
    for kind, value in keys:
        values[kind].add(value)
    if not values:
        return ()
    # Kind and value together, so the (kind, value) index of linked credentials serves; the
    # clients are checked apart, by id, so the plan does not hinge on table statistics.
    held = reduce(
        operator.or_,
        [(Credential.kind == k) & Credential.value.in_(sorted(v)) for k, v in values.items()],
    )
    rows = [
        CredentialEntry(*row)
        for row in Credential.select(*CREDENTIAL_FIELDS)
        .where(Credential.unlinked_at.is_null() & held)
        .order_by(Credential.id)
        .tuples()
    ]
    owners = sorted({c.client_id for c in rows})
    live = {
        client_id
        for (client_id,) in Client.select(Client.id)
        .where(Client.id.in_(owners) & Client.deleted_at.is_null())
        .tuples()
    }
    return tuple(c for c in rows if c.client_id in live)


def _credentials() -> tuple[tuple[CredentialEntry, ...], tuple[str, ...]]:
    """Linked credentials of live clients, and the ids of QR tokens no longer linked."""
    credentials = credential_entries()
    active_qr = {c.value for c in credentials if c.kind == "qr"}
    unlinked = (
        Credential.select(Credential.value)
        .where((Credential.kind == "qr") & Credential.unlinked_at.is_null(False))
        .order_by(Credential.id)
    )
    revoked = tuple(dict.fromkeys(c.value for c in unlinked if c.value not in active_qr))
    return credentials, revoked


def staff_entries(
    site_id: int, ids: Collection[int] | None = None, managers_everywhere: bool = True
) -> tuple[StaffEntry, ...]:
    """Who may log in at the site's stands, if active and with a PIN (all of them, or those
    of ``ids``): the site's own staff, and operators, administrators and the owner of any
    site unless ``managers_everywhere`` is false (``CloudConfig.manager_pins_at_every_site``).
    Their PIN hashes go to no other stand."""
    at_site = UserSite.select(UserSite.user).where(UserSite.site == site_id)
    allowed = User.id.in_(at_site)
    if managers_everywhere:
        allowed |= User.role != "attendant"
    where = User.active & User.deleted_at.is_null() & (User.pin_hash != "") & allowed
    if ids is not None:
        where &= _among(User.id, ids)
    rows = User.select(User.id, User.full_name, User.role, User.pin_hash).where(where)
    return tuple(StaffEntry(*row) for row in rows.order_by(User.id).tuples())


def build_directory(
    site_id: int, config: CloudConfig, now: datetime, default_tariff_id: int | None = None
) -> dict[str, Any]:
    """The directory of ``site_id`` at ``now`` as JSON-ready data; its ``version`` is ``now``
    in milliseconds since the epoch. ``default_tariff_id`` is the stand's tariff for clients
    without one (default: the oldest active tariff in force)."""
    site = Site.get_or_none(Site.id == site_id)
    if site is None:
        raise NotFound(_("Площадка не найдена"))
    key = public_key(config).decode("ascii")
    with db_proxy.atomic():
        tariffs = tariff_entries()
        if default_tariff_id is not None and default_tariff_id not in {t.id for t in tariffs}:
            raise NotFound(_("Тариф не найден"), "tariff_not_found")
        credentials, revoked = _credentials()
        directory = Directory(
            version=(now - EPOCH) // timedelta(milliseconds=1),
            generated_at=now,
            site_id=site.id,
            qr_public_key_pem=key,
            default_tariff_id=default_tariff_id
            or default_tariff_of(tariffs, now, (site.default_tariff_id,)),
            tariffs=tariffs,
            clients=for_site(site.id, client_entries()),
            credentials=credentials,
            revoked_qr_token_ids=revoked,
            staff=staff_entries(site.id, managers_everywhere=config.manager_pins_at_every_site),
            points_value_kopecks=stored_setting(
                "points_value_kopecks", config.points_value_kopecks
            ),
        )
    return directory.to_dict()
