"""The stand health report over a period: how long each stand was offline, how deep its outbox
of unsent events grew, and its sessions whose cost, priced again here, differed from what the
stand charged.

**Offline time.** A stand is online while its latest heartbeat is at most
:data:`~cloud.standsync.heartbeat.ONLINE_WITHIN` old (the stands page's rule). A silence of ``g`` seconds
between two heartbeats therefore makes the stand offline from ``ONLINE_WITHIN`` after the
first until the second. The heartbeat that ends such a silence is always kept in the
heartbeat log with its length (``StandHeartbeatLog.silence_s``); a silence still going on is
read from the stand's latest heartbeat. Offline time is the sum of those stretches clipped to
the period (and to now). A stand that never sent a heartbeat has no figure.

**Outbox peak.** The largest outbox depth any logged heartbeat of the period reported, and the
first time it did.

**Re-priced sessions.** Sessions ended in the period whose ``price_mismatch`` is set: the count
and the sum of ``cost_kopecks - repriced_cost_kopecks`` (what the stand charged more than the
tariff says; negative if less), and the newest of them listed.

**Force-closed sessions.** Sessions of the actor's stands an administrator closed centrally in
the period (cloud/sessions/forceclose.py): who, why, the comment, the central price and, once
the stand reported its own end, the correction the ledger got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import peewee as pw

from cloud.clock import iso_utc
from cloud.models import (
    ForcedClose,
    Session,
    SessionRollup,
    Site,
    Stand,
    StandHeartbeat,
    StandHeartbeatLog,
    User,
)
from cloud.periods import Period
from cloud.permissions import site_scope
from cloud.reports import rollups
from cloud.standsync.heartbeat import ONLINE_WITHIN

REPRICED_LIMIT = 100


@dataclass
class StandRow:
    stand_id: int
    stand_name: str
    site_name: str
    offline_s: int | None  # None: the stand never sent a heartbeat
    outages: int  # offline stretches that touch the period
    outbox_peak: int
    outbox_peak_at: datetime | None
    repriced: int
    repriced_difference_kopecks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "stand_id": self.stand_id,
            "stand_name": self.stand_name,
            "site_name": self.site_name,
            "offline_s": self.offline_s,
            "outages": self.outages,
            "outbox_peak": self.outbox_peak,
            "outbox_peak_at": iso_utc(self.outbox_peak_at),
            "repriced": self.repriced,
            "repriced_difference_kopecks": self.repriced_difference_kopecks,
        }


@dataclass
class StandReport:
    period: Period
    rows: list[StandRow]  # by site and stand name
    repriced_sessions: list[dict[str, Any]]  # newest first, at most REPRICED_LIMIT
    forced_sessions: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "rows": [row.to_dict() for row in self.rows],
            "repriced_sessions": self.repriced_sessions,
            "forced_sessions": self.forced_sessions,
        }


def _clipped(begin: datetime, end: datetime, start: datetime, stop: datetime) -> int:
    """Seconds of [begin, end) within [start, stop)."""
    return max(0, int((min(end, stop) - max(begin, start)).total_seconds()))


def _silences(
    stand_ids: list[int] | None, start: datetime, stop: datetime, edge: datetime | None = None
) -> list[tuple[int, datetime, int]]:
    """(stand, heartbeat time, silence seconds) of the silences that may reach into
    [start, stop): those ended within it (before ``edge`` when given), and each stand's first
    one ended after it."""
    log = StandHeartbeatLog
    inside = log.select(log.stand, log.received_at, log.silence_s).where(
        log.silence_s.is_null(False)
        & (log.received_at >= start)
        & (log.received_at < (stop if edge is None else min(edge, stop)))
    )
    first_after = (
        log.select(log.stand, pw.fn.MIN(log.received_at).alias("at"))
        .where(log.silence_s.is_null(False) & (log.received_at >= stop))
        .group_by(log.stand)
    )
    after = log.select(log.stand, log.received_at, log.silence_s).join(
        first_after,
        on=((log.stand == first_after.c.stand_id) & (log.received_at == first_after.c.at)),
    )
    wanted = None if stand_ids is None else set(stand_ids)
    return [
        (stand_id, log.received_at.python_value(at), int(silence))
        for query in (inside, after)
        for stand_id, at, silence in query.tuples()
        if wanted is None or stand_id in wanted
    ]


def _whole_silences(start: datetime, stop: datetime) -> tuple[datetime, dict[int, tuple[int, int]]]:
    """The silences ended in [start, stop) that began (``ONLINE_WITHIN`` after their last
    heartbeat) at or after ``start``, summed per stand by the database: (edge, {stand:
    (seconds, outages)}). Only those ended before ``edge`` (``start`` plus the longest silence
    of the period, less the grace) may begin before ``start``; ``_silences`` reads those one by
    one and clips them, these need no clipping: each is ``silence_s`` less the grace long."""
    log = StandHeartbeatLog
    grace = int(ONLINE_WITHIN.total_seconds())  # whole seconds (30)
    ended_inside = (
        log.silence_s.is_null(False) & (log.received_at >= start) & (log.received_at < stop)
    )
    longest = log.select(pw.fn.MAX(log.silence_s)).where(ended_inside).scalar()
    if longest is None:
        return stop, {}
    edge = max(start, start + timedelta(seconds=int(longest)) - ONLINE_WITHIN)
    counted = log.silence_s > grace
    seconds = pw.fn.SUM(pw.Case(None, [(counted, log.silence_s - grace)], 0))
    outages = pw.fn.SUM(pw.Case(None, [(counted, 1)], 0))
    query = (
        log.select(log.stand, seconds, outages)
        .where(ended_inside & (log.received_at >= edge))
        .group_by(log.stand)
    )
    return edge, {stand_id: (int(s or 0), int(n or 0)) for stand_id, s, n in query.tuples()}


def _of(query: Any, column: Any, stand_ids: list[int] | None) -> Any:
    """``query`` limited to these stands (None: every stand, no condition to send)."""
    return query if stand_ids is None else query.where(column.in_(stand_ids))


def offline_seconds(
    stand_ids: list[int] | None, start: datetime, stop: datetime
) -> dict[int, tuple[int, int]]:
    """Each stand's (offline seconds, outages) in [start, stop); stands never heard from are
    left out. The silences wholly inside the period are summed by the database
    (``_whole_silences``), the few at its edges clipped here."""
    grace = ONLINE_WITHIN
    latest = dict(
        _of(
            StandHeartbeat.select(StandHeartbeat.stand, StandHeartbeat.received_at),
            StandHeartbeat.stand,
            stand_ids,
        ).tuples()
    )
    found = {stand_id: (0, 0) for stand_id in latest}
    edge, whole = _whole_silences(start, stop)
    for stand_id, (seconds, outages) in whole.items():
        if stand_id in found:
            found[stand_id] = (seconds, outages)
    stretches = [
        (stand_id, at - timedelta(seconds=silence) + grace, at)
        for stand_id, at, silence in _silences(stand_ids, start, stop, edge)
    ]
    for stand_id, beat in latest.items():
        beat = StandHeartbeat.received_at.python_value(beat)
        stretches.append((stand_id, beat + grace, stop))  # a silence going on (empty if not)
    for stand_id, begin, end in stretches:
        seconds = _clipped(begin, end, start, stop)
        if seconds > 0 and stand_id in found:
            total, outages = found[stand_id]
            found[stand_id] = (total + seconds, outages + 1)
    return found


def outbox_peaks(
    stand_ids: list[int] | None, start: datetime, stop: datetime
) -> dict[int, tuple[int, datetime]]:
    """Each stand's largest outbox of the period and when it was first reported: per stand,
    the first entry of the index of non-empty outboxes by stand, outbox (largest first) and
    time that falls in the period (``stand_heartbeat_log_peak``, migration 29). A stand's
    read passes over its entries of a larger outbox outside the period only: a handful, unless
    it once had a long outage with a deeper outbox than any of the period's."""
    log = StandHeartbeatLog.alias("peak")

    def first(column: Any) -> Any:
        return (
            log.select(column)
            .where(
                (log.stand == Stand.id)
                & (log.outbox > 0)
                & (log.received_at >= start)
                & (log.received_at < stop)
            )
            .order_by(log.outbox.desc(), log.received_at)
            .limit(1)
        )

    query = _of(
        Stand.select(Stand.id, first(log.outbox), first(log.received_at)), Stand.id, stand_ids
    )
    return {
        stand_id: (int(peak), log.received_at.python_value(at))
        for stand_id, peak, at in query.tuples()
        if peak is not None
    }


def _repriced(period: Period) -> pw.ModelSelect:
    return Session.select().where(
        (Session.price_mismatch == True)  # noqa: E712 - SQL, and the partial index's condition
        & (Session.ended_at >= period.start)
        & (Session.ended_at < period.end)
    )


def repriced_by_stand(period: Period) -> dict[int, tuple[int, int]]:
    """Each stand's re-priced sessions of the period: (count, cost minus re-priced cost), from
    the rollups when they are cut in the period's zone."""
    if rollups.usable(period.timezone):
        r = SessionRollup
        found = rollups.sums(
            r,
            "c",
            [r.stand_id],
            [r.repriced, r.repriced_difference_kopecks],
            rollups.Span(period.first, period.last),
            None,
        )
        return {stand_id: (n, d) for stand_id, n, d in found}
    return raw_repriced_by_stand(period)


def raw_repriced_by_stand(period: Period) -> dict[int, tuple[int, int]]:
    """``repriced_by_stand`` counted from the sessions."""
    difference = pw.fn.SUM(Session.cost_kopecks - Session.repriced_cost_kopecks)
    query = _repriced(period).select(Session.stand, pw.fn.COUNT(Session.id), difference)
    return {sid: (int(n), int(d or 0)) for sid, n, d in query.group_by(Session.stand).tuples()}


def repriced_sessions(period: Period, stand_ids: list[int] | None) -> list[dict[str, Any]]:
    columns = (
        Session.id,
        Session.stand,
        Session.client,
        Session.ended_at,
        Session.duration_s,
        Session.cost_kopecks,
        Session.repriced_cost_kopecks,
    )
    query = (
        _of(_repriced(period), Session.stand, stand_ids)
        .select(*columns)
        .order_by(Session.ended_at.desc(), Session.id.desc())
        .limit(REPRICED_LIMIT)
    )
    return [
        {
            "session_id": session_id,
            "stand_id": stand_id,
            "client_id": client_id,
            "ended_at": iso_utc(ended_at),
            "duration_s": duration_s,
            "cost_kopecks": cost,
            "repriced_cost_kopecks": repriced,
        }
        for session_id, stand_id, client_id, ended_at, duration_s, cost, repriced in query.tuples()
    ]


def forced_sessions(period: Period, stand_ids: list[int] | None) -> list[dict[str, Any]]:
    """The sessions of these stands force-closed in the period, newest first."""
    query = (
        ForcedClose.select(ForcedClose, Session, User)
        .join(Session, on=(ForcedClose.session == Session.id))
        .switch(ForcedClose)
        .join(User, pw.JOIN.LEFT_OUTER, on=(ForcedClose.closed_by == User.id))
        .where((ForcedClose.closed_at >= period.start) & (ForcedClose.closed_at < period.end))
        .order_by(ForcedClose.closed_at.desc(), ForcedClose.id.desc())
        .limit(REPRICED_LIMIT)
    )
    query = _of(query, Session.stand, stand_ids)
    return [
        {
            "session_id": row.session_id,
            "stand_id": row.session.stand_id,
            "client_id": row.session.client_id,
            "closed_at": iso_utc(row.closed_at),
            "closed_by": row.closed_by.full_name if row.closed_by_id else None,
            "reason": row.reason,
            "comment": row.comment,
            "cost_kopecks": row.cost_kopecks,
            "stand_reported_at": iso_utc(row.stand_reported_at),
            "correction_kopecks": row.correction_kopecks,
        }
        for row in query
    ]


def stand_report(actor: User, period: Period, now: datetime) -> StandReport:
    """Every stand of the actor's sites with its offline time, outbox peak and re-priced
    sessions over ``period`` (up to now)."""
    stands = (
        Stand.select(Stand.id, Stand.name, Site.name)
        .join(Site)
        .order_by(Site.name, Stand.name, Stand.id)
    )
    scope = site_scope(actor)
    if scope is not None:
        stands = stands.where(Stand.site.in_(sorted(scope)))
    stands = list(stands.tuples())
    # Every stand has a site: with no scope these are all the stands, and no list is sent.
    ids = None if scope is None else [stand_id for stand_id, _n, _s in stands] or [0]
    stop = min(period.end, now)
    offline = offline_seconds(ids, period.start, stop)
    peaks = outbox_peaks(ids, period.start, stop)
    repriced = repriced_by_stand(period)
    rows = []
    for stand_id, stand_name, site_name in stands:
        seconds, outages = offline.get(stand_id, (None, 0))
        peak, peak_at = peaks.get(stand_id, (0, None))
        count, difference = repriced.get(stand_id, (0, 0))
        rows.append(
            StandRow(
                stand_id,
                stand_name,
                site_name,
                seconds,
                outages,
                peak,
                peak_at,
                count,
                difference,
            )
        )
    return StandReport(period, rows, repriced_sessions(period, ids), forced_sessions(period, ids))
