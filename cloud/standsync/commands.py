"""Commands from the central app to a stand (issue 4, "Commands down").

An operator (or an attendant at their own site) ends a forgotten session remotely: the command
is stored here, travels to the stand in every directory poll (``pending_commands``) and is done
when the stand's ordinary session.ended event for that session is applied
(``complete_for_session``, called by cloud/standsync/ingest/). The stand, not this service, ends the
session: it prices it and charges the balance as for any other end, so nothing is charged twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.db import db_proxy
from cloud.errors import Conflict, ValidationFailed
from cloud.models import Session, StandCommand, User
from cloud.sessions.service import get_session

END_SESSION = "end_session"
MAX_COMMENT = 500


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


def pending_commands(stand: Any) -> list[dict[str, Any]]:
    """The stand's commands not yet done, oldest first, in the form of the directory page's
    ``commands`` (sync/directory.py)."""
    query = (
        StandCommand.select(StandCommand, Session.uuid)
        .join(Session, on=(StandCommand.session == Session.id))
        .where((StandCommand.stand == stand.id) & StandCommand.done_at.is_null())
        .order_by(StandCommand.id)
    )
    return [
        {
            "id": command.id,
            "type": command.type,
            "session_uuid": command.session.uuid,
            "comment": command.comment,
            "issued_by": command.issued_by_id,
        }
        for command in query
    ]


def pending_session_ids(session_ids: list[int]) -> set[int]:
    """Which of these sessions have an end requested and not yet done (for the dashboard)."""
    if not session_ids:
        return set()
    query = StandCommand.select(StandCommand.session).where(
        StandCommand.session.in_(sorted(set(session_ids))) & StandCommand.done_at.is_null()
    )
    return {row.session_id for row in query}


def complete_for_session(session: Session, at: datetime) -> int:
    """Mark the session's pending commands done: its session.ended has been applied.
    Returns how many there were."""
    return int(
        StandCommand.update(done_at=at)
        .where((StandCommand.session == session.id) & StandCommand.done_at.is_null())
        .execute()
    )
