"""A stand's top-up held for review, written directly as ingest writes it
(cloud/standsync/ingest/held.py): its event and the held row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloud.models import HeldTopup, StandEvent


def add_held_topup(world: Any, at: datetime, amount_kopecks: int = 7_000_000) -> HeldTopup:
    """A ``topup.recorded`` of the world's member at stand A, held over the ceiling."""
    seq = StandEvent.select().where(StandEvent.stand == world.stand_a.id).count() + 1
    event = StandEvent.create(
        stand=world.stand_a,
        seq=seq,
        event_uuid=f"00000000-0000-4000-8000-{seq:012d}",
        type="topup.recorded",
        occurred_at_raw=at.isoformat(),
        occurred_at=at,
        time_source="clock",
        boot_id="00000000-0000-4000-8000-000000000000",
        mono_ms=1,
        actor="card",
        directory_version=1,
        payload="{}",
    )
    return HeldTopup.create(
        event=event,
        client=world.member,
        stand=world.stand_a,
        site=world.site_a,
        amount_kopecks=amount_kopecks,
        method="cash",
        occurred_at=at,
        reason="topup",
    )
