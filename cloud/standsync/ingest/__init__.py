"""Applying a stand's batch of events (DESIGN.md, sync protocol): exactly-once effect from
at-least-once delivery.

- ``protocol``: a batch in one transaction, in ``seq`` order; duplicates, gaps, conflicts
  and refusals (``apply_batch``, ``last_seq``);
- ``clock``: each event's time corrected for the stand's clock (``StandClock``);
- ``rows``: the ``StandEvent`` row every event is stored as (``event_row``);
- ``appliers``: what each event type does centrally, one module per type in one table
  (``APPLIERS``): ``appliers/session_ended.py`` is all a ``session.ended`` does here;
- ``plan`` and ``run``: sessions, top-ups and refused taps planned in memory and written
  together; ``context``: what the other kinds are applied with;
- ``lookups`` (the staff member and client an event names) and ``outcomes`` (refused,
  flagged);
- ``limits``: what a stand's token is trusted with (top-up ceilings); ``held``: top-ups over
  a ceiling, kept for an administrator to release or reject.
"""

from cloud.standsync.ingest.clock import SANE_YEAR, StandClock, corrected_time
from cloud.standsync.ingest.limits import NO_LIMITS, Limits
from cloud.standsync.ingest.lookups import client_by_uuid
from cloud.standsync.ingest.outcomes import Refusal, Refused
from cloud.standsync.ingest.protocol import MAX_BATCH, BatchResult, apply_batch, last_seq
from cloud.standsync.ingest.rows import event_row

__all__ = [
    "MAX_BATCH",
    "NO_LIMITS",
    "SANE_YEAR",
    "BatchResult",
    "Limits",
    "Refusal",
    "Refused",
    "StandClock",
    "apply_batch",
    "client_by_uuid",
    "corrected_time",
    "event_row",
    "last_seq",
]
