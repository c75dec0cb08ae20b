"""What a stand's token is trusted with (the configuration's ceilings and how old an event
may be, ``Limits``) and how much a stand has credited on a day (``credited_on``).

A top-up above ``topup_kopecks``, or one that would take the stand's top-ups of its local day
(the day the top-up reports show it under) above ``stand_day_kopecks``, is stored but held for
review (``held``), not credited. Held and refused top-ups do not count towards the day; a
released one does (it is credited then, under its own time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from cloud.config import CloudConfig
from cloud.models import LedgerEntry, StandEvent


@dataclass(frozen=True)
class Limits:
    """The ceilings of ``CloudConfig`` (0: none) and the oldest an event's time may be
    (``clock.bounded_time``)."""

    topup_kopecks: int = CloudConfig.topup_ceiling_kopecks
    stand_day_kopecks: int = CloudConfig.topup_stand_day_ceiling_kopecks
    max_age_days: int = CloudConfig.event_max_age_days
    # Operators and above are staff of every site's stands (``staff_entries``).
    managers_everywhere: bool = CloudConfig.manager_pins_at_every_site

    @classmethod
    def from_config(cls, config: CloudConfig) -> Limits:
        return cls(
            config.topup_ceiling_kopecks,
            config.topup_stand_day_ceiling_kopecks,
            config.event_max_age_days,
            config.manager_pins_at_every_site,
        )


DEFAULT_LIMITS = Limits()
NO_LIMITS = Limits(0, 0)


def credited_on(stand_id: int, day: tuple[datetime, datetime]) -> int:
    """The top-ups from ``stand_id`` credited with a time in ``day`` (start, end)."""
    since, until = day
    total = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0))
        .join(StandEvent, on=(LedgerEntry.event == StandEvent.id))
        .where(
            (LedgerEntry.kind == "topup")
            & (LedgerEntry.created_at >= since)
            & (LedgerEntry.created_at < until)
            & (StandEvent.stand == stand_id)
        )
        .scalar()
    )
    return int(total or 0)
