"""What is wrong now: one probe per alert kind, each returning the findings of this moment.

A finding names its ``subject`` (``stand:3``, ``session:41``, ``held:7``, ``failed``, an
integrity check's code): the incident it belongs to stays open while a later pass finds the
same subject again and closes when a pass no longer finds it (cloud/alerts/incidents.py).

    for finding in find_all(config, now):
        print(finding.kind, finding.subject, finding.label)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _

from cloud.config import CloudConfig
from cloud.fiscal.receipts import LATE_AFTER, status_counts
from cloud.integrity.checks import run_checks
from cloud.models import (
    ALERT_KINDS,
    Client,
    HeldTopup,
    Session,
    Site,
    Stand,
    StandHeartbeat,
)
from sync.money import format_kopecks

MAX_LABEL = 300


@dataclass(frozen=True)
class Finding:
    """Something wrong now: of ``kind``, about ``subject``, told as ``label`` and ``detail``."""

    kind: str
    subject: str
    label: str
    detail: str


def _stand_label(stand: Stand) -> str:
    return _("«%(stand)s» (%(site)s)", stand=stand.name, site=stand.site.name)


def _enrolled_stands() -> list[Stand]:
    """Stands that hold a token: a stand never enrolled or revoked sends no heartbeats."""
    query = (
        Stand.select(Stand, Site)
        .join(Site)
        .where(Stand.token_hash.is_null(False))
        .order_by(Stand.id)
    )
    return list(query)


def _heartbeats(stands: list[Stand]) -> dict[int, StandHeartbeat]:
    ids = [stand.id for stand in stands] or [0]
    return {
        beat.stand_id: beat for beat in StandHeartbeat.select().where(StandHeartbeat.stand.in_(ids))
    }


def stands_offline(config: CloudConfig, now: datetime) -> list[Finding]:
    """Enrolled stands silent for longer than ``alert_stand_offline_minutes`` (a stand that
    never sent a heartbeat counts from its enrolment)."""
    limit = timedelta(minutes=config.alert_stand_offline_minutes)
    stands = _enrolled_stands()
    beats = _heartbeats(stands)
    found = []
    for stand in stands:
        beat = beats.get(stand.id)
        last = beat.received_at if beat is not None else stand.enrolled_at
        if last is None or now - last <= limit:
            continue
        minutes = int((now - last).total_seconds() // 60)
        found.append(
            Finding(
                "stand_offline",
                f"stand:{stand.id}",
                _stand_label(stand),
                _("Пост не выходит на связь %(n)s мин.", n=minutes),
            )
        )
    return found


def stand_alarms(config: CloudConfig, now: datetime) -> list[Finding]:
    """Enrolled stands whose latest heartbeat carries an alarm: what a stand cannot repair by
    itself (events lost in a restore of the central database, a device it runs without)."""
    stands = _enrolled_stands()
    beats = _heartbeats(stands)
    return [
        Finding("stand_alarm", f"stand:{stand.id}", _stand_label(stand), beats[stand.id].alarm)
        for stand in stands
        if stand.id in beats and beats[stand.id].alarm
    ]


def long_sessions(config: CloudConfig, now: datetime) -> list[Finding]:
    """Sessions open longer than ``alert_session_hours``."""
    since = now - timedelta(hours=config.alert_session_hours)
    query = (
        Session.select(Session, Client, Stand, Site)
        .join(Client, on=(Session.client == Client.id))
        .switch(Session)
        .join(Stand, on=(Session.stand == Stand.id))
        .join(Site, on=(Stand.site == Site.id))
        .where(Session.ended_at.is_null() & (Session.started_at < since))
        .order_by(Session.id)
    )
    found = []
    for session in query:
        hours = int((now - session.started_at).total_seconds() // 3600)
        who = session.client.name or _("Гость №%(id)s", id=session.client.id)
        found.append(
            Finding(
                "long_session",
                f"session:{session.id}",
                _("Сессия №%(id)s: %(client)s", id=session.id, client=who),
                _(
                    "Открыта %(hours)s ч. на посту %(stand)s",
                    hours=hours,
                    stand=_stand_label(session.stand),
                ),
            )
        )
    return found


def held_topups(config: CloudConfig, now: datetime) -> list[Finding]:
    """Stands' top-ups held for review and not yet released or rejected."""
    query = (
        HeldTopup.select(HeldTopup, Stand, Site)
        .join(Stand, on=(HeldTopup.stand == Stand.id))
        .join(Site, on=(Stand.site == Site.id))
        .where(HeldTopup.status == "held")
        .order_by(HeldTopup.id)
    )
    return [
        Finding(
            "held_topup",
            f"held:{held.id}",
            _(
                "Пополнение %(amount)s клиента №%(client)s",
                amount=format_kopecks(held.amount_kopecks),
                client=held.client_id,
            ),
            _("Задержано для проверки, пост %(stand)s", stand=_stand_label(held.stand)),
        )
        for held in query
    ]


def receipts(config: CloudConfig, now: datetime) -> list[Finding]:
    """Fiscal receipts the register refused for good, and receipts not registered within
    ``LATE_AFTER`` (the register's service unreachable or silent)."""
    counts = status_counts(now)
    found = []
    if counts["failed"]:
        found.append(
            Finding(
                "receipts",
                "failed",
                _("Чеки с ошибкой"),
                _("Чеков с ошибкой: %(n)s", n=counts["failed"]),
            )
        )
    if counts["late"]:
        hours = int(LATE_AFTER.total_seconds() // 3600)
        found.append(
            Finding(
                "receipts",
                "late",
                _("Чеки не зарегистрированы вовремя"),
                _(
                    "Чеков не зарегистрировано дольше %(n)s ч.: %(count)s",
                    n=hours,
                    count=counts["late"],
                ),
            )
        )
    return found


def integrity(config: CloudConfig, now: datetime) -> list[Finding]:
    """Each integrity check that finds violations (cloud/integrity/checks.py)."""
    found = []
    for result in run_checks(now, limit=5):
        if result.ok:
            continue
        lines = [violation.message for violation in result.violations]
        if result.truncated:
            lines.append("…")
        found.append(Finding("integrity", result.code, result.title, "\n".join(lines)))
    return found


PROBES: dict[str, Callable[[CloudConfig, datetime], list[Finding]]] = {
    "stand_offline": stands_offline,
    "stand_alarm": stand_alarms,
    "long_session": long_sessions,
    "held_topup": held_topups,
    "receipts": receipts,
    "integrity": integrity,
}
assert tuple(PROBES) == ALERT_KINDS


def find_all(config: CloudConfig, now: datetime) -> dict[str, list[Finding]]:
    """Every probe's findings, by kind."""
    return {kind: probe(config, now) for kind, probe in PROBES.items()}


def clip(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["PROBES", "Finding", "clip", "find_all"]
