"""The ``StandEvent`` row of an event: how every event is stored, whatever its type (the
benchmark, bench/sync_ingest.py, writes the same rows bare to compare)."""

from __future__ import annotations

import json
from typing import Any

from cloud.models import Stand
from cloud.standsync.ingest.appliers import APPLIERS
from cloud.standsync.ingest.clock import StandClock, corrected_time
from cloud.standsync.ingest.plan import Row
from sync.events import Event


def event_row(stand: Stand, event: Event, raw: dict[str, Any], clock: StandClock) -> Row:
    """The ``StandEvent`` row of an event (``raw`` its JSON as received), not flagged and tied
    to no client yet."""
    at, source = corrected_time(event, clock)
    subject = APPLIERS[event.type].subject
    return {
        "stand": stand.id,
        "seq": event.seq,
        "event_uuid": event.id,
        "type": event.type,
        "occurred_at_raw": str(raw["occurred_at"]),
        "occurred_at": at,
        "time_source": source,
        "boot_id": event.boot_id,
        "mono_ms": event.mono_ms,
        "actor": event.actor,
        "directory_version": event.directory_version,
        "payload": json.dumps(event.payload, ensure_ascii=False),
        "subject_uuid": subject(event.data) if subject is not None else None,
        "client": None,
        "flag": "",
        "flag_note": "",
        "received_at": clock.now,
    }
