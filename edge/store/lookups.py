"""Reading the directory copy: credentials and clients (a tap's lookups, in plain SQL), staff,
tariffs and revoked QR tokens."""

from __future__ import annotations

from datetime import datetime

from edge.store.base import StoreBase
from edge.store.models import AnyClient, AnyCredential, DirStaff, DirTariff, DirTariffVersion
from edge.store.sql import (
    DIR_CLIENT_SQL,
    DIR_CREDENTIAL_SQL,
    LOCAL_CLIENT_SQL,
    LOCAL_CREDENTIAL_SQL,
    TARIFF_VERSION_SQL,
    instance,
)


class DirectoryLookups(StoreBase):
    """What a tap and the screen read of the directory (and of clients registered here)."""

    def credential(self, kind: str, value: str) -> AnyCredential | None:
        """The directory's credential, else a local client's; its ``client`` is read with it
        (one query, no second one when the caller looks at the client)."""
        t = self.tables
        credential: AnyCredential
        client: AnyClient
        width = len(t.DirCredential._meta.sorted_fields)
        row = self._fetch(DIR_CREDENTIAL_SQL, (kind, value))
        if row is not None:
            credential = instance(t.DirCredential, row[:width])
            client = instance(t.DirClient, row[width:])
        else:
            width = len(t.LocalCredential._meta.sorted_fields)
            row = self._fetch(LOCAL_CREDENTIAL_SQL, (kind, value))
            if row is None:
                return self._added_card(value) if kind == "card" else None
            credential = instance(t.LocalCredential, row[:width])
            client = instance(t.LocalClient, row[width:])
        credential.client = client
        credential._dirty.clear()
        return credential

    def _added_card(self, value: str) -> AnyCredential | None:
        """A card linked here to a directory client the copy does not show with it yet, as
        the directory's own row will read (no daily limit, not lost)."""
        t = self.tables
        added = t.AddedCard.get_or_none(t.AddedCard.value == value)
        client = None if added is None else self.client(added.client_id)
        if added is None or client is None:
            return None
        credential = t.DirCredential(client=client.id, kind="card", value=value, lost=False)
        credential.client = client
        credential._dirty.clear()
        return credential

    def client(self, client_id: int) -> AnyClient | None:
        """A directory client (positive id) or a local one (negative id; a re-linked one
        answers its central client)."""
        t = self.tables
        if client_id < 0:
            row = self._fetch(LOCAL_CLIENT_SQL, (client_id,))
            if row is not None:
                return instance(t.LocalClient, row)
            link = t.RelinkedClient.get_or_none(t.RelinkedClient.local_id == client_id)
            return None if link is None else self.client(int(link.client_id))
        row = self._fetch(DIR_CLIENT_SQL, (client_id,))
        return None if row is None else instance(t.DirClient, row)

    def staff(self) -> list[DirStaff]:
        """The staff who may log in here, by name."""
        t = self.tables
        return list(t.DirStaff.select().order_by(t.DirStaff.full_name, t.DirStaff.id))

    def staff_member(self, staff_id: int) -> DirStaff | None:
        t = self.tables
        return t.DirStaff.get_or_none(t.DirStaff.id == staff_id)

    def active_tariffs(self, when: datetime) -> list[DirTariff]:
        """Active tariffs with a version in force at ``when``, by name."""
        t = self.tables
        in_force = t.DirTariffVersion.select(t.DirTariffVersion.tariff).where(
            t.DirTariffVersion.effective_from <= when
        )
        query = t.DirTariff.select().where(t.DirTariff.active & t.DirTariff.id.in_(in_force))
        return list(query.order_by(t.DirTariff.name, t.DirTariff.id))

    def tariff_name_of_version(self, version_id: int) -> str:
        t = self.tables
        version = t.DirTariffVersion.get_or_none(t.DirTariffVersion.id == version_id)
        return "" if version is None else str(version.tariff.name)

    def is_revoked(self, token_id: str) -> bool:
        t = self.tables
        return bool(t.DirRevokedQr.select().where(t.DirRevokedQr.token_id == token_id).exists())

    def tariff_version_at(self, tariff_id: int, when: datetime) -> DirTariffVersion | None:
        """The version of an active tariff in force at ``when``, or None."""
        t = self.tables
        moment = t.DirTariffVersion.effective_from.db_value(when)
        row = self._fetch(TARIFF_VERSION_SQL, (tariff_id, moment))
        return None if row is None else instance(t.DirTariffVersion, row)
