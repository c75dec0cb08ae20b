"""Writing the directory copy: a whole directory (a file, or the sync agent's walk from cursor
0) and a page of changes go through one upsert path, each with its meta values; see the
package's notes on balances and local clients.

In steps, so that a tap's commit never waits long for the write lock: in one transaction a
whole directory of 10,000 clients held it for over a second (50,000: six), longer on a Pi's
SD card. First the small tables (tariffs, staff, revoked QR codes) and a page's tombstones,
then the clients ``CLIENTS_PER_STEP`` at a time, each with its uuids and credentials, its
local clients re-linked and its acknowledged entries settled, then (a whole directory) the
rows it no longer holds, and last the meta values and the cursor. Each step is one
transaction followed by a pause as long (``DirectoryCopy._step``), so a tap waits for one
step at most, and between two steps it sees every client either as it was or as it now is,
never half of one, as if the central service had sent the change in several pages. The
cursor moves only in the last step, and a whole directory's load first sets it to 0: a load
cut short is fetched and applied again on the agent's next poll (upserts are idempotent).
Inside a caller's transaction (the command line's file load) the steps are savepoints, so
that load is all or nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import peewee as pw

from edge.store.base import DIRECTORY_CURSOR_KEY, StoreBase
from sync.balances import BalanceEntry
from sync.directory import ClientEntry, CredentialEntry, Directory, client_dict
from sync.directorypage import DirectoryPage, Tombstones
from sync.errors import RuleError
from sync.pricing import rates_to_json

log = logging.getLogger(__name__)

CHUNK = 500  # rows per statement (SQLite limits the parameters of one)
CLIENTS_PER_STEP = 500  # clients per transaction of a load (0.05-0.15 s on a PC)
# SQLite's busy handler lets a waiting writer sleep up to 0.1 s between tries for the lock.
STEP_PAUSE_MAX_S = 0.1


def _chunks(rows: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _client_steps(rows: Directory | DirectoryPage) -> Iterator[Directory | DirectoryPage]:
    """``rows``'s clients, ``CLIENTS_PER_STEP`` at a time, each with its own credentials."""
    by_client: dict[int, list[CredentialEntry]] = {client.id: [] for client in rows.clients}
    for credential in rows.credentials:
        by_client.get(credential.client_id, []).append(credential)
    for clients in _chunks(list(rows.clients), CLIENTS_PER_STEP):
        yield dataclasses.replace(
            rows,
            tariffs=(),
            staff=(),
            revoked_qr_token_ids=(),
            clients=tuple(clients),
            credentials=tuple(c for client in clients for c in by_client[client.id]),
        )


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
        """Replace the directory copy with ``directory`` (in steps, see the module's notes) and
        return the row counts. Refused (RuleError) if it is of another site than ``site_id``
        (or, with 0, than the site loaded before), or older than the copy held unless
        ``allow_older``. Local sessions, entries and events are kept; entries acknowledged
        centrally are settled."""

        def check() -> None:
            self._check_site(directory.site_id, site_id)
            if directory.version < self.directory_version() and not allow_older:
                raise RuleError(
                    f"Справочник версии {directory.version} старше загруженного "
                    f"(версия {self.directory_version()})",
                    "older_directory",
                )

        self._apply(directory, check, directory.version, directory.generated_at, now)
        return {
            "tariffs": len(directory.tariffs),
            "clients": len(directory.clients),
            "credentials": len(directory.credentials),
            "revoked_qr": len(directory.revoked_qr_token_ids),
            "staff": len(directory.staff),
        }

    def apply_directory_page(self, page: DirectoryPage, now: datetime, site_id: int = 0) -> None:
        """Apply a page of the sync agent's walk and store its cursor (in steps, see the
        module's notes). A ``reset`` page (the agent merged the whole walk from cursor 0)
        replaces the copy as a directory load does, whatever its version; any other page
        deletes its tombstones and upserts its rows. A page carries fresh balances only for
        the clients it upserts or has compact balances of (protocol 3, applied to the clients
        held), so only their acknowledged entries are settled (a reset settles everyone's)."""
        self._apply(
            page,
            lambda: self._check_site(page.site_id, site_id),
            page.cursor,
            page.server_time,
            now,
            cursor=page.cursor,
        )

    def _apply(
        self,
        rows: Directory | DirectoryPage,
        check: Callable[[], None],
        version: int,
        generated_at: datetime,
        now: datetime,
        cursor: int | None = None,
    ) -> None:
        """The steps of a load (a Directory, or a ``reset`` page) or of a page's changes;
        ``check`` runs in the first step and again in the last, which stores ``cursor`` (if
        given, else the one held before the load)."""
        whole = isinstance(rows, Directory) or rows.reset
        client_ids = {client.id for client in rows.clients}
        # Credentials of clients ``rows`` lacks: a page's may be of clients the copy holds; a
        # whole directory's are of no client (skipped, as ``_upsert`` skips a page's).
        others = tuple(c for c in rows.credentials if c.client_id not in client_ids)
        for credential in others if whole else ():
            log.warning("credential of unknown client %s skipped", credential.client_id)
        with self._step():
            check()
            held_cursor = self.directory_cursor()
            if whole:
                self.forget_cursor()  # a load cut short is walked again from cursor 0
            else:
                self._delete(rows.tombstones)
            small = dataclasses.replace(rows, clients=(), credentials=() if whole else others)
            self._upsert(small)
        for step in _client_steps(rows):
            with self._step():
                self._upsert(step)
                self.relink_local_clients()
                self.settle_acknowledged([c.id for c in step.clients])
        balances = () if isinstance(rows, Directory) else rows.balances
        for chunk in _chunks(list(balances), CLIENTS_PER_STEP):
            with self._step():
                self.settle_acknowledged(self._apply_balances(chunk))
        if whole:
            self._delete_missing(rows)
        with self._step():
            check()
            if whole:
                self.settle_acknowledged()
            self._set_meta(rows, version, generated_at, now)
            self._set(DIRECTORY_CURSOR_KEY, str(held_cursor if cursor is None else cursor))

    @contextmanager
    def _step(self) -> Iterator[None]:
        """One transaction of a load, then a pause as long as it took (up to
        STEP_PAUSE_MAX_S), in which a writer waiting for the lock (a tap) gets it: SQLite's
        locks are not queued, so a load taking it again at once could keep a tap waiting
        for many steps. A load inside a caller's transaction does not pause."""
        started = time.monotonic()
        with self.atomic():
            yield
        if not self.database.in_transaction():
            time.sleep(min(STEP_PAUSE_MAX_S, time.monotonic() - started))

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

    def _delete_missing(self, rows: Directory | DirectoryPage) -> None:
        """Delete, in steps, the rows of the copy the whole directory ``rows`` lacks (a client
        takes its uuids and credentials with it, a tariff its versions)."""
        t = self.tables
        client_ids = {c.id for c in rows.clients}
        credentials = {(c.kind, c.value) for c in rows.credentials if c.client_id in client_ids}
        held = t.DirCredential.select(
            t.DirCredential.id, t.DirCredential.kind, t.DirCredential.value
        )
        self._delete_in_steps(
            t.DirCredential.id,
            [id_ for id_, kind, value in held.tuples() if (kind, value) not in credentials],
        )
        for key, kept in (
            (t.DirClient.id, client_ids),
            (t.DirTariff.id, {x.id for x in rows.tariffs}),
            (t.DirStaff.id, {x.id for x in rows.staff}),
            (t.DirRevokedQr.token_id, set(rows.revoked_qr_token_ids)),
        ):
            values = [value for (value,) in key.model.select(key).tuples()]
            self._delete_in_steps(key, [value for value in values if value not in kept])

    def _delete_in_steps(self, key: pw.Field, values: list[Any]) -> None:
        for chunk in _chunks(values):
            with self._step():
                key.model.delete().where(key.in_(chunk)).execute()

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

    def _apply_balances(self, balances: list[BalanceEntry]) -> list[int]:
        """Protocol 3's compact balances on the clients the copy holds (sync/balances.py); the
        ids of those it held (a client it lacks comes whole in its walk: skipped)."""
        clients = self.tables.DirClient
        applied = []
        for entry in balances:
            changed = (
                clients.update(
                    balance_kopecks=entry.balance_kopecks,
                    ledger_position=entry.ledger_position,
                    points_balance=entry.points_balance,
                    open_session_stand_id=entry.open_session_stand_id,
                )
                .where(clients.id == entry.id)
                .execute()
            )
            if changed:
                applied.append(entry.id)
        return applied

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
        wanted = list({credential.client_id for credential in up.credentials})
        known = {
            client_id
            for ids in _chunks(wanted)
            for (client_id,) in t.DirClient.select(t.DirClient.id)
            .where(t.DirClient.id.in_(ids))
            .tuples()
        }
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
            # The central word on a card is final: it ends a card's stay as added here.
            cards = [row["value"] for row in chunk if row["kind"] == "card"]
            t.AddedCard.delete().where(t.AddedCard.value.in_(cards)).execute()
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
