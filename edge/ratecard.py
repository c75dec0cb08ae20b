"""A tariff's rates as the attendant's screen shows them, with the rate in force now marked:
what a session costs when ("how much is it at night?").

A card is one row per window of the tariff's schedule (``sync.schedule``: its days, from and
to, the member's and the guest's per-minute rate), then the version's own rates: "в остальное
время" (or "в любое время" without a schedule). The row in force at ``now`` is the window
covering its local minute in the stand's ``timezone``, as pricing reads it
(``sync.schedule.window_in_force``), else the version's own. The words go through
``translate`` (the screen's gettext); ``N_`` marks them for the catalogue
(edge/translations/babel.cfg reads this module). Every page that offers a tariff renders
these cards with edge/templates/_rate_cards.html (the tariffs on offer, at the rates of their
versions in force now), and so does a running session's end page, where its card leads (that
session's own rates: the ones it started with, which price it to its end).

    card = rate_card(1, "Стандарт", rates, clock.now(), "Europe/Moscow")
    [(row.when, row.now) for row in card.rows]  # [("ежедневно 22:00–07:00", True), ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.refusals import N_, Translate, untranslated
from edge.store import LocalSession, Store
from sync.pricing import Rates, rates_from_json
from sync.schedule import Start, window_in_force

ANY_TIME = N_("в любое время")
OTHER_TIME = N_("в остальное время")
# sync.schedule.days_text's words, for the catalogue: the labels ask for them by these ids.
SCHEDULE_WORDS = (
    N_("пн"),
    N_("вт"),
    N_("ср"),
    N_("чт"),
    N_("пт"),
    N_("сб"),
    N_("вс"),
    N_("ежедневно"),
)


@dataclass(frozen=True)
class RateRow:
    """One line of a card: when it applies, the per-minute rates in kopecks, and whether it
    is the one in force now."""

    when: str
    member_per_minute: int
    guest_per_minute: int
    now: bool


@dataclass(frozen=True)
class RateCard:
    """A tariff's rates, a row per window and one for the rest of the time."""

    tariff_id: int | None  # None: a running session's rates (its version may be gone)
    name: str
    rows: tuple[RateRow, ...]


def rate_card(
    tariff_id: int | None,
    name: str,
    rates: Rates,
    now: datetime,
    timezone: str,
    translate: Translate = untranslated,
) -> RateCard:
    """The card of ``rates`` at ``now`` in the site's ``timezone`` (see the module's notes)."""
    current = window_in_force(rates.schedule, Start(now, timezone))
    rows = [
        RateRow(w.label(translate), w.member_per_minute, w.guest_per_minute, w == current)
        for w in rates.schedule
    ]
    own = translate(OTHER_TIME if rates.schedule else ANY_TIME)
    rows.append(RateRow(own, rates.member_per_minute, rates.guest_per_minute, current is None))
    return RateCard(tariff_id, name, tuple(rows))


def offered_rate_cards(
    store: Store, now: datetime, timezone: str, translate: Translate = untranslated
) -> list[RateCard]:
    """The card of each tariff a start may take now (``Store.active_tariffs``), at the rates
    of its version in force now: what a session started now would pay."""
    cards = []
    for tariff in store.active_tariffs(now):
        version = store.tariff_version_at(int(tariff.id), now)
        if version is None:  # active_tariffs names only tariffs with a version in force
            continue
        rates = rates_from_json(version.rates)
        cards.append(rate_card(int(tariff.id), str(tariff.name), rates, now, timezone, translate))
    return cards


def session_rate_card(
    store: Store,
    session: LocalSession,
    now: datetime,
    timezone: str,
    translate: Translate = untranslated,
) -> RateCard:
    """The card of a running ``session``: the rates it started with, the row it pays at
    ``now`` marked."""
    name = store.tariff_name_of_version(session.tariff_version_id)
    return rate_card(None, name, session.session_rates(), now, timezone, translate)
