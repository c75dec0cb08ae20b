"""Clock correction (DESIGN.md, Time): an event's ``occurred_at`` on the server's clock.

An event of the current boot with a sane clock (year ≥ 2020) gets the skew measured at this
request added; of the boot measured at the previous request, the skew measured then; a sane
time from an older boot is kept as sent. A time from before the clock was set (e.g. 1970,
SteVe #136) is corrected from the monotonic clock when the event is of the current boot:
``server now − (current mono_ms − event mono_ms)``; otherwise the time of receipt stands in
(``time_source`` ``received``).

Then the corrected time is bounded (``bounded_time``): one older than ``max_age_days`` before
its receipt or more than ``MAX_AHEAD`` after it (a stand clock years ahead, an event dated
9999-12-31) is replaced by the time of receipt (``received``) and the event flagged
``time_out_of_bounds``; the time as sent stays in ``occurred_at_raw``. A stand's wrong clock
can thus neither rewrite closed months nor put a date on a page that no page can show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from sync.events import Event

SANE_YEAR = 2020
MAX_AHEAD = timedelta(minutes=5)


@dataclass(frozen=True)
class StandClock:
    """The stand's clocks as one request reported them, and what was known before it."""

    now: datetime  # server time of the request
    stand_time: datetime  # X-Stand-Clock
    boot_id: str | None = None  # X-Stand-Boot
    mono_ms: int | None = None  # X-Stand-Mono-Ms
    previous_boot_id: str | None = None  # the boot measured at the stand's previous request
    previous_skew_ms: int | None = None

    @cached_property
    def skew(self) -> timedelta:
        return self.now - self.stand_time

    @cached_property
    def sane(self) -> bool:
        return self.stand_time.year >= SANE_YEAR


def corrected_time(event: Event, clock: StandClock) -> tuple[datetime, str]:
    """The event's time on the server's clock and how it was found (module docstring)."""
    try:
        if event.occurred_at.year >= SANE_YEAR:
            raw = event.occurred_at.astimezone(clock.now.tzinfo)
            if clock.sane and clock.boot_id in (None, event.boot_id):
                return raw + clock.skew, "clock"
            if event.boot_id == clock.previous_boot_id and clock.previous_skew_ms is not None:
                return raw + timedelta(milliseconds=clock.previous_skew_ms), "clock"
            return raw, "raw"
        if (
            event.boot_id == clock.boot_id
            and clock.mono_ms is not None
            and event.mono_ms <= clock.mono_ms
        ):
            return clock.now - timedelta(milliseconds=clock.mono_ms - event.mono_ms), "mono"
    except OverflowError:  # a clock centuries off: the time of receipt is the best there is
        return clock.now, "received"
    return clock.now, "received"


def bounded_time(
    at: datetime, source: str, now: datetime, max_age_days: int
) -> tuple[datetime, str, bool]:
    """``at`` (found by ``source``) if within [``now`` − ``max_age_days``, ``now`` +
    ``MAX_AHEAD``], else ``now``, ``received``; the last item says whether it was replaced."""
    if now - timedelta(days=max_age_days) <= at <= now + MAX_AHEAD:
        return at, source, False
    return now, "received", True
