"""The directory a site's stands work from, built from the central database (see
``sync.directory`` for the document).

Until the sync agent fetches it, an operator exports it to a file
(``aquastand-cloud export-directory``) and loads it at the stand. It holds every client who
is not deleted (a member washes at any site), their linked cards, plates and QR token ids, the
ids of revoked QR tokens, all tariffs with every version, and the staff who may log in at the
site's stands: its attendants and every active operator, administrator and owner with a PIN.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import NotFound
from cloud.models import (
    Client,
    ClientPhone,
    Credential,
    LedgerEntry,
    Site,
    Tariff,
    TariffVersion,
    User,
    UserSite,
)
from cloud.qrkeys import public_key
from sync.directory import (
    ClientEntry,
    CredentialEntry,
    Directory,
    StaffEntry,
    TariffEntry,
    TariffVersionEntry,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _tariffs() -> tuple[TariffEntry, ...]:
    versions: dict[int, list[TariffVersionEntry]] = defaultdict(list)
    for row in TariffVersion.select().order_by(TariffVersion.effective_from, TariffVersion.id):
        versions[row.tariff_id].append(TariffVersionEntry(row.id, row.effective_from, row.rates()))
    return tuple(
        TariffEntry(t.id, t.name, t.active, tuple(versions[t.id]))
        for t in Tariff.select().order_by(Tariff.id)
    )


def _default_tariff_id(tariffs: tuple[TariffEntry, ...], now: datetime) -> int | None:
    """The oldest active tariff that is in force now."""
    usable = [t.id for t in tariffs if t.active and t.version_at(now) is not None]
    return min(usable, default=None)


def _clients() -> tuple[ClientEntry, ...]:
    phones: dict[int, list[str]] = defaultdict(list)
    live = Client.deleted_at.is_null()
    phone_rows = (
        ClientPhone.select(ClientPhone.client, ClientPhone.phone)
        .join(Client)
        .where(live)
        .order_by(ClientPhone.client, ClientPhone.position, ClientPhone.id)
    )
    for row in phone_rows:
        phones[row.client_id].append(row.phone)
    # One statement, so each balance and the ledger position it reflects come from one snapshot.
    position = pw.fn.COALESCE(pw.fn.MAX(LedgerEntry.id), 0).alias("position")
    rows = (
        Client.select(Client, position)
        .join(LedgerEntry, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.client == Client.id))
        .where(live)
        .group_by(Client.id)
        .order_by(Client.id)
    )
    return tuple(
        ClientEntry(
            id=c.id,
            kind=c.kind,
            name=c.name,
            phones=tuple(phones[c.id]),
            blocked=c.blocked,
            default_tariff_id=c.default_tariff_id,
            balance_kopecks=c.balance_kopecks,
            ledger_position=c.position,
            overdraft_limit_kopecks=None,
        )
        for c in rows
    )


def _credentials() -> tuple[tuple[CredentialEntry, ...], tuple[str, ...]]:
    """Linked credentials of live clients, and the ids of QR tokens no longer linked."""
    linked = (
        Credential.select()
        .join(Client)
        .where(Credential.unlinked_at.is_null() & Client.deleted_at.is_null())
        .order_by(Credential.id)
    )
    credentials = tuple(CredentialEntry(c.client_id, c.kind, c.value, c.lost) for c in linked)
    active_qr = {c.value for c in credentials if c.kind == "qr"}
    unlinked = (
        Credential.select(Credential.value)
        .where((Credential.kind == "qr") & Credential.unlinked_at.is_null(False))
        .order_by(Credential.id)
    )
    revoked = tuple(dict.fromkeys(c.value for c in unlinked if c.value not in active_qr))
    return credentials, revoked


def _staff(site: Site) -> tuple[StaffEntry, ...]:
    at_site = UserSite.select(UserSite.user).where(UserSite.site == site.id)
    rows = (
        User.select()
        .where(
            User.active
            & User.deleted_at.is_null()
            & (User.pin_hash != "")
            & ((User.role != "attendant") | User.id.in_(at_site))
        )
        .order_by(User.id)
    )
    return tuple(StaffEntry(u.id, u.full_name, u.role, u.pin_hash) for u in rows)


def build_directory(
    site_id: int, config: CloudConfig, default_tariff_id: int | None = None
) -> dict[str, Any]:
    """The directory of ``site_id`` as JSON-ready data; its ``version`` is the generation time
    in milliseconds since the epoch. ``default_tariff_id`` is the stand's tariff for clients
    without one (default: the oldest active tariff in force)."""
    site = Site.get_or_none(Site.id == site_id)
    if site is None:
        raise NotFound(_("Площадка не найдена"))
    key = public_key(config).decode("ascii")
    with db_proxy.atomic():
        now = utcnow()
        tariffs = _tariffs()
        if default_tariff_id is not None and default_tariff_id not in {t.id for t in tariffs}:
            raise NotFound(_("Тариф не найден"), "tariff_not_found")
        credentials, revoked = _credentials()
        directory = Directory(
            version=(now - EPOCH) // timedelta(milliseconds=1),
            generated_at=now,
            site_id=site.id,
            qr_public_key_pem=key,
            default_tariff_id=default_tariff_id or _default_tariff_id(tariffs, now),
            tariffs=tariffs,
            clients=_clients(),
            credentials=credentials,
            revoked_qr_token_ids=revoked,
            staff=_staff(site),
        )
    return directory.to_dict()
