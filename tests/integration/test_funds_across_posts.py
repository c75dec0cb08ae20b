"""One open session per client across posts and money guarded (issue 15, items 3 and 4), end to
end over real HTTP on 127.0.0.1: two stands of one site with their sync agents and the central
service (on SQLite and on PostgreSQL). A session open at one stand reaches the other with the
directory and holds its tap back until the end has come down too; made offline, the overlap is
still listed by the integrity check. A member without the minimum charge is refused; credit set
centrally reaches the stand and lets them start; the session ends by itself when the money runs
out, and the central ledger charges exactly what was available."""

from __future__ import annotations

import json
from typing import Any

from cloud.clients import funds as client_funds
from cloud.clock import app_now
from cloud.integrity.checks import open_sessions
from cloud.ledger.service import post_entry
from cloud.models import Client, LedgerEntry, Session, StandEvent
from tests.integration.conftest import Central, DirectStand, provision

MEMBER_CARD = "04A1B2C3D4E5F6"  # World's member; 10 ₽ a started minute, 50 ₽ at least


def _stands(central: Central, world: Any, direct_stand: Any) -> tuple[DirectStand, DirectStand]:
    first: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"), name="a")
    second: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 8"), name="b")
    for stand in (first, second):
        stand.sync("the directory")
    return first, second


def _open_at(stand: DirectStand, client_id: int) -> int | None:
    client = stand.store.tables.DirClient.get_by_id(client_id)
    return None if client.open_session_stand_id is None else int(client.open_session_stand_id)


def test_a_client_washing_at_one_post_is_refused_at_the_other_until_the_end_syncs(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    first, second = _stands(central, world, direct_stand)

    first.engine.on_uid(MEMBER_CARD)
    first.sync("the start up")
    second.sync("the directory after the start")
    assert _open_at(second, world.member.id) == first.config.stand_id

    second.engine.on_uid(MEMBER_CARD)

    assert second.feedback.patterns == ["refused"]
    assert second.engine.last_feedback is not None
    assert second.engine.last_feedback.code == "open_elsewhere"
    assert second.store.open_sessions() == []
    assert [e.type for e in second.store.pending_events()] == ["tap.refused"]
    second.sync("the refusal up")
    refused = StandEvent.get(StandEvent.type == "tap.refused")
    assert json.loads(refused.payload)["reason"] == "open_elsewhere"
    assert Session.select().count() == 1

    first.clock.advance(120)
    first.engine.on_uid(MEMBER_CARD)
    assert first.feedback.patterns == ["accepted", "ended"]
    first.sync("the end up")
    second.sync("the directory after the end")
    assert _open_at(second, world.member.id) is None
    second.clock.advance(5)  # past the bounce guard of the refused tap

    second.engine.on_uid(MEMBER_CARD)

    assert second.feedback.patterns == ["refused", "accepted"]
    second.sync("the second start up")
    assert [s.stand_id for s in Session.select().order_by(Session.id)] == [
        first.config.stand_id,
        second.config.stand_id,
    ]
    assert open_sessions() == []  # never two open at once


def test_two_posts_offline_both_start_and_the_integrity_check_lists_the_overlap(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    first, second = _stands(central, world, direct_stand)

    # Neither has told the central service yet: the second cannot know of the first.
    first.engine.on_uid(MEMBER_CARD)
    second.engine.on_uid(MEMBER_CARD)
    assert first.feedback.patterns == second.feedback.patterns == ["accepted"]
    for stand in (first, second):
        stand.sync("the starts up")

    [violation] = open_sessions()
    assert violation.kind == "two_open_sessions"
    assert violation.objects["client"] == [world.member.id]
    assert violation.objects["stand"] == sorted([first.config.stand_id, second.config.stand_id])


def test_credit_set_centrally_lets_a_member_start_and_the_money_ends_the_wash(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 2_000, method="cash")  # below the 50 ₽ minimum charge
    first, _second = _stands(central, world, direct_stand)

    first.engine.on_uid(MEMBER_CARD)
    assert first.engine.last_feedback is not None
    assert first.engine.last_feedback.code == "insufficient_funds"
    first.sync("the refusal up")
    refused = StandEvent.get(StandEvent.type == "tap.refused")
    assert json.loads(refused.payload)["reason"] == "insufficient_funds"

    client_funds.set_overdraft(Client.get_by_id(world.member.id), 5_000)
    first.sync("the credit down")
    assert first.store.tables.DirClient.get_by_id(world.member.id).overdraft_limit_kopecks == 5_000
    first.clock.advance(5)
    first.engine.on_uid(MEMBER_CARD)  # 20 ₽ and 50 ₽ of credit: seven minutes
    assert first.feedback.patterns == ["refused", "accepted"]
    first.clock.advance(7 * 60)
    assert first.engine.tick() == []
    first.clock.advance(1)

    [ended] = first.engine.tick()

    assert (ended.duration_s, ended.cost_kopecks, ended.end_method) == (420, 7_000, "auto")
    assert first.feedback.patterns[-1] == "attention"
    first.sync("the end up")
    [session] = Session.select()
    assert (session.cost_kopecks, session.end_method, session.duration_s) == (7_000, "auto", 420)
    charges = LedgerEntry.select().where(LedgerEntry.kind == "charge")
    assert [c.amount_kopecks for c in charges] == [-7_000]  # exactly what was available
    member = Client.get_by_id(world.member.id)
    assert member.balance_kopecks == -5_000  # down to the credit, not past it
    funds = client_funds.funds_of([member], 100, app_now())[member.id]
    assert (funds.available_kopecks, funds.can_start) == (0, False)
