"""A card's daily limit, computed alike at the stand and centrally.

A card may carry a limit in kopecks per local day (``sync.directory``, ``daily_limit_kopecks``).
A session belongs to the day it started on, in the service's time zone; a card's spend on a day
is the sum of the costs of its sessions that started that day and have ended.

- The limit gates starts: a start with the card is refused once its spend today has reached
  the limit (``limit_reached``). A stand counts its own sessions of the card, so it enforces
  the limit offline; sessions at other stands reach it only through the central service.
- A session running past the limit is allowed to finish and is charged in full: stopping a
  wash half-way helps no one. The central service, which sees every stand's sessions, flags
  each session whose end took the card's spend that day over the limit (``went_over``).

    start, end = local_day(now, "Europe/Moscow")
    limit_reached(spent=150_000, limit=150_000)  # True: the next start is refused
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_day(moment: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The local day ``moment`` falls on in ``timezone``: its start (inclusive) and end
    (exclusive), as aware datetimes (compare them with UTC ones as they are)."""
    zone = ZoneInfo(timezone)
    day = moment.astimezone(zone).date()
    start = datetime.combine(day, time.min, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)
    return start, end


def limit_reached(spent: int, limit: int | None) -> bool:
    """Whether a start must be refused: the card's spend today has reached its limit."""
    return limit is not None and spent >= limit


def went_over(spent: int, limit: int | None) -> bool:
    """Whether the spend on a day, a session's cost included, exceeds the limit."""
    return limit is not None and spent > limit
