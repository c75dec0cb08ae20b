"""Force-closing a session no stand can end (issue 20; docs/money-at-the-stand.md, "Sessions no
stand can end").

A session is ended by its stand: the stand prices it and the central service charges what the
stand told the customer. When no stand can end it an administrator (or the owner) ends it
here, with a comment:

1. Who can: ``Capability.FORCE_CLOSE`` (administrators and the owner), through their site scope.
2. Which sessions: open ones whose stand cannot end them (``why_unendable``): the stand is
   revoked, it has been silent (no heartbeat, no sync) for ``force_close_silent_minutes``, or the
   session was never a stand's (no uuid). A session whose stand is alive is refused (409
   ``stand_alive``): "Завершить удалённо" asks that stand to end it.
3. The price: the session's own tariff version and the client's discount at the moment of
   closing, by the shared pricing code (``cloud.sessions.service.running_cost``), the same the
   dashboard shows as the running cost.
4. The money: one ``charge`` entry of that price (none for a free session or a deleted
   client), posted with the end in one transaction; points accrue on it as on a stand's charge.
   The session is flagged ``force_closed``; ``ForcedClose`` keeps who, when, why, the comment and
   the central price; the audit log records it. Closing twice is a 409 (``session_ended``).
5. The stand, if it ever comes back, is asked to end its copy (an ``end_session`` command), and
   its report reconciles to one session (``reconcile_late_end``, called by the session.ended
   applier): the earlier end wins. A stand's end no later than the central one (by duration,
   the stand's monotonic clock) replaces it and the ledger gets one correcting ``charge`` entry
   of the difference; a later one is recorded and charges nothing. Either way never two charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.config import CloudConfig
from cloud.db import db_proxy, is_postgresql
from cloud.errors import Conflict, Forbidden, ValidationFailed
from cloud.ledger.service import post_entry
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.loyalty.settings import effective_rules
from cloud.models import Client, ForcedClose, Session, Stand, StandCommand, StandHeartbeat, User
from cloud.permissions import Capability, role_can
from cloud.sessions.service import elapsed_seconds, get_session, running_cost

REASONS = ("stand_silent", "stand_revoked", "not_from_stand")
END_METHOD = "forced"
MAX_COMMENT = 500


@dataclass(frozen=True)
class ForceRules:
    """What force-closing reads from the configuration."""

    silent_after: timedelta = timedelta(minutes=30)
    points: PointsRules = bonus.OFF

    @classmethod
    def from_config(cls, config: CloudConfig) -> ForceRules:
        """The configuration's, with the points rules as the owner saved them (the ones a
        stand's charge accrues by, so a stand's later end of the session corrects the same
        accrual: cloud/standsync/ingest/appliers/late_end.py)."""
        return cls(timedelta(minutes=config.force_close_silent_minutes), effective_rules(config))


def reason_labels() -> dict[str, str]:
    return {
        "stand_silent": _("пост не на связи"),
        "stand_revoked": _("доступ поста отозван"),
        "not_from_stand": _("сеанс записан не постом"),
    }


def last_contact(stand: Stand) -> datetime | None:
    """When the stand was last heard from: its latest sync request or heartbeat."""
    beat = (
        StandHeartbeat.select(StandHeartbeat.received_at)
        .where(StandHeartbeat.stand == stand.id)
        .scalar()
    )
    moments = [m for m in (stand.last_seen_at, beat) if m is not None]
    return max(moments) if moments else None


def why_unendable(
    session: Session, stand: Stand, now: datetime, silent_after: timedelta
) -> str | None:
    """Why no stand can end ``session`` (one of ``REASONS``), or None: its stand can."""
    if session.uuid is None:
        return "not_from_stand"
    if stand.revoked_at is not None:
        return "stand_revoked"
    seen = last_contact(stand)
    if seen is None or now - seen >= silent_after:
        return "stand_silent"
    return None


def _clean_comment(comment: object) -> str:
    text = comment.strip() if isinstance(comment, str) else ""
    if not text:
        raise ValidationFailed(_("Укажите причину принудительного завершения"), "comment_required")
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            _("Комментарий длиннее %(n)s символов", n=MAX_COMMENT), "comment_too_long"
        )
    return text


def _lock_stand(stand_id: int) -> Stand:
    """The stand's row, locked on PostgreSQL as a stand's batch locks it (ingest/protocol.py),
    so a session.ended being applied and this end never both charge."""
    query = Stand.select().where(Stand.id == stand_id)
    if is_postgresql():
        query = query.for_update()
    return query.get()


def _transaction() -> Any:
    if is_postgresql() or db_proxy.in_transaction():
        return db_proxy.atomic()
    return db_proxy.atomic(lock_type="IMMEDIATE")


def force_close(
    actor: User, session_id: int, comment: object, now: datetime, rules: ForceRules
) -> ForcedClose:
    """End the open session ``session_id`` centrally (module rules); its ``ForcedClose``."""
    if not role_can(actor.role, Capability.FORCE_CLOSE):
        raise Forbidden(_("Принудительно завершать сеансы может администратор или владелец"))
    text = _clean_comment(comment)
    get_session(actor, session_id)  # out of the actor's scope: NotFound before any lock
    with _transaction():
        stand = _lock_stand(Session.get_by_id(session_id).stand_id)
        session = get_session(actor, session_id)  # read again under the lock
        if session.ended_at is not None:
            raise Conflict(_("Сеанс уже завершён"), "session_ended")
        reason = why_unendable(session, stand, now, rules.silent_after)
        if reason is None:
            raise Conflict(
                _(
                    "Пост «%(stand)s» на связи: он сам завершит сеанс — нажмите "
                    "«Завершить удалённо»",
                    stand=stand.name,
                ),
                "stand_alive",
            )
        return _close(actor, session, reason, text, now, rules.points)


def _close(
    actor: User, session: Session, reason: str, text: str, now: datetime, points: PointsRules
) -> ForcedClose:
    ended_at = max(now, session.started_at)
    duration = elapsed_seconds(session, ended_at)
    cost = running_cost(session, ended_at)
    changed = (
        Session.update(
            ended_at=ended_at,
            duration_s=duration,
            cost_kopecks=cost,
            end_method=END_METHOD,
            ended_by=actor.id,
            repriced_cost_kopecks=cost,
            price_mismatch=False,
            force_closed=True,
        )
        .where((Session.id == session.id) & Session.ended_at.is_null())
        .execute()
    )
    if changed != 1:
        raise Conflict(_("Сеанс уже завершён"), "session_ended")
    forced = ForcedClose.create(
        session=session.id,
        closed_by=actor.id,
        closed_at=ended_at,
        reason=reason,
        comment=text,
        duration_s=duration,
        cost_kopecks=cost,
    )
    client = Client.get_by_id(session.client_id)
    if cost > 0 and client.deleted_at is None:
        post_entry(
            client,
            "charge",
            -cost,
            session=session,
            site=session.site_id,
            created_by=actor,
            reason=_("Принудительное завершение: %(comment)s", comment=text)[:300],
            created_at=ended_at,
        )
        if points.accrual_on == "charge":
            bonus.accrue(client.id, points, cost, at=ended_at, event_id=None)
    if session.uuid is not None and reason != "stand_revoked":
        _ask_stand_to_end(actor, session, text)
    audit.record(
        "session.force_closed",
        audit.client_target(client),
        {"session_id": session.id, "ended_at": None},
        {
            "session_id": session.id,
            "ended_at": ended_at,
            "duration_s": duration,
            "cost_kopecks": cost,
            "reason": reason,
            "client_id": session.client_id,
            "stand_id": session.stand_id,
        },
        comment=text,
        actor=actor,
        now=now,
    )
    return forced


def _ask_stand_to_end(actor: User, session: Session, text: str) -> None:
    """An ``end_session`` command, so a stand that comes back ends its own copy at once (and
    its report reconciles); one pending command per session, so one requested before is kept."""
    pending = StandCommand.get_or_none(
        (StandCommand.session == session.id) & StandCommand.done_at.is_null()
    )
    if pending is None:
        StandCommand.create(
            stand=session.stand_id,
            type="end_session",
            session=session.id,
            comment=text[:500],
            issued_by=actor.id,
        )


def forced_of(session_ids: list[int]) -> dict[int, ForcedClose]:
    """The force-closes of these sessions, by session id, with who closed each."""
    if not session_ids:
        return {}
    query = (
        ForcedClose.select(ForcedClose, User)
        .join(User, pw.JOIN.LEFT_OUTER, on=(ForcedClose.closed_by == User.id))
        .where(ForcedClose.session.in_(sorted(set(session_ids))))
    )
    return {row.session_id: row for row in query}


def forced_to_dict(forced: ForcedClose | None) -> dict[str, Any] | None:
    """The API form of a force-close (None: the session was not force-closed)."""
    if forced is None:
        return None
    from cloud.clock import iso_utc

    return {
        "closed_by_id": forced.closed_by_id,
        "closed_at": iso_utc(forced.closed_at),
        "reason": forced.reason,
        "comment": forced.comment,
        "duration_s": forced.duration_s,
        "cost_kopecks": forced.cost_kopecks,
        "stand_reported_at": iso_utc(forced.stand_reported_at),
        "correction_kopecks": forced.correction_kopecks,
    }
