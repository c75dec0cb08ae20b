"""``comment.added``: a staff member's comment joins the client's comment history (with the
stand and the author), on the session it names when that is the client's session (else on
the client, flag ``unknown_session``). A comment whose uuid was already applied (resent under
a new id) has no second effect (flag ``duplicate_comment``), nor does one on a deleted client
(flag ``deleted_client``)."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Comment, Session, StandEvent
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import CommentAdded


def _already_applied(a: Applying) -> bool:
    """Whether an earlier event of this type carried the same subject uuid."""
    return bool(
        StandEvent.select()
        .where(
            (StandEvent.type == a.event.type)
            & (StandEvent.subject_uuid == a.row.subject_uuid)
            & (StandEvent.id != a.row.id)
        )
        .exists()
    )


def apply(a: Applying, p: CommentAdded) -> None:
    client = a.live_client(p)
    if client is None:
        return
    if _already_applied(a):
        a.flag("duplicate_comment", _("Этот комментарий уже сохранён"))
        return
    session = None
    if p.session_uuid is not None:
        session = Session.get_or_none(Session.uuid == p.session_uuid)
        if session is None or session.client_id != client.id:
            a.flag("unknown_session", _("Сеанс комментария не найден: комментарий к клиенту"))
            session = None
    Comment.create(
        client=client,
        session=session,
        author=a.staff,
        stand=a.stand,
        text=p.text,
        created_at=a.at,
    )


APPLIER = Applier[CommentAdded](subject=lambda p: p.comment_uuid, apply=apply)
