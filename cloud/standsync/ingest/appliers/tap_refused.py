"""``tap.refused``: stored only; the refusals are read from the events table (reports)."""

from __future__ import annotations

from cloud.standsync.ingest.context import Applier
from cloud.standsync.ingest.plan import Plan, Row
from sync.payloads import TapRefused


def plan(run: Plan, p: TapRefused, row: Row) -> None:
    """Nothing beyond the event's row."""


APPLIER = Applier[TapRefused](plan=plan)
