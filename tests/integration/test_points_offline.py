"""Bonus points spent offline at two stands, end to end over HTTP: each stand spends only the
points its directory showed; the central service applies the first spend whole and charges
the second in money for what the points no longer cover; both stands then see the result."""

from __future__ import annotations

from typing import Any

from cloud.ledger.service import post_entry
from cloud.models import Client, LedgerEntry, StandEvent
from tests.integration.conftest import Central, DirectStand, Faults, FaultyProxy, provision

MEMBER_CARD = "04A1B2C3D4E5F6"


def eight_minutes(stand: DirectStand) -> None:
    stand.engine.on_uid(MEMBER_CARD)
    assert len(stand.store.open_sessions()) == 1, stand.feedback.patterns[-1:]
    stand.clock.advance(8 * 60)
    stand.engine.on_uid(MEMBER_CARD)
    assert stand.store.open_sessions() == []
    stand.clock.advance(5)


def test_points_spent_offline_at_two_stands_are_settled_once_and_the_rest_in_money(
    central: Central, world: Any, direct_stand: Any
) -> None:
    # 100 points and no money: each stand may wash on the points it has seen.
    post_entry(world.member, "bonus_adjustment", 0, amount_points=100, reason="Подарок")
    proxy = FaultyProxy(central.port, Faults())
    try:
        first: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 1б"), name="a")
        first.sync("the first stand's first sync")
        second: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 2б"), name="b")
        second.sync("the second stand's first sync")
        proxy.faults.down = True

        for stand in (first, second):
            assert stand.store.points_of(world.member.id) == 100
            eight_minutes(stand)  # 80 ₽: 80 points at each stand
            assert stand.store.points_of(world.member.id) == 20
            assert stand.store.balance_of(world.member.id) == 0
            [entry] = stand.store.tables.LocalLedger.select()
            assert (entry.amount_kopecks, entry.amount_points) == (0, -80)

        proxy.faults.down = False
        for stand in (first, second):
            stand.sync()

        member = Client.get_by_id(world.member.id)
        spends = LedgerEntry.select().where(
            (LedgerEntry.client == member.id) & (LedgerEntry.kind == "bonus_spend")
        )
        assert sorted(e.amount_points for e in spends) == [-80, -20]
        assert member.points_balance == 0
        assert member.balance_kopecks == -6000  # the 60 points the second stand lacked
        flagged = StandEvent.get(StandEvent.flag == "points_short")
        assert flagged.stand_id == second.config.stand_id

        for stand in (first, second):
            assert stand.agent.run_once(force=True)
            assert stand.store.points_of(world.member.id) == 0
            assert stand.store.balance_of(world.member.id) == -6000
    finally:
        proxy.close()
