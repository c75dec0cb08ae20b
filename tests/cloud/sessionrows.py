"""Session rows for tests, written directly as sync will write them from the stands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cloud.db import utcnow
from cloud.models import Session


def add_session(
    client: Any,
    stand: Any,
    tariff_version: Any,
    *,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    cost_kopecks: int | None = None,
    start_method: str = "card",
) -> Session:
    """An open session (no ``ended_at``) or an ended one with its duration and stored cost."""
    started_at = started_at or utcnow() - timedelta(minutes=5)
    ended = ended_at is not None
    return Session.create(
        client=client,
        stand=stand,
        site=stand.site,
        tariff_version=tariff_version,
        client_kind=client.kind,
        started_at=started_at,
        ended_at=ended_at,
        duration_s=int((ended_at - started_at).total_seconds()) if ended_at else None,
        cost_kopecks=(cost_kopecks if cost_kopecks is not None else 0) if ended else None,
        start_method=start_method,
        end_method="card" if ended else None,
    )
