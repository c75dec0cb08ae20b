"""Which tariff a start at this stand takes, and what a session costs here.

- A start names a tariff (the screen), or takes the client's default tariff if it is active
  and has a version in force now, else the stand's default: the one the directory names for
  this stand (the central service sends the stand's own, else its site's, else the oldest
  active tariff). No version in force: refused ("no_tariff").
- A session is priced with ``sync.pricing.price`` at the rates it started with, its schedule
  (night rates, happy hours) read in the stand's ``timezone`` from the session's start, as
  the central service reads it: offline too, the same price on both sides.
"""

from datetime import datetime

from edge.refusals import refusal
from edge.store import AnyClient, DirTariffVersion, LocalSession, Store
from sync.pricing import price
from sync.schedule import Start


def version_to_start(
    store: Store, client: AnyClient, tariff_id: int | None, now: datetime
) -> DirTariffVersion:
    """The tariff version a session of ``client`` starting ``now`` takes (the rules above)."""
    if tariff_id is not None:
        version = store.tariff_version_at(tariff_id, now)
    else:
        # The client's default first; the stand's is read only if that one does not serve.
        version = None
        if client.default_tariff_id:
            version = store.tariff_version_at(client.default_tariff_id, now)
        if version is None and (stand_default := store.default_tariff_id()):
            version = store.tariff_version_at(stand_default, now)
    if version is None:
        raise refusal("no_tariff", client.id)
    return version


def session_start(session: LocalSession, timezone: str) -> Start:
    """Where a schedule of ``session``'s rates is read from."""
    return Start(session.started_at, timezone)


def session_price(session: LocalSession, duration_s: int, timezone: str) -> int:
    """What ``session`` costs after ``duration_s`` seconds (its discount applied)."""
    return price(
        session.session_rates(),
        session.kind(),
        duration_s,
        session.discount(),
        session_start(session, timezone),
    )
