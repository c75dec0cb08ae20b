"""A shift worked offline at a stand, end to end over HTTP: opened, top-ups taken and closed
while the central service is unreachable; once the stand syncs, the central Shifts report
(from the central ledger) is the one the stand's screen showed."""

from __future__ import annotations

from typing import Any

from cloud.db import utcnow
from cloud.models import Shift
from cloud.shifts import service
from tests.integration.conftest import Central, DirectStand, Faults, FaultyProxy, provision


def test_an_offline_shift_syncs_later_and_its_central_report_is_the_stands(
    central: Central, world: Any, direct_stand: Any
) -> None:
    attendant = world.users["attendant"].id
    proxy = FaultyProxy(central.port, Faults())
    try:
        stand: DirectStand = direct_stand(proxy.url, provision(world.site_a, "Пост 1в"))
        stand.sync("the stand's first sync")
        proxy.faults.down = True

        stand.engine.open_shift(attendant, 100_000)
        stand.engine.record_topup(world.member.id, 50_000, "cash", attendant)
        stand.engine.record_topup(world.member.id, 20_000, "card", attendant)
        stand.engine.record_topup(world.member.id, 7_500, "cash", attendant)
        _shift, at_the_stand = stand.engine.close_shift(attendant, 157_000)
        assert stand.store.outbox_size() == 5
        assert Shift.select().count() == 0  # nothing reached the central service yet

        proxy.faults.down = False
        stand.sync()

        period = service.filter_from({}, "Europe/Moscow", utcnow()).period
        wanted = service.ShiftFilter(period=period, stand_id=stand.config.stand_id)
        (row,) = service.shifts_for(world.users["owner"], wanted, utcnow())
        assert row.totals == at_the_stand
        assert at_the_stand.to_dict() == {
            "opening_kopecks": 100_000,
            "cash_kopecks": 57_500,
            "card_kopecks": 20_000,
            "transfer_kopecks": 0,
            "topups": 3,
            "expected_kopecks": 157_500,
            "counted_kopecks": 157_000,
            "difference_kopecks": -500,
        }
        assert row.user_id == attendant and row.closed_at is not None
    finally:
        proxy.close()
