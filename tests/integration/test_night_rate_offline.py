"""A night rate end to end over HTTP: the central service gives a stand its own default
tariff with a schedule of rates; the stand, offline, prices a session that crosses into the
cheaper window by the schedule; after sync the central service reprices it to the same kopeck
(the one pricing function, sync.pricing) and flags nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cloud.catalog import pricing
from cloud.ledger.service import post_entry
from cloud.models import Client, Session, Stand, Tariff, TariffVersion
from sync.pricing import price
from sync.schedule import ALL_DAYS, Start, Window
from tests.integration.conftest import (
    Central,
    DirectStand,
    Faults,
    FaultyProxy,
    provision,
    wait_for,
)

MEMBER_CARD = "04A1B2C3D4E5F6"
MOSCOW = ZoneInfo("Europe/Moscow")


def _cheap_window_soon() -> Window:
    """An hour at 8 ₽ a minute starting at the third whole Moscow minute from now."""
    local = datetime.now(UTC).astimezone(MOSCOW)
    start = (local.hour * 60 + local.minute + 3) % 1440
    return Window(ALL_DAYS, start, (start + 60) % 1440 or 1440, 800, 1200)


def test_a_session_ended_offline_across_a_boundary_is_priced_alike_on_both_sides(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    window = _cheap_window_soon()
    night = Tariff.create(name="Ночной")
    TariffVersion.create(
        tariff=night,
        effective_from=datetime.now(UTC) - timedelta(days=1),
        member_per_minute=2000,
        guest_per_minute=3000,
        step_s=30,
        min_charge=5000,
        schedule=(window,),
    )
    proxy = FaultyProxy(central.port, Faults())
    try:
        stand: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 7"))
        pricing.set_stand_default(None, Stand.get_by_id(stand.config.stand_id), night.id)
        stand.sync("the stand's first sync")
        assert stand.store.default_tariff_id() == night.id
        proxy.faults.down = True

        stand.engine.on_uid(MEMBER_CARD)
        [session] = stand.store.open_sessions()
        stand.clock.advance(10 * 60 + 7)
        stand.engine.on_uid(MEMBER_CARD)
        local = stand.store.session(session.uuid)
        assert local is not None and local.cost_kopecks is not None
        rates = TariffVersion.get(TariffVersion.tariff == night).rates()
        start = Start(local.started_at, "Europe/Moscow")
        assert local.cost_kopecks == price(rates, "member", local.duration_s, start=start)
        # It crossed the boundary: cheaper than by day, dearer than all at night.
        assert 11 * 800 < local.cost_kopecks < 11 * 2000

        proxy.faults.down = False
        stand.sync("the ended session to reach the central service")
        ended = wait_for(
            "the central session to end",
            lambda: Session.get_or_none(
                (Session.uuid == session.uuid) & Session.ended_at.is_null(False)
            ),
        )
        assert ended.tariff_version.tariff_id == night.id
        assert ended.cost_kopecks == local.cost_kopecks
        assert ended.repriced_cost_kopecks == local.cost_kopecks
        assert not ended.price_mismatch
        member = Client.get_by_id(world.member.id)
        assert member.balance_kopecks == 100_000 - local.cost_kopecks
    finally:
        proxy.close()
