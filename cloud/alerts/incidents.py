"""Incidents: what the probes find, kept once per kind and subject from the pass that first
finds it until the pass that no longer does (cloud/alerts/probes.py).

Two passes at once (two timers, two hosts on one PostgreSQL) open one incident: the insert
goes through a unique index over the open incidents and does nothing when the row is there
already; closing is one conditional UPDATE. So each incident gets one opening mail and one
recovery mail (cloud/alerts/messages.py), whoever runs.

    opened, closed = update_incidents(find_all(config, now), now)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud.alerts.probes import Finding, clip
from cloud.db import db_proxy
from cloud.models import AlertIncident

RECENT = timedelta(days=7)  # closed incidents the Alerts page still lists


@dataclass(frozen=True)
class Changes:
    opened: int
    closed: int


def _open_subjects(kind: str) -> dict[str, int]:
    query = AlertIncident.select(AlertIncident.id, AlertIncident.subject).where(
        (AlertIncident.kind == kind) & AlertIncident.closed_at.is_null()
    )
    return {row.subject: row.id for row in query}


def _open(finding: Finding, now: datetime) -> bool:
    """Insert the incident unless one is open for its kind and subject; True if this did."""
    inserted = (
        AlertIncident.insert(
            kind=finding.kind,
            subject=finding.subject[:100],
            label=clip(finding.label),
            detail=clip(finding.detail, 2000),
            opened_at=now,
            open_mail="pending",
        )
        .on_conflict_ignore()
        .as_rowcount()
        .execute()
    )
    return bool(inserted)


def _close(incident_id: int, now: datetime) -> bool:
    """Close the incident unless closed already; its recovery mail waits for a sender only if
    its opening mail may have reached someone."""
    with db_proxy.atomic():
        closed = (
            AlertIncident.update(closed_at=now, close_mail="pending")
            .where((AlertIncident.id == incident_id) & AlertIncident.closed_at.is_null())
            .execute()
        )
        if closed:
            AlertIncident.update(close_mail="none").where(
                (AlertIncident.id == incident_id) & (AlertIncident.open_mail == "none")
            ).execute()
    return bool(closed)


def update_incidents(findings: Mapping[str, Sequence[Finding]], now: datetime) -> Changes:
    """Open an incident for each finding without one, and close the open incidents of each
    probed kind that nothing found this time. Kinds absent from ``findings`` are left alone."""
    opened = closed = 0
    for kind, found in findings.items():
        current = _open_subjects(kind)
        seen = set()
        for finding in found:
            seen.add(finding.subject[:100])
            if finding.subject[:100] not in current and _open(finding, now):
                opened += 1
        for subject, incident_id in current.items():
            if subject not in seen and _close(incident_id, now):
                closed += 1
    return Changes(opened, closed)


def open_incidents() -> list[AlertIncident]:
    query = AlertIncident.select().where(AlertIncident.closed_at.is_null())
    return list(query.order_by(AlertIncident.opened_at.desc(), AlertIncident.id.desc()))


def recent_incidents(now: datetime, limit: int = 200) -> list[AlertIncident]:
    """Incidents closed within ``RECENT``, latest first."""
    query = AlertIncident.select().where(AlertIncident.closed_at >= now - RECENT)
    return list(query.order_by(AlertIncident.closed_at.desc()).limit(limit))
