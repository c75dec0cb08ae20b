"""Held top-ups in a real browser (issue 19): a stand's top-ups over the ceiling, one released
and one rejected with the reason by an administrator; the balance moves once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud.models import Client, HeldTopup, Stand
from cloud.standsync.ingest import Limits, StandClock, apply_batch
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.eventstream import Stream


def test_an_administrator_releases_one_held_topup_and_rejects_another(
    page: Any, live_server: str, world: World, artifacts: Path
) -> None:
    stream = Stream(world.stand_a.id)
    staff = str(world.users["attendant"].id)
    events = [stream.topup(world.member.id, amount, staff) for amount in (6_000_000, 7_000_000)]
    clock = StandClock(now=stream.clock, stand_time=stream.clock, boot_id=stream.boot_id)
    assert (
        apply_batch(Stand.get_by_id(world.stand_a.id), events, clock, limits=Limits()).acked_seq
        == 2
    )
    first, second = HeldTopup.select().order_by(HeldTopup.id)

    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("administrator"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.click("nav >> text=Задержанные пополнения")
    page.wait_for_load_state()
    page.screenshot(path=str(artifacts / "central-held-topups.png"), full_page=True)

    page.click(f"#held-{first.id} button.release")
    page.wait_for_load_state()
    page.fill(f"#held-{second.id} input[name=note]", "Деньги не поступали в кассу")
    page.click(f"#held-{second.id} button.reject")
    page.wait_for_load_state()

    assert page.locator("#held-topups").count() == 0  # none waiting
    assert Client.get_by_id(world.member.id).balance_kopecks == 6_000_000
    statuses = [(h.status, h.note) for h in HeldTopup.select().order_by(HeldTopup.id)]
    assert statuses == [("released", ""), ("rejected", "Деньги не поступали в кассу")]
