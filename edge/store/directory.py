"""Writing the directory copy: a whole directory (a file, or the sync agent's walk from cursor
0) and a page of changes go through one upsert path, each with its meta values, in one
transaction; see the package's notes on balances and local clients."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from edge.store.base import DIRECTORY_CURSOR_KEY, StoreBase
from edge.store.fields import rates_to_json
from sync.directory import ClientEntry, Directory, client_dict
from sync.directorypage import DirectoryPage, Tombstones
from sync.errors import RuleError

log = logging.getLogger(__name__)

CHUNK = 500  # rows per statement (SQLite limits the parameters of one)


def _chunks(rows: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _client_row(client: ClientEntry) -> dict[str, Any]:
    """The ``DirClient`` row of a client: its wire form but the uuids (``DirClientUuid`` rows)."""
    row = client_dict(client)
    del row["uuids"]
    return row


class DirectoryCopy(StoreBase):
    """Loading directories and applying pages (the only writer of the ``Dir*`` tables)."""

    def load_directory(
        self, directory: Directory, now: datetime, site_id: int = 0, allow_older: bool = False
    ) -> dict[str, int]:
        """Replace the directory copy with ``directory`` in one transaction and return the row
        counts. Refused (RuleError) if it is of another site than ``site_id`` (or, with 0, than
        the site loaded before), or older than the copy held unless ``allow_older``. Local
        sessions, entries and events are kept; entries acknowledged centrally are settled."""
        with self.atomic():
            self._check_site(directory.site_id, site_id)
            if directory.version < self.directory_version() and not allow_older:
                raise RuleError(
                    f"Справочник версии {directory.version} старше загруженного "
                    f"(версия {self.directory_version()})",
                    "older_directory",
                )
            self._replace(directory, directory.version, directory.generated_at, now)
        return {
            "tariffs": len(directory.tariffs),
            "clients": len(directory.clients),
            "credentials": len(directory.credentials),
            "revoked_qr": len(directory.revoked_qr_token_ids),
            "staff": len(directory.staff),
        }

    def apply_directory_page(self, page: DirectoryPage, now: datetime, site_id: int = 0) -> None:
        """Apply a page of the sync agent's walk and store its cursor, in one transaction. A
        ``reset`` page (the agent merged the whole walk from cursor 0) replaces the copy as a
        directory load does, whatever its version; any other page deletes its tombstones and
        upserts its rows. A page carries fresh balances only for the clients it upserts, so
        only their acknowledged entries are settled (a reset settles everyone's)."""
        with self.atomic():
            self._check_site(page.site_id, site_id)
            if page.reset:
                self._replace(page, page.cursor, page.server_time, now)
            else:
                self._delete(page.tombstones)
                self._upsert(page)
                self.relink_local_clients()
                if page.clients:
                    self.settle_acknowledged([c.id for c in page.clients])
                self._set_meta(page, page.cursor, page.server_time, now)
            self._set(DIRECTORY_CURSOR_KEY, str(page.cursor))

    def settle_acknowledged(self, client_ids: list[int] | None = None) -> int:
        """Stop adding the local entries whose events the central service acknowledged to
        the central balance (of ``client_ids``, or of everyone): call it, in the transaction
        that stores them, when balances fetched after those acknowledgments arrive."""
        ledger, outbox = self.tables.LocalLedger, self.tables.Outbox
        waiting = outbox.select(outbox.id).where(~outbox.acked)
        settle = ~ledger.settled & ledger.event_id.not_in(waiting)
        if client_ids is not None:
            settle &= ledger.client_id.in_(client_ids)
        return int(ledger.update(settled=True).where(settle).execute())

    # --- the steps ---------------------------------------------------------------------------

    def _check_site(self, found: int, site_id: int) -> None:
        """RuleError unless ``found`` is ``site_id`` (0: the site loaded before, if any)."""
        expected_site = site_id or self.site_id()
        if expected_site and found != expected_site:
            raise RuleError(
                f"Справочник другой площадки (№{found}, а стойка — на площадке №{expected_site})",
                "wrong_site",
            )

    def _replace(
        self, rows: Directory | DirectoryPage, version: int, generated_at: datetime, now: datetime
    ) -> None:
        """The copy becomes ``rows``: everything settled, every row deleted, ``rows``
        upserted into the empty tables, local clients re-linked."""
        self.settle_acknowledged()
        for model in reversed(self.tables.directory):
            model.delete().execute()
        self._upsert(rows)
        self.relink_local_clients()
        self._set_meta(rows, version, generated_at, now)

    def _delete(self, down: Tombstones) -> None:
        t = self.tables
        for key in down.credentials:
            t.DirCredential.delete().where(
                (t.DirCredential.kind == key.kind) & (t.DirCredential.value == key.value)
            ).execute()
        if down.clients:
            t.DirClient.delete().where(t.DirClient.id.in_(list(down.clients))).execute()
        if down.staff:
            t.DirStaff.delete().where(t.DirStaff.id.in_(list(down.staff))).execute()
        if down.tariffs:
            t.DirTariff.delete().where(t.DirTariff.id.in_(list(down.tariffs))).execute()

    def _upsert(self, up: Directory | DirectoryPage) -> None:
        """Insert or update every row ``up`` holds: a tariff's versions are replaced with its
        own, a client's uuids likewise; a credential of a client the copy lacks is skipped."""
        t = self.tables
        tariffs = [{"id": x.id, "name": x.name, "active": x.active} for x in up.tariffs]
        for chunk in _chunks(tariffs):
            t.DirTariff.insert_many(chunk).on_conflict(
                conflict_target=[t.DirTariff.id], preserve=[t.DirTariff.name, t.DirTariff.active]
            ).execute()
        for ids in _chunks([x.id for x in up.tariffs]):
            t.DirTariffVersion.delete().where(t.DirTariffVersion.tariff.in_(ids)).execute()
        versions = [
            {
                "id": v.id,
                "tariff": x.id,
                "effective_from": v.effective_from,
                "rates": rates_to_json(v.rates),
            }
            for x in up.tariffs
            for v in x.versions
        ]
        for chunk in _chunks(versions):
            t.DirTariffVersion.insert_many(chunk).on_conflict_replace().execute()
        client_fields = [f for f in t.DirClient._meta.sorted_fields if f.name != "id"]
        for chunk in _chunks([_client_row(c) for c in up.clients]):
            t.DirClient.insert_many(chunk).on_conflict(
                conflict_target=[t.DirClient.id], preserve=client_fields
            ).execute()
        self._store_uuids(up.clients)
        self._upsert_credentials(up)
        staff = [
            {"id": s.id, "full_name": s.full_name, "role": s.role, "pin_hash": s.pin_hash}
            for s in up.staff
        ]
        for chunk in _chunks(staff):
            t.DirStaff.insert_many(chunk).on_conflict(
                conflict_target=[t.DirStaff.id],
                preserve=[t.DirStaff.full_name, t.DirStaff.role, t.DirStaff.pin_hash],
            ).execute()
        revoked = [{"token_id": x} for x in dict.fromkeys(up.revoked_qr_token_ids)]
        for chunk in _chunks(revoked):
            t.DirRevokedQr.insert_many(chunk).on_conflict_ignore().execute()

    def _store_uuids(self, clients: tuple[ClientEntry, ...]) -> None:
        """The upserted clients' uuids replace what the copy held for them (a uuid that moved
        to another client moves with it)."""
        if not clients:
            return
        uuids = self.tables.DirClientUuid
        for ids in _chunks([c.id for c in clients]):
            uuids.delete().where(uuids.client.in_(ids)).execute()
        for chunk in _chunks([uuid for c in clients for uuid in c.uuids]):
            uuids.delete().where(uuids.uuid.in_(chunk)).execute()
        rows = [{"uuid": uuid, "client": c.id} for c in clients for uuid in c.uuids]
        for chunk in _chunks(rows):
            uuids.insert_many(chunk).execute()

    def _upsert_credentials(self, up: Directory | DirectoryPage) -> None:
        t = self.tables
        known = {row.id for row in t.DirClient.select(t.DirClient.id)}
        rows = []
        for credential in up.credentials:
            if credential.client_id not in known:
                log.warning("credential of unknown client %s skipped", credential.client_id)
                continue
            rows.append(
                {
                    "client": credential.client_id,
                    "kind": credential.kind,
                    "value": credential.value,
                    "lost": credential.lost,
                    "daily_limit_kopecks": credential.daily_limit_kopecks,
                }
            )
        for chunk in _chunks(rows):
            t.DirCredential.insert_many(chunk).on_conflict(
                conflict_target=[t.DirCredential.kind, t.DirCredential.value],
                preserve=[
                    t.DirCredential.client,
                    t.DirCredential.lost,
                    t.DirCredential.daily_limit_kopecks,
                ],
            ).execute()

    def _set_meta(
        self, up: Directory | DirectoryPage, version: int, generated_at: datetime, now: datetime
    ) -> None:
        self._set("directory_version", str(version))
        self._set("directory_generated_at", generated_at.isoformat())
        self._set("directory_loaded_at", now.astimezone(UTC).isoformat())
        self._set("site_id", str(up.site_id))
        self._set("qr_public_key_pem", up.qr_public_key_pem)
        self._set("default_tariff_id", str(up.default_tariff_id or ""))
        self._set("points_value_kopecks", str(up.points_value_kopecks))
