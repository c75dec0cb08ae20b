"""The report rollups stay exact: after random ingests (late events, prices other than the
tariff's, top-ups held and released), central top-ups, refunds and adjustments, and writes
behind the services' back (a session's end corrected or forced centrally, a ledger entry moved
or deleted, a staff member gone), every report read from the rollups equals the same report
counted from the sessions and ledger entries, for every grouping and for periods of a day, a
few days across a month's end, whole months with days around them, and a year; in a zone with
summer time too. The triggers' rollups also equal the rollups counted afresh."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cloud import rolluptriggers
from cloud.config import CloudConfig
from cloud.db import db_proxy
from cloud.ledger.service import post_entry, record_topup
from cloud.models import (
    LEDGER_METHODS,
    Client,
    LedgerEntry,
    Session,
    SessionRollup,
    Stand,
    TopupRollup,
)
from cloud.periods import GROUPINGS, Period
from cloud.reports import rollups, stands, topups
from cloud.reports.sessions import raw_sums, rollup_sums
from cloud.standsync.ingest import StandClock, apply_batch
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream

START = datetime(2024, 2, 20, 6, 0, tzinfo=UTC)  # Berlin's summer time begins on 31 March


def periods(zone: str) -> list[Period]:
    spans = [
        (date(2024, 3, 31), date(2024, 3, 31)),  # the day the clocks change
        (date(2024, 2, 27), date(2024, 3, 3)),  # across a month's end
        (date(2024, 2, 25), date(2024, 5, 2)),  # whole months and the days around them
        (date(2024, 3, 1), date(2024, 4, 30)),  # whole months only
        (date(2024, 1, 1), date(2024, 12, 31)),  # the year
    ]
    return [Period(first, last, zone) for first, last in spans]


def push(world: World, stand: Stand, stream: Stream, events: list[dict[str, Any]]) -> None:
    now = stream.clock + timedelta(minutes=1)
    clock = StandClock(now=now, stand_time=now, boot_id=stream.boot_id, mono_ms=stream.mono_ms)
    result = apply_batch(Stand.get_by_id(stand.id), events, clock)
    assert result.refused is None, result.refused


def ingest(world: World, rng: random.Random, stand: Stand, stream: Stream) -> None:
    """A batch of sessions and top-ups, some ended at another price than the tariff's."""
    actors = ["card", "qr", str(world.users["attendant"].id), str(world.users["operator"].id)]
    clients = [(world.member.id, "member"), (world.guest.id, "guest")]
    events = []
    for _ in range(rng.randint(1, 6)):
        stream.wait(rng.randint(60, 40_000))
        if rng.random() < 0.3:
            amount = rng.choice([10_000, 50_000, 5_000_000])  # the largest may be held
            events.append(stream.topup(world.member.id, amount, rng.choice(actors[2:])))
            continue
        client_id, kind = rng.choice(clients)
        uuid, started = stream.started(client_id, world.tariff_version.id, kind=kind)
        started["actor"] = rng.choice(actors)
        events.append(started)
        if rng.random() < 0.85:  # some stay open
            duration = rng.randint(5, 3000)
            stream.wait(duration)
            cost = max(5000, -(-duration // 60) * 1000) + rng.choice([0, 0, 0, 700, -300])
            events.append(stream.ended(uuid, duration, cost, rng.choice(actors)))
    push(world, stand, stream, events)


def behind_the_services(world: World, rng: random.Random) -> None:
    """One write of another writer: a correction, a forced end, a moved or deleted entry."""
    choice = rng.randrange(7)
    ended = list(Session.select().where(Session.ended_at.is_null(False)))
    still_open = list(Session.select().where(Session.ended_at.is_null()))
    entries = list(LedgerEntry.select().where(LedgerEntry.kind == "topup"))
    if choice == 0 and ended:  # a late correction of a session's end and price
        session = rng.choice(ended)
        Session.update(
            ended_at=session.ended_at + timedelta(hours=rng.randint(-30, 30)),
            duration_s=rng.randint(60, 900),
            cost_kopecks=rng.randint(0, 30_000),
            price_mismatch=rng.random() < 0.5,
        ).where(Session.id == session.id).execute()
    elif choice == 1 and still_open:  # ended centrally (a force-close)
        session = rng.choice(still_open)
        Session.update(
            ended_at=session.started_at + timedelta(minutes=rng.randint(1, 120)),
            duration_s=600,
            cost_kopecks=10_000,
            repriced_cost_kopecks=10_000,
            end_method="dashboard",
        ).where(Session.id == session.id).execute()
    elif choice == 2 and ended:  # the staff member who started them is gone
        Session.update(started_by=None).where(Session.id == rng.choice(ended).id).execute()
    elif choice == 3 and entries:  # a top-up's time, site or method corrected
        entry = rng.choice(entries)
        LedgerEntry.update(
            created_at=entry.created_at + timedelta(days=rng.randint(-40, 40)),
            site=rng.choice([None, world.site_a.id, world.site_b.id]),
            method=rng.choice(LEDGER_METHODS),
        ).where(LedgerEntry.id == entry.id).execute()
    elif choice == 4 and entries:
        LedgerEntry.delete().where(LedgerEntry.id == rng.choice(entries).id).execute()
    elif choice == 5:  # a refund and an adjustment move money but are no top-ups
        member = Client.get_by_id(world.member.id)
        post_entry(member, "refund", -rng.randint(100, 5000), reason="возврат")
        post_entry(member, "adjustment", rng.randint(-500, 500), reason="поправка")
    elif choice == 6:  # a top-up taken in the central app, now
        member = Client.get_by_id(world.member.id)
        site = rng.choice([None, world.site_a])
        record_topup(world.users["operator"], member, rng.randint(1, 9) * 1000, "card", site)


def assert_reports_equal(world: World, zone: str) -> None:
    owner = world.users["owner"]
    scopes: list[set[int] | None] = [None, {world.site_a.id}]
    for period in periods(zone):
        for scope in scopes:
            for group_by in GROUPINGS:
                expected = raw_sums(period, group_by, scope)
                assert rollup_sums(period, group_by, scope) == expected, (period, group_by)
        for group_by in topups.GROUPINGS:
            expected = topups.raw_topup_sums(owner, period, group_by)
            assert topups.rollup_topup_sums(period, group_by, None) == expected, group_by
        assert stands.repriced_by_stand(period) == stands.raw_repriced_by_stand(period)
    bounds = [(None, None), (date(2024, 3, 10), None), (date(2024, 2, 28), date(2024, 4, 2))]
    for first, last in bounds:
        for method in (None, "cash", "card"):
            for site_id in (None, world.site_a.id):
                chosen = topups.HistoryFilter(first, last, zone, None, method, site_id)
                query = topups._in(topups._topups(owner), *topups._bounds(chosen))
                if method is not None:
                    query = query.where(LedgerEntry.method == method)
                if site_id is not None:
                    query = query.where(LedgerEntry.site == site_id)
                expected = (query.count(), sum(entry.amount_kopecks for entry in query))
                assert topups._rollup_count(owner, chosen) == expected


def rollup_rows() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Every rollup row that counts something (a row emptied by a correction counts nothing)."""
    sessions = {row for row in SessionRollup.select().tuples() if any(row[9:])}  # id left out below
    found = {row[1:] for row in sessions}
    topup_rows = {row[1:] for row in TopupRollup.select().tuples() if any(row[7:])}
    return found, topup_rows


@pytest.fixture(params=["Europe/Moscow", "Europe/Berlin"])
def zone(request: pytest.FixtureRequest, world: World) -> Iterator[str]:
    """The rollups cut in the zone, and back in the configured one afterwards (a PostgreSQL
    test schema keeps its zone table from test to test)."""
    rolluptriggers.ensure_zone(db_proxy.obj, request.param)
    yield request.param
    rolluptriggers.ensure_zone(db_proxy.obj, CloudConfig.timezone)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_report_from_the_rollups_equals_the_same_report_from_the_rows(
    world: World, zone: str, seed: int
) -> None:
    assert rollups.usable(zone)
    rng = random.Random(seed)
    streams = {
        world.stand_a.id: Stream(world.stand_a.id, START),
        world.stand_b.id: Stream(world.stand_b.id, START),
    }
    for round_number in range(14):
        stand = rng.choice([world.stand_a, world.stand_b])
        stream = streams[stand.id]
        if round_number == 7:  # a stand's outbox of older events arrives late
            stream.clock -= timedelta(days=rng.randint(2, 12))
        ingest(world, rng, stand, stream)
        for _ in range(rng.randint(0, 3)):
            behind_the_services(world, rng)
        if round_number % 5 == 4:
            assert_reports_equal(world, zone)
    assert Session.select().where(Session.ended_at.is_null(False)).count() > 10
    assert_reports_equal(world, zone)
    kept = rollup_rows()
    rolluptriggers.rebuild(db_proxy.obj)
    assert rollup_rows() == kept


def test_a_report_in_another_zone_than_the_rollups_reads_the_rows(world: World) -> None:
    assert rollups.usable("Europe/Moscow")
    assert not rollups.usable("Europe/Berlin")
