"""Comments on a client and on a session."""

from __future__ import annotations

import peewee as pw
from flask_babel import gettext as _

from cloud.errors import ValidationFailed
from cloud.models import (
    Client,
    Comment,
    Session,
    Site,
    Stand,
    User,
)
from sync.lengths import MAX_COMMENT

# --- comments --------------------------------------------------------------------------------


def add_comment(
    actor: User | None, client: Client, text: str, session: Session | None = None
) -> Comment:
    """A staff member's note on the client (and optionally one of their sessions)."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Напишите комментарий"), "comment_required")
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            _("Комментарий — не длиннее %(n)s символов", n=MAX_COMMENT), "comment_too_long"
        )
    if session is not None and session.client_id != client.id:
        raise ValidationFailed(_("Сессия другого клиента"), "bad_session")
    return Comment.create(client=client, session=session, author=actor, text=text)


def _comments() -> pw.ModelSelect:
    """Comments with their author, session, and the stand (and its site) they were written at,
    read in the same query: ``comment.author``, ``.session``, ``.stand.site`` cost nothing."""
    return (
        Comment.select(Comment, User, Session, Stand, Site)
        .join_from(Comment, User, pw.JOIN.LEFT_OUTER, on=(Comment.author == User.id))
        .join_from(Comment, Session, pw.JOIN.LEFT_OUTER, on=(Comment.session == Session.id))
        .join_from(Comment, Stand, pw.JOIN.LEFT_OUTER, on=(Comment.stand == Stand.id))
        .join_from(Stand, Site, pw.JOIN.LEFT_OUTER, on=(Stand.site == Site.id))
        .order_by(Comment.created_at, Comment.id)
    )


def comments_of(client: Client) -> list[Comment]:
    """The client's comment history, oldest first: notes written here and at the stands, and
    the comments given when a session ended (each with its session)."""
    return list(_comments().where(Comment.client == client.id))


def comments_on(session: Session) -> list[Comment]:
    """The comments on one session, oldest first."""
    return list(_comments().where(Comment.session == session.id))
