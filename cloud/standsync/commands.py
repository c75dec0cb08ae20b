"""Commands from the central app to a stand (issue 4, "Commands down"; issue 20).

An operator (or an attendant at their own site) ends a forgotten session remotely: the command
is stored here, travels to the stand in every directory poll (``pending_commands``) and is done
when the stand's ordinary session.ended event for that session is applied
(``complete_for_session``, called by cloud/standsync/ingest/). The stand, not this service, ends the
session: it prices it and charges the balance as for any other end, so nothing is charged twice.

From the client page a session can be started on a chosen stand (``request_start``): the
command carries the client and a session uuid chosen here; the stand starts it as if the
client tapped (the same refusals) under that uuid, so a command repeated before its answer
arrives never starts two. It is done when that session's session.started is applied
(``complete_starts``, outcome "done") or the stand's ``command.refused`` (``refuse``, outcome
"refused" with the reason). One not carried out within ``start_command_minutes`` is no longer
sent and shows as expired: the client has gone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.models import Client, Session, Stand, StandCommand, User
from cloud.permissions import site_scope
from cloud.sessions.service import get_session
from sync.directorypage import StandCommand as DirectoryCommand

END_SESSION = "end_session"
START_SESSION = "start_session"
MAX_COMMENT = 500
DEFAULT_START_WITHIN = timedelta(minutes=5)


def _pending(session_id: int) -> StandCommand | None:
    return StandCommand.get_or_none(
        (StandCommand.session == session_id) & StandCommand.done_at.is_null()
    )


def request_end(actor: User, session_id: int, comment: str = "") -> StandCommand:
    """Ask the session's stand to end it. The session is looked up through the actor's scope
    (out of scope: NotFound); an ended one is a Conflict. While a request is pending, asking
    again returns that request unchanged."""
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ValidationFailed(
            _("Комментарий длиннее %(n)s символов", n=MAX_COMMENT), "comment_too_long"
        )
    session = get_session(actor, session_id)
    if session.ended_at is not None:
        raise Conflict(_("Сессия уже завершена"), "session_ended")
    if session.uuid is None:
        raise Conflict(
            _("Сессия записана не постом: пост не сможет её завершить"), "not_from_stand"
        )
    existing = _pending(session.id)
    if existing is not None:
        return existing
    try:
        with db_proxy.atomic():
            return StandCommand.create(
                stand=session.stand_id,
                type=END_SESSION,
                session=session.id,
                comment=comment,
                issued_by=actor.id,
            )
    except pw.IntegrityError:  # a request racing this one stored the pending command first
        existing = _pending(session.id)
        if existing is None:
            raise
        return existing


def request_start(actor: User, client: Client, stand_id: int, now: datetime) -> StandCommand:
    """Ask stand ``stand_id`` (through the actor's scope) to start a session for ``client``.
    Refused here only what the stand could not know better: a revoked or never enrolled stand
    (409 ``stand_unavailable``), a client with a session open (409 ``session_open``), a start
    already waiting at that stand or for that client (409 ``start_pending``)."""
    stand = Stand.get_or_none(Stand.id == stand_id)
    scope = site_scope(actor)
    if stand is None or (scope is not None and stand.site_id not in scope):
        raise NotFound(_("Пост не найден"), "stand_not_found")
    if stand.revoked_at is not None or stand.enrolled_at is None:
        raise Conflict(_("Пост не подключён: запустить на нём сеанс нельзя"), "stand_unavailable")
    if Session.select().where((Session.client == client.id) & Session.ended_at.is_null()).exists():
        raise Conflict(_("У клиента уже идёт сеанс"), "session_open")
    waiting = (
        (StandCommand.type == START_SESSION)
        & StandCommand.done_at.is_null()
        & ((StandCommand.stand == stand.id) | (StandCommand.client == client.id))
    )
    if StandCommand.select().where(waiting).exists():
        raise Conflict(_("Запуск сеанса уже ждёт ответа поста"), "start_pending")
    return StandCommand.create(
        stand=stand.id,
        type=START_SESSION,
        client=client.id,
        session_uuid=str(uuid.uuid4()),
        issued_by=actor.id,
        created_at=now,
    )


def expire_starts(now: datetime, within: timedelta = DEFAULT_START_WITHIN) -> int:
    """Mark start commands older than ``within`` and not done as expired; how many."""
    return int(
        StandCommand.update(done_at=now, outcome="expired")
        .where(
            (StandCommand.type == START_SESSION)
            & StandCommand.done_at.is_null()
            & (StandCommand.created_at < now - within)
        )
        .execute()
    )


def pending_commands(
    stand: Any, now: datetime | None = None, start_within: timedelta = DEFAULT_START_WITHIN
) -> list[dict[str, Any]]:
    """The stand's commands not yet done, oldest first, in the form of the directory page's
    ``commands`` (sync/directory.py); a start older than ``start_within`` before ``now`` is no
    longer sent."""
    query = (
        StandCommand.select(StandCommand, Session.uuid)
        .join(Session, pw.JOIN.LEFT_OUTER, on=(StandCommand.session == Session.id))
        .where((StandCommand.stand == stand.id) & StandCommand.done_at.is_null())
        .order_by(StandCommand.id)
    )
    answer: list[dict[str, Any]] = []
    for command in query:
        if command.type == START_SESSION:
            if now is not None and command.created_at < now - start_within:
                continue
            answer.append(
                {
                    "id": command.id,
                    "type": command.type,
                    "session_uuid": command.session_uuid,
                    "comment": command.comment,
                    "issued_by": command.issued_by_id,
                    "client_id": command.client_id,
                }
            )
            continue
        answer.append(
            {
                "id": command.id,
                "type": command.type,
                "session_uuid": command.session.uuid,
                "comment": command.comment,
                "issued_by": command.issued_by_id,
            }
        )
    return answer


def directory_commands(stand: Any, now: datetime, start_within: timedelta) -> tuple[Any, ...]:
    """``pending_commands`` as the directory's commands (``sync.directorypage.StandCommand``),
    for the directory page of protocol 1 and the stand's head of protocol 2 alike."""
    return tuple(
        DirectoryCommand(
            id=c["id"],
            type=c["type"],
            session_uuid=c["session_uuid"],
            comment=c["comment"],
            issued_by=c["issued_by"],
            client_id=c.get("client_id"),
        )
        for c in pending_commands(stand, now, start_within)
    )


def complete_starts(stand_id: int, sessions: dict[str, int], at: datetime) -> int:
    """Mark done the stand's start commands whose sessions (uuid -> id) have just been
    stored from its session.started events; how many."""
    if not sessions:
        return 0
    query = StandCommand.select().where(
        (StandCommand.stand == stand_id)
        & (StandCommand.type == START_SESSION)
        & StandCommand.session_uuid.in_(sorted(sessions))
        & (StandCommand.outcome != "done")
    )
    done = 0
    for command in query:
        command.session = sessions[command.session_uuid]
        command.outcome = "done"
        command.reason = ""
        command.done_at = command.done_at or at
        command.save()
        done += 1
    return done


def refuse(stand_id: int, command_id: int, reason: str, at: datetime) -> bool:
    """The stand refused its start command ``command_id`` for ``reason``; False when the stand
    has no such command (or it has started the session after all)."""
    command = StandCommand.get_or_none(
        (StandCommand.id == command_id)
        & (StandCommand.stand == stand_id)
        & (StandCommand.type == START_SESSION)
    )
    if command is None or command.outcome == "done":
        return False
    command.outcome = "refused"
    command.reason = reason
    command.done_at = command.done_at or at
    command.save()
    return True


def start_commands_of(client_id: int, limit: int = 5) -> list[StandCommand]:
    """The client's latest start commands, newest first, with their stands (the client page)."""
    return list(
        StandCommand.select(StandCommand, Stand)
        .join(Stand, on=(StandCommand.stand == Stand.id))
        .where((StandCommand.client == client_id) & (StandCommand.type == START_SESSION))
        .order_by(StandCommand.id.desc())
        .limit(limit)
    )


def pending_session_ids(session_ids: list[int]) -> set[int]:
    """Which of these sessions have an end requested and not yet done (for the dashboard)."""
    if not session_ids:
        return set()
    query = StandCommand.select(StandCommand.session).where(
        StandCommand.session.in_(sorted(set(session_ids)))
        & StandCommand.done_at.is_null()
        & (StandCommand.type == END_SESSION)
    )
    return {row.session_id for row in query}


def complete_for_session(session: Session, at: datetime) -> int:
    """Mark the session's pending commands done: its session.ended has been applied.
    Returns how many there were."""
    return int(
        StandCommand.update(done_at=at, outcome="done")
        .where(
            (StandCommand.session == session.id)
            & StandCommand.done_at.is_null()
            & (StandCommand.type == END_SESSION)
        )
        .execute()
    )


def start_command(actor: User, command_id: int) -> StandCommand:
    """A start command through the actor's scope (its stand's site); NotFound otherwise."""
    command = StandCommand.get_or_none(
        (StandCommand.id == command_id) & (StandCommand.type == START_SESSION)
    )
    scope = site_scope(actor)
    if command is None or (scope is not None and command.stand.site_id not in scope):
        raise NotFound(_("Запуск не найден"), "command_not_found")
    return command
