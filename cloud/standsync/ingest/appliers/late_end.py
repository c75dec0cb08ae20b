"""A stand's ``session.ended`` for a session force-closed centrally (cloud/sessions/forceclose.py):
one session, never two charges (docs/money-at-the-stand.md, "Sessions no stand can end").

1. The earlier end wins, compared by duration (the stand's monotonic clock against the central
   duration at the force-close), so no clock skew decides it.
2. The stand's end no longer than the central one (it ended offline before the administrator
   closed it) replaces it: the session takes the stand's end, duration, cost and method, stays
   flagged ``force_closed``, and the ledger gets ONE correcting ``charge`` entry of the
   difference (the stand's money charge minus the central charge; positive entries give back
   an overcharge), linked to the stand's event (flag ``force_close_replaced``). The entry owes
   its receipt like any charge (cloud/fiscal/outbox.py: under the scheme "advance" a
   settlement, or for a positive one its reversal, sell_refund by the prepayment). When points
   accrue on charges, a negative entry accrues on the extra and a positive one takes back what
   the central charge earned on the part given back (``bonus.take_back``, never below zero).
3. A longer one (the stand came back with the session still open and ended it then, e.g. on the
   ``end_session`` command the force-close left) is recorded and charges nothing: the
   administrator's end stands (flag ``force_close_kept``).
4. Either way ``ForcedClose`` keeps the stand's event, when it came and the correction, and the
   session's pending end command is done, and the client moves in the directory (the stand's
   own charge of the session is settled by its next poll). Any further end of the session (a resend after a
   reboot, libocpp #907) is the ordinary ``session_already_ended``: nothing charged.
"""

from __future__ import annotations

from typing import cast

from flask_babel import gettext as _

from cloud.changes import CLIENT, record_change
from cloud.ledger.service import Posting, post_entries
from cloud.loyalty import bonus
from cloud.models import ForcedClose, Session
from cloud.standsync.ingest.outcomes import flag_row
from cloud.standsync.ingest.plan import Plan, Row
from sync.payloads import SessionEnded
from sync.pricing import NO_DISCOUNT, Kind, price


def plan_late_end(run: Plan, p: SessionEnded, row: Row, session: Session) -> None:
    """Plan the stand's end of the force-closed ``session`` (module rules)."""
    assert session.uuid is not None  # found by it
    run.reconciled.add(session.uuid)
    forced = ForcedClose.get_or_none(ForcedClose.session == session.id)
    if forced is None or forced.stand_reported_at is not None:
        note = _(
            "Сеанс уже завершён (списано %(old)s коп.); повторное завершение на %(new)s коп. "
            "не списано",
            old=session.cost_kopecks,
            new=p.cost_kopecks,
        )
        flag_row(row, "session_already_ended", note)
        return
    at = row["occurred_at"]
    run.completed.append((session, at))
    if p.duration_s > forced.duration_s:
        note = _(
            "Сеанс завершён принудительно в центре (%(central)s с, %(cost)s коп.); пост завершил "
            "его позже (%(stand)s с, %(stand_cost)s коп.): не списано",
            central=forced.duration_s,
            cost=forced.cost_kopecks,
            stand=p.duration_s,
            stand_cost=p.cost_kopecks,
        )
        flag_row(row, "force_close_kept", note)
        run.defer(
            session.uuid,
            lambda event_id, _sid: _record(forced.id, event_id, at, 0, session.client_id),
        )
        return
    _replace(run, p, row, session)
    note = _(
        "Сеанс был завершён принудительно в центре (%(cost)s коп.); пост завершил его раньше: "
        "списание исправлено на %(stand_cost)s коп.",
        cost=forced.cost_kopecks,
        stand_cost=p.cost_kopecks,
    )
    flag_row(row, "force_close_replaced", note)
    if run.deleted_client(session.client_id, row):
        run.defer(
            session.uuid,
            lambda event_id, _sid: _record(forced.id, event_id, at, 0, session.client_id),
        )
        return

    def settle(event_id: int, session_id: int | None) -> None:
        assert session_id is not None
        money = p.cost_kopecks
        if p.points_spent:
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
            money -= spent.kopecks
        correction = money - forced.cost_kopecks
        if correction:
            reason = _("Исправление принудительного завершения по данным поста")
            post_entries(
                [
                    Posting(
                        client_id=session.client_id,
                        kind="charge",
                        amount_kopecks=-correction,
                        session_id=session_id,
                        site_id=run.stand.site_id,
                        created_by_id=session.ended_by_id,
                        reason=reason,
                        event_id=event_id,
                        created_at=at,
                    )
                ]
            )
            if run.rules.accrual_on == "charge" and correction > 0:
                bonus.accrue(session.client_id, run.rules, correction, at=at, event_id=event_id)
            if run.rules.accrual_on == "charge" and correction < 0:
                bonus.take_back(
                    session.client_id,
                    run.rules,
                    charged=forced.cost_kopecks,
                    kept=money,
                    at=at,
                    event_id=event_id,
                    session_id=session_id,
                    reason=reason,
                )
        _record(forced.id, event_id, at, correction, session.client_id)

    run.defer(session.uuid, settle)


def _replace(run: Plan, p: SessionEnded, row: Row, session: Session) -> None:
    """The stand's end in place of the central one (written with the run's ended sessions)."""
    version = run.versions[session.tariff_version_id]
    discount = run.discounts.get(session.client_id, NO_DISCOUNT)
    kind = cast(Kind, session.client_kind)
    repriced = price(version.rates(), kind, p.duration_s, discount)
    session.ended_at = row["occurred_at"]
    session.duration_s = p.duration_s
    session.cost_kopecks = p.cost_kopecks
    session.end_method = p.method
    session.ended_by_id = run.staff_id(row["actor"])
    session.repriced_cost_kopecks = repriced
    session.price_mismatch = repriced != p.cost_kopecks
    if p.comment:
        session.comment = p.comment
    run.ended.append(session)


def _record(forced_id: int, event_id: int, at: object, correction: int, client_id: int) -> None:
    """Keep the stand's report on the force-close; the client moves in the directory, so the
    stand's next poll brings the central balance and settles the stand's own charge of the
    session (which the central service did not post: edge/store, settled entries)."""
    record_change(CLIENT, [client_id])
    ForcedClose.update(
        stand_event=event_id, stand_reported_at=at, correction_kopecks=correction
    ).where(ForcedClose.id == forced_id).execute()
