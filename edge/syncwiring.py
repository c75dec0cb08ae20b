"""The sync agent (``sync.agent``) wired to this stand: its database and its engine.

:class:`StoreAdapter` gives the agent the outbox and applies directory pages. A page and its
cursor are applied in one transaction:

- a ``reset`` page (the agent merged the whole walk from cursor 0) replaces the copy through
  ``Store.load_directory``, the same path as a directory file, with the cursor as version;
- any other page upserts and deletes rows of the ``Dir*`` tables.

Balances follow the store's rule (``edge.store``, "Balances"): a local entry stops being added
to the central balance once a balance fetched after its event's acknowledgment has arrived.
A page carries fresh balances only for the clients it upserts, so only their acknowledged
entries are settled (a reset settles everyone's, as a full load does). The agent polls only
after a push whose reply it read, so an event applied centrally but not yet acknowledged here
is never in a balance the stand receives.

:class:`EngineCommands` carries out the commands that come down with the directory:
``end_session`` ends the session from the dashboard as the staff member who issued it.
Commands repeat until the stand's session.ended event arrives, so an unknown or already
ended session is nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from edge.config import EdgeConfig
from edge.engine import Clock, Engine
from edge.store import (
    DIRECTORY_CURSOR_KEY,
    DirClient,
    DirClientUuid,
    DirCredential,
    DirRevokedQr,
    DirStaff,
    DirTariff,
    DirTariffVersion,
    LocalSession,
    Outbox,
    Store,
    StoreMeta,
    rates_to_json,
)
from sync.agent import Command, SyncAgent, SyncStatus
from sync.directory import ClientEntry, Directory, DirectoryPage
from sync.document import format_utc
from sync.errors import RuleError
from sync.events import Event

log = logging.getLogger(__name__)

CURSOR_KEY = DIRECTORY_CURSOR_KEY


def _meta(key: str, value: str) -> None:
    StoreMeta.insert(key=key, value=value).on_conflict_replace().execute()


def stored_cursor() -> int:
    """The directory cursor stored with the copy (0: none)."""
    row = StoreMeta.get_or_none(StoreMeta.key == CURSOR_KEY)
    return 0 if row is None or not row.value else int(row.value)


def sync_state(agent: SyncAgent | None, store: Store) -> dict[str, Any]:
    """The ``sync`` block of ``/api/state``: the agent's view of the central service."""
    status = agent.status if agent is not None else SyncStatus()
    return {
        "enrolled": agent is not None,
        "online": agent is not None and agent.online(),
        "last_sync_at": None if status.last_sync_at is None else format_utc(status.last_sync_at),
        "cursor": stored_cursor(),
        "outbox": store.outbox_size(),
        "failures": status.failures,
        "last_error": status.last_error,
        "refused": status.refused,
        "alarm": status.alarm,
    }


def forget_cursor() -> None:
    """Make the agent's next poll a walk from cursor 0 (the copy was replaced otherwise), in
    the caller's transaction."""
    _meta(CURSOR_KEY, "0")


class StoreAdapter:
    """The stand's Store as the agent's ``AgentStore``."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        site_id: int = 0,
        keep_days: float = EdgeConfig.outbox_keep_days,
        keep_max: int = EdgeConfig.outbox_keep_max,
    ) -> None:
        self.store = store
        self.clock = clock
        self.site_id = site_id
        self.keep_days = keep_days
        self.keep_max = keep_max

    def pending_events(self, limit: int) -> list[Event]:
        return self.store.pending_events(limit)

    def mark_acked(self, up_to_seq: int) -> int:
        return self.store.mark_acked(up_to_seq)

    def outbox_size(self) -> int:
        return self.store.outbox_size()

    def acked_up_to(self) -> int:
        return self.store.acked_up_to()

    def resend_from(self, seq: int) -> bool:
        """Send the events from ``seq`` on again; the central database was restored, so its
        directory positions are of the past too: the next poll walks the whole directory."""
        with self.store.atomic():
            if not self.store.resend_from(seq):
                return False
            forget_cursor()
        return True

    def prune_acknowledged(self) -> int:
        older_than = self.clock.now() - timedelta(days=self.keep_days)
        return self.store.prune_acknowledged(older_than, self.keep_max)

    def oldest_unacked_at(self) -> datetime | None:
        row = Outbox.select(Outbox.occurred_at).where(~Outbox.acked).order_by(Outbox.seq).first()
        return None if row is None else row.occurred_at

    def directory_cursor(self) -> int:
        return stored_cursor()

    def apply_directory_page(self, page: DirectoryPage) -> None:
        now = self.clock.now()
        with self.store.atomic():
            if page.reset:
                self.store.load_directory(
                    _full_directory(page), now, site_id=self.site_id, allow_older=True
                )
            else:
                self._apply_changes(page, now)
            _meta(CURSOR_KEY, str(page.cursor))

    def _apply_changes(self, page: DirectoryPage, now: datetime) -> None:
        expected_site = self.site_id or self.store.site_id()
        if expected_site and page.site_id != expected_site:
            raise RuleError(
                f"Справочник другой площадки (№{page.site_id}, а стойка — на площадке "
                f"№{expected_site})",
                "wrong_site",
            )
        up, down = page, page.tombstones
        for key in down.credentials:
            DirCredential.delete().where(
                (DirCredential.kind == key.kind) & (DirCredential.value == key.value)
            ).execute()
        if down.clients:
            DirClient.delete().where(DirClient.id.in_(list(down.clients))).execute()
        if down.staff:
            DirStaff.delete().where(DirStaff.id.in_(list(down.staff))).execute()
        if down.tariffs:
            DirTariff.delete().where(DirTariff.id.in_(list(down.tariffs))).execute()
        for tariff in up.tariffs:
            DirTariff.insert(id=tariff.id, name=tariff.name, active=tariff.active).on_conflict(
                conflict_target=[DirTariff.id], preserve=[DirTariff.name, DirTariff.active]
            ).execute()
            DirTariffVersion.delete().where(DirTariffVersion.tariff == tariff.id).execute()
            for version in tariff.versions:
                DirTariffVersion.insert(
                    id=version.id,
                    tariff=tariff.id,
                    effective_from=version.effective_from,
                    rates=rates_to_json(version.rates),
                ).on_conflict_replace().execute()
        for client in up.clients:
            DirClient.insert(**_client_row(client)).on_conflict(
                conflict_target=[DirClient.id],
                preserve=[f for f in DirClient._meta.sorted_fields if f.name != "id"],
            ).execute()
        _store_uuids(up.clients)
        known = {row.id for row in DirClient.select(DirClient.id)}
        for credential in up.credentials:
            if credential.client_id not in known:
                log.warning("credential of unknown client %s skipped", credential.client_id)
                continue
            DirCredential.insert(
                client=credential.client_id,
                kind=credential.kind,
                value=credential.value,
                lost=credential.lost,
                daily_limit_kopecks=credential.daily_limit_kopecks,
            ).on_conflict(
                conflict_target=[DirCredential.kind, DirCredential.value],
                preserve=[
                    DirCredential.client,
                    DirCredential.lost,
                    DirCredential.daily_limit_kopecks,
                ],
            ).execute()
        for member in up.staff:
            DirStaff.insert(
                id=member.id, full_name=member.full_name, role=member.role, pin_hash=member.pin_hash
            ).on_conflict(
                conflict_target=[DirStaff.id],
                preserve=[DirStaff.full_name, DirStaff.role, DirStaff.pin_hash],
            ).execute()
        for token_id in dict.fromkeys(up.revoked_qr_token_ids):
            DirRevokedQr.insert(token_id=token_id).on_conflict_ignore().execute()
        self.store.relink_local_clients()
        if up.clients:
            self.store.settle_acknowledged([c.id for c in up.clients])
        _meta("directory_version", str(page.cursor))
        _meta("directory_generated_at", page.server_time.isoformat())
        _meta("directory_loaded_at", now.isoformat())
        _meta("site_id", str(page.site_id))
        _meta("qr_public_key_pem", page.qr_public_key_pem)
        _meta("default_tariff_id", str(page.default_tariff_id or ""))
        _meta("points_value_kopecks", str(page.points_value_kopecks))


def _store_uuids(clients: tuple[ClientEntry, ...]) -> None:
    """The upserted clients' uuids replace what the copy held for them (a uuid that moved to
    another client moves with it)."""
    uuids = [uuid for c in clients for uuid in c.uuids]
    if not clients:
        return
    DirClientUuid.delete().where(DirClientUuid.client.in_([c.id for c in clients])).execute()
    for start in range(0, len(uuids), 500):
        chunk = uuids[start : start + 500]
        DirClientUuid.delete().where(DirClientUuid.uuid.in_(chunk)).execute()
    rows = [{"uuid": uuid, "client": c.id} for c in clients for uuid in c.uuids]
    for start in range(0, len(rows), 500):
        DirClientUuid.insert_many(rows[start : start + 500]).execute()


def _client_row(client: ClientEntry) -> dict[str, Any]:
    return {
        "id": client.id,
        "kind": client.kind,
        "name": client.name,
        "phones": list(client.phones),
        "blocked": client.blocked,
        "default_tariff_id": client.default_tariff_id,
        "balance_kopecks": client.balance_kopecks,
        "ledger_position": client.ledger_position,
        "overdraft_limit_kopecks": client.overdraft_limit_kopecks,
        "points_balance": client.points_balance,
        "points_spending": client.points_spending,
        "discount_percent": client.discount_percent,
        "discount_kopecks": client.discount_kopecks,
    }


def _full_directory(page: DirectoryPage) -> Directory:
    """A whole directory from a reset walk (credentials of absent clients left out)."""
    clients = page.clients
    ids = {c.id for c in clients}
    return Directory(
        version=page.cursor,
        generated_at=page.server_time,
        site_id=page.site_id,
        qr_public_key_pem=page.qr_public_key_pem,
        default_tariff_id=page.default_tariff_id,
        tariffs=page.tariffs,
        clients=clients,
        credentials=tuple(c for c in page.credentials if c.client_id in ids),
        revoked_qr_token_ids=page.revoked_qr_token_ids,
        staff=page.staff,
        points_value_kopecks=page.points_value_kopecks,
    )


class EngineCommands:
    """Carries out the central service's commands with the stand's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, command: Command) -> None:
        if command.type != "end_session":
            log.warning("unknown command %s of type %r ignored", command.id, command.type)
            return
        session = LocalSession.get_or_none(LocalSession.uuid == command.session_uuid)
        if session is None or session.ended_at is not None:
            return  # ended already (its event is on its way) or never here
        if command.issued_by is None:
            log.warning("command %s names no staff member: not carried out", command.id)
            return
        try:
            self.engine.end_session(
                command.session_uuid,
                actor=command.issued_by,
                comment=command.comment[:2000],
                method="dashboard",
            )
        except RuleError as error:
            if error.code != "not_open":  # ended meanwhile by a tap: done
                raise


def make_agent(
    config: EdgeConfig,
    store: Store,
    engine: Engine,
    health: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
    version: str = "",
) -> SyncAgent | None:
    """The agent of an enrolled stand (a central URL and a token), else None."""
    token = config.stand_token()
    if not config.central_url or token is None:
        return None
    return SyncAgent(
        config.central_url,
        token,
        StoreAdapter(
            store,
            engine.clock,
            config.site_id,
            keep_days=config.outbox_keep_days,
            keep_max=config.outbox_keep_max,
        ),
        engine.clock,
        EngineCommands(engine),
        version=version,
        health=health,
        interval_s=config.sync_interval_s,
        max_backoff_s=config.sync_max_backoff_s,
        batch_size=max(1, config.sync_batch_size),
    )
