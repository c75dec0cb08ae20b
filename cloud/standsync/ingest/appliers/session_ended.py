"""``session.ended``: the stand's charge for a session, centrally.

- The charge is what the stand told the customer (``cost_kopecks``): the stand acknowledged
  it to a person. The session is re-priced here with the shared pricing code; a difference
  is kept in ``Session.repriced_cost_kopecks`` with ``price_mismatch`` set, for a person to
  look at. A free session (cost 0) posts no ledger entry.
- An end for a session that has already ended — e.g. an end resent with a new id and seq
  after an offline period and a reboot (libocpp #907) — charges nothing and changes nothing
  (flag ``session_already_ended``). An end for a session of another stand, or unknown here,
  is refused.
- A comment given with the end is kept on the session and, like ``comment.added``, in the
  client's comment history (``Comment``, with the stand and the staff member).
- Bonus points the stand spent towards the cost are spent from the central balance after the
  postings; what they do not cover is charged in money (flag ``points_short``). Points
  accrue on the money charged when the rules accrue on charges.
- The end of a session of a deleted client ends the session as the stand told it, and
  charges, spends and accrues nothing (flag ``deleted_client``): a deleted client's money
  never changes; Diagnostics lists the session as not charged.
- The end of a session force-closed centrally (cloud/sessions/forceclose.py) reconciles to one
  session (``late_end``): the earlier end wins, the ledger gets at most one correcting entry.
- An end that took a card with a daily limit over that limit on the session's day is applied
  as usual (the stand let it finish) and flagged by ``cloud.clients.corporate`` when the run
  is written (``Session.over_daily_limit``, flag ``over_daily_limit``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from flask_babel import gettext as _

from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.ledger.service import Posting, post_entries
from cloud.loyalty import bonus
from cloud.models import Session, Stand, StandEvent
from cloud.standsync.ingest.appliers import late_end
from cloud.standsync.ingest.context import Applier
from cloud.standsync.ingest.outcomes import Refused, flag_row, with_flag
from cloud.standsync.ingest.plan import Plan, Row
from sync.document import parse_utc
from sync.payloads import SessionEnded
from sync.pricing import NO_DISCOUNT, Kind, price
from sync.schedule import Start

MAX_DURATION_S = 7 * 24 * 3600


def check(p: SessionEnded) -> None:
    """Numbers the schema allows but the database or common sense does not."""
    if p.cost_kopecks > MAX_AMOUNT_KOPECKS:
        raise Refused(
            _("Событие: слишком большая сумма (%(key)s)", key="cost_kopecks"), "bad_event"
        )
    if p.duration_s > MAX_DURATION_S:
        raise Refused(_("Событие: слишком большая длительность сеанса"), "bad_event")


def stand_started_at(run: Plan, session: Session) -> datetime:
    """The start as the stand's clock read it (the time its session.started event was sent
    with): a schedule of rates is read there, as the stand read it, so that a correct stand's
    price is repriced to the kopeck; a stand's wrong clock is the clock report's business.
    The corrected start if the event is not found or its time does not parse."""
    raw = run.start_sent(session.uuid) if session.uuid is not None else None
    corrected: datetime = session.started_at
    try:
        return parse_utc(str(raw)) if raw is not None else corrected
    except ValueError:
        return corrected


def plan(run: Plan, p: SessionEnded, row: Row) -> None:
    session = run.session(p.session_uuid)
    if session is None or session.stand_id != run.stand.id:
        raise Refused(
            _("Сеанс %(uuid)s этого поста неизвестен", uuid=p.session_uuid), "unknown_session"
        )
    row["client"] = session.client_id
    cost = p.cost_kopecks
    if session.force_closed and session.uuid not in run.reconciled:
        late_end.plan_late_end(run, p, row, session)
        return
    if session.ended_at is not None:
        note = _(
            "Сеанс уже завершён (списано %(old)s коп.); повторное завершение на %(new)s коп. "
            "не списано",
            old=session.cost_kopecks,
            new=cost,
        )
        flag_row(row, "session_already_ended", note)
        return
    discount = run.discounts.get(session.client_id, NO_DISCOUNT)
    kind = cast(Kind, session.client_kind)  # the column holds CLIENT_KINDS only
    start = Start(stand_started_at(run, session), run.timezone)
    repriced = price(run.rates(session.tariff_version_id), kind, p.duration_s, discount, start)
    at = row["occurred_at"]
    session.ended_at = at
    session.duration_s = p.duration_s
    session.cost_kopecks = cost
    session.end_method = p.method
    session.ended_by_id = run.staff_id(row["actor"])
    session.repriced_cost_kopecks = repriced
    session.price_mismatch = repriced != cost
    if p.comment:
        session.comment = p.comment
        run.comments.append((p.session_uuid, _end_comment(session, run.stand, at)))
    if session.uuid not in run.new_sessions:
        run.ended.append(session)
        if session.id in run.commanded:
            run.completed.append((session, at))
    if session.price_mismatch:
        note = _(
            "Пост списал %(cost)s коп., по тарифу %(repriced)s коп.",
            cost=cost,
            repriced=repriced,
        )
        flag_row(row, "price_mismatch", note)
    if run.deleted_client(session.client_id, row):
        flag_row(row, "deleted_client", _("Списание %(cost)s коп. не проведено", cost=cost))
        return
    if p.points_spent:  # the charge waits for the points' check (written after the postings)

        def spend(event_id: int, session_id: int | None) -> None:
            assert session_id is not None
            _spend_points(run, p, session, at, event_id, session_id)

        run.defer(session.uuid, spend)
        return
    if cost > 0:
        run.posting(session.uuid, _charge(run, session, cost, at))
        if run.rules.accrual_on == "charge":
            run.accrue(session.client_id, cost, at)


def _charge(run: Plan, session: Session, kopecks: int, at: datetime) -> Posting:
    """The charge of ``kopecks`` in money for the session (without its event's id)."""
    return Posting(
        client_id=session.client_id,
        kind="charge",
        amount_kopecks=-kopecks,
        site_id=run.stand.site_id,
        created_by_id=session.ended_by_id,
        created_at=at,
    )


def _spend_points(
    run: Plan, p: SessionEnded, session: Session, at: datetime, event_id: int, session_id: int
) -> None:
    """A session paid partly with points: the points the central balance covers, the rest
    of the cost in money (flagged ``points_short`` when the stand's points fell short)."""
    spent = bonus.spend_for_session(
        session.client_id,
        run.rules,
        wanted=p.points_spent,
        wanted_kopecks=p.points_kopecks,
        started_at=session.started_at,
        now=at,
        event_id=event_id,
        session_id=session_id,
        site_id=run.stand.site_id,
    )
    money = p.cost_kopecks - spent.kopecks
    if money > 0:
        post_entries(
            [replace(_charge(run, session, money, at), event_id=event_id, session_id=session_id)]
        )
        if run.rules.accrual_on == "charge":
            bonus.accrue(session.client_id, run.rules, money, at=at, event_id=event_id)
    if spent.short_of(p.points_spent):
        note = _(
            "Баллов не хватило: списано %(spent)s из %(wanted)s, остаток %(money)s коп. — деньгами",
            spent=spent.points,
            wanted=p.points_spent,
            money=p.points_kopecks - spent.kopecks,
        )
        row = StandEvent.get_by_id(event_id)
        row.flag, row.flag_note = with_flag(row.flag, row.flag_note, "points_short", note)
        row.save()


def _end_comment(session: Session, stand: Stand, at: datetime) -> dict[str, Any]:
    """The ``Comment`` row (but its session id) of a comment given when a session ended at the
    stand or from the dashboard: the client's comment history shows it with its session."""
    return {
        "client": session.client_id,
        "author": session.ended_by_id,
        "stand": stand.id,
        "text": session.comment,
        "created_at": at,
    }


APPLIER = Applier[SessionEnded](subject=lambda p: p.session_uuid, check=check, plan=plan)
