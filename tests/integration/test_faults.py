"""Faults between a stand and the central service, each ending with the central ledger equal to
what the stand acknowledged, no session lost or counted twice: an outage for the whole of 200
sessions, a proxy that drops, delays, duplicates and cuts connections mid-reply, a stand clock
years off, and two stands spending one balance while offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud.ledger.service import post_entry
from cloud.models import Client, LedgerEntry, Session, StandEvent
from tests.integration.conftest import (
    Central,
    DirectStand,
    Faults,
    FaultyProxy,
    provision,
)

MEMBER_CARD = "04A1B2C3D4E5F6"


def one_session(stand: DirectStand, seconds: float = 61) -> None:
    """A tap, ``seconds`` of washing, a tap, and a pause past the bounce guard."""
    stand.engine.on_uid(MEMBER_CARD)
    assert len(stand.store.open_sessions()) == 1, stand.feedback.patterns[-1:]
    stand.clock.advance(seconds)
    stand.engine.on_uid(MEMBER_CARD)
    assert stand.store.open_sessions() == []
    stand.clock.advance(5)


def assert_central_matches(stand: DirectStand) -> None:
    """Everything the stand holds is acknowledged, and the central service has each of its
    events, sessions and money movements exactly once."""
    stand_id = stand.config.stand_id
    assert stand.store.tables.Outbox.select().where(~stand.store.tables.Outbox.acked).count() == 0
    outbox = {row.id: row.seq for row in stand.store.tables.Outbox.select()}
    central_events = {
        row.event_uuid: row.seq for row in StandEvent.select().where(StandEvent.stand == stand_id)
    }
    assert central_events == outbox
    local_sessions = {s.uuid: s.cost_kopecks for s in stand.store.tables.LocalSession.select()}
    central_sessions = {
        s.uuid: s.cost_kopecks for s in Session.select().where(Session.stand == stand_id)
    }
    assert central_sessions == local_sessions
    local_money = sorted(
        (e.event_id, e.amount_kopecks) for e in stand.store.tables.LocalLedger.select()
    )
    central_money = sorted(
        (e.event.event_uuid, e.amount_kopecks)
        for e in LedgerEntry.select()
        .join(StandEvent)
        .where(StandEvent.stand == stand_id)
        .switch(LedgerEntry)
    )
    assert central_money == local_money


@pytest.fixture
def rich_member(world: Any) -> Any:
    post_entry(world.member, "topup", 10_000_000, method="cash")
    return world.member


def test_the_central_service_down_for_200_sessions_then_back_applies_each_once(
    central: Central, world: Any, rich_member: Any, direct_stand: Any
) -> None:
    proxy = FaultyProxy(central.port, Faults())
    try:
        stand: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 9"))
        stand.sync("the first sync")
        before = int(Client.get_by_id(rich_member.id).balance_kopecks)
        proxy.faults.down = True

        for number in range(200):
            one_session(stand)
            if number % 20 == 0:
                assert stand.agent.run_once(force=True) is False
        assert stand.store.outbox_size() == 400
        assert stand.agent.status.failures == 10

        proxy.faults.down = False
        stand.sync("the outbox to drain after the outage")

        assert_central_matches(stand)
        assert Session.select().where(Session.ended_at.is_null(False)).count() == 200
        spent = sum(s.cost_kopecks for s in stand.store.tables.LocalSession.select())
        assert int(Client.get_by_id(rich_member.id).balance_kopecks) == before - spent
        assert stand.agent.run_once(force=True)
        assert stand.store.balance_of(rich_member.id) == before - spent
    finally:
        proxy.close()


def test_a_proxy_that_drops_delays_duplicates_and_cuts_replies_loses_and_doubles_nothing(
    central: Central, world: Any, rich_member: Any, direct_stand: Any
) -> None:
    faults = Faults(drop=0.1, lose_reply=0.15, cut=0.15, duplicate=0.15, delay=0.1)
    faults.max_delay_s = 0.3
    proxy = FaultyProxy(central.port, Faults())
    try:
        stand: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 9"))
        stand.agent.batch_size = 5
        stand.sync("the first sync")
        before = int(Client.get_by_id(rich_member.id).balance_kopecks)
        proxy.faults = faults

        for _ in range(40):
            one_session(stand)
            stand.engine.record_topup(rich_member.id, 1_000, "card", world.users["attendant"].id)
            stand.agent.run_once(force=True)
        stand.sync("the outbox to drain through the faults", timeout=20)
        proxy.faults = Faults()
        assert stand.agent.run_once(force=True)

        for fault in ("drop", "lose_reply", "cut", "duplicate", "delay"):
            assert proxy.counts.get(fault, 0) > 0, proxy.counts
        assert_central_matches(stand)
        moved = sum(e.amount_kopecks for e in stand.store.tables.LocalLedger.select())
        assert int(Client.get_by_id(rich_member.id).balance_kopecks) == before + moved
        assert stand.store.balance_of(rich_member.id) == before + moved
    finally:
        proxy.close()


@pytest.mark.parametrize("years", [-4, 5])
def test_a_stand_clock_years_off_is_corrected_centrally(
    years: int, central: Central, world: Any, rich_member: Any, direct_stand: Any
) -> None:
    offset = timedelta(days=365 * years)
    stand: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 9"), offset)
    stand.sync("the first sync")

    one_session(stand, seconds=120)
    stand.sync()

    assert_central_matches(stand)
    [session] = Session.select().where(Session.stand == stand.config.stand_id)
    now = datetime.now(UTC)
    # The stand wound its clock 120 s on after the start (its wall and monotonic clocks both).
    assert abs(session.started_at - now) < timedelta(minutes=3)
    assert abs(session.ended_at - session.started_at - timedelta(seconds=120)) < timedelta(
        seconds=2
    )
    started = StandEvent.get(StandEvent.type == "session.started")
    assert started.occurred_at_raw.startswith(str(now.year + years))
    assert abs(started.occurred_at - now) < timedelta(minutes=3)


def test_two_stands_spending_one_balance_offline_are_both_charged(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 10_000, method="cash")  # 100 ₽
    proxy = FaultyProxy(central.port, Faults())
    try:
        first: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 1а"), name="a")
        first.sync("the first stand's first sync")
        second: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 2а"), name="b")
        second.sync("the second stand's first sync")
        proxy.faults.down = True

        for stand in (first, second):
            assert stand.store.balance_of(world.member.id) == 10_000
            one_session(stand, seconds=8 * 60)  # 80 ₽ each: both allowed, 100 ₽ seen by each
            assert stand.store.balance_of(world.member.id) == 2_000

        proxy.faults.down = False
        for stand in (first, second):
            stand.sync()

        for stand in (first, second):
            assert_central_matches(stand)
        assert int(Client.get_by_id(world.member.id).balance_kopecks) == 10_000 - 16_000
        charges = LedgerEntry.select().where(
            (LedgerEntry.client == world.member.id) & (LedgerEntry.kind == "charge")
        )
        assert sorted(c.amount_kopecks for c in charges) == [-8_000, -8_000]
        assert first.agent.run_once(force=True)
        assert first.store.balance_of(world.member.id) == -6_000
    finally:
        proxy.close()
