"""The ``StandEvent`` row of an event: how every event is stored, whatever its type (the
benchmark, bench/sync_ingest.py, writes the same rows bare to compare)."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _

from cloud.models import Stand
from cloud.standsync.ingest.appliers import APPLIERS
from cloud.standsync.ingest.clock import StandClock, bounded_time, corrected_time
from cloud.standsync.ingest.limits import DEFAULT_LIMITS, Limits
from cloud.standsync.ingest.outcomes import flag_row
from cloud.standsync.ingest.plan import Row
from sync.events import Event

# ``json.dumps(payload, ensure_ascii=False)``, its encoder made once (dumps makes one a call).
_payload_json = json.JSONEncoder(ensure_ascii=False).encode


def event_row(
    stand: Stand,
    event: Event,
    raw: dict[str, Any],
    clock: StandClock,
    limits: Limits = DEFAULT_LIMITS,
) -> Row:
    """The ``StandEvent`` row of an event (``raw`` its JSON as received), tied to no client
    yet; its time corrected and bounded (``clock``), flagged ``time_out_of_bounds`` if that
    replaced it."""
    corrected, source = corrected_time(event, clock)
    at, source, replaced = bounded_time(corrected, source, clock.now, limits.max_age_days)
    subject = APPLIERS[event.type].subject
    row = {
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
        "payload": _payload_json(event.payload),
        "subject_uuid": subject(event.data) if subject is not None else None,
        "client": None,
        "flag": "",
        "flag_note": "",
        "received_at": clock.now,
    }
    if replaced:
        note = _(
            "Время события %(time)s вне допустимого: записано время получения",
            time=row["occurred_at_raw"],
        )
        flag_row(row, "time_out_of_bounds", note)
    return row
