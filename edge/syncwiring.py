"""The sync agent (``sync.agent``) wired to this stand: its database and its engine.

The agent reaches the database only through :class:`edge.store.StoreAdapter` (its
``AgentStore``), which applies directory pages and their cursor with the Store's own methods.

:class:`EngineCommands` carries out the commands that come down with the directory:
``end_session`` ends the session from the dashboard as the staff member who issued it.
Commands repeat until the stand's session.ended event arrives, so an unknown or already
ended session is nothing to do. ``start_session`` starts one for a client as if they tapped
(``edge.remotestart``), under the uuid the command carries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.store import Store, StoreAdapter
from sync.agent import Command, SyncAgent, SyncStatus
from sync.document import format_utc
from sync.errors import RuleError

log = logging.getLogger(__name__)


def sync_state(agent: SyncAgent | None, store: Store) -> dict[str, Any]:
    """The ``sync`` block of ``/api/state``: the agent's view of the central service."""
    status = agent.status if agent is not None else SyncStatus()
    return {
        "enrolled": agent is not None,
        "online": agent is not None and agent.online(),
        "last_sync_at": None if status.last_sync_at is None else format_utc(status.last_sync_at),
        "cursor": store.directory_cursor(),
        "outbox": store.outbox_size(),
        "failures": status.failures,
        "last_error": status.last_error,
        "refused": status.refused,
        "alarm": status.alarm,
    }


class EngineCommands:
    """Carries out the central service's commands with the stand's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, command: Command) -> None:
        if command.type == "start_session":
            self.engine.start_from_command(command)
            return
        if command.type != "end_session":
            log.warning("unknown command %s of type %r ignored", command.id, command.type)
            return
        session = self.engine.store.session(command.session_uuid)
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
