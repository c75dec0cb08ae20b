"""A session started by the central service's ``start_session`` command (issue 20): staff on
the central client page chose this stand for a client. Part of :class:`edge.engine.Engine` (a
mixin, like the attendant's actions), kept apart so the engine's module stays taps and sessions.

Rules:

- The start is made as if the client tapped: the same refusals as a card start (blocked,
  money for the shortest billed session, post busy, a session open at another post, stale
  directory for a member, no tariff), and the client's session already open here is refused
  ("already_open") instead of being ended. Method "dashboard", the actor is the staff member
  who issued the command.
- The session takes the uuid the command carries, so the command, repeated on every poll
  until the central service has applied the answer, never starts two sessions: a session with
  that uuid here means it is done.
- A refusal is answered with a ``command.refused`` event (command id, uuid, reason), in the
  outbox like every event; the central page shows it. A refused command is not tried again by
  this process (a later poll may still carry it until the answer has been applied).
"""

from __future__ import annotations

import logging
from typing import Any

from edge.refusals import Refused, refusal
from sync.agent import Command
from sync.events import Payload

log = logging.getLogger(__name__)


class RemoteStarts:
    """Start sessions on the central service's commands; the engine provides ``store``,
    ``_lock``, ``_event``, ``_start``, ``_signal``, ``_check_post_free`` and
    ``_check_open_elsewhere``."""

    store: Any
    _lock: Any
    _event: Any
    _start: Any
    _signal: Any
    _check_post_free: Any
    _check_open_elsewhere: Any
    _refused_commands: set[int]

    def start_from_command(self, command: Command) -> str:
        """Carry out a ``start_session`` command; "started", "refused" or "done" (answered
        before: nothing to do)."""
        refused = self.__dict__.setdefault("_refused_commands", set())
        with self._lock:
            if command.id in refused or self.store.session(command.session_uuid) is not None:
                return "done"
            if command.client_id is None or command.issued_by is None:
                log.warning("start command %s names no client or staff: not done", command.id)
                return "done"
            actor = str(command.issued_by)
            try:
                client = self.store.client(command.client_id)
                if client is None:
                    raise refusal("unknown")
                if self.store.open_session_of(client.id) is not None:
                    raise Refused("У клиента уже идёт сеанс", "already_open", client.id)
                self._check_open_elsewhere(client)
                self._check_post_free(client)
                self._start(
                    client, None, "dashboard", actor, None, session_uuid=command.session_uuid
                )
            except Refused as error:
                payload: Payload = {
                    "command_id": command.id,
                    "session_uuid": command.session_uuid,
                    "reason": error.code,
                }
                with self.store.atomic():
                    self._event("command.refused", payload, actor)
                refused.add(command.id)
                self._signal("refused", error.code, error.message, None)
                return "refused"
            self._signal("accepted", "started", session_uuid=command.session_uuid)
            return "started"
