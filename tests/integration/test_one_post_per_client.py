"""One client, one post (issue 15): two stands of a site and the central service, real HTTP
between them (SQLite and PostgreSQL). A client washing at one post is refused at the other
once that one's directory shows it, and accepted there again after the end reached it."""

from __future__ import annotations

from typing import Any

from cloud.ledger.service import post_entry
from cloud.models import Session
from tests.integration.conftest import Central, DirectStand, provision

MEMBER_CARD = "04A1B2C3D4E5F6"


def test_a_client_washing_at_one_post_is_refused_at_another_until_the_end_is_known(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    first: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"), name="a")
    second: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 8"), name="b")
    for stand in (first, second):
        stand.sync("the directory")

    first.engine.on_uid(MEMBER_CARD)
    first.sync("the start up")
    second.sync("the directory with the session at the first post")
    second.engine.on_uid(MEMBER_CARD)

    assert second.store.open_sessions() == []
    assert second.engine.last_feedback is not None
    assert second.engine.last_feedback.code == "open_elsewhere"
    assert Session.select().count() == 1  # the check of DESIGN.md has nothing to flag

    first.clock.advance(120)
    first.engine.on_uid(MEMBER_CARD)  # the end, two minutes later
    assert first.feedback.patterns[-1] == "ended"
    first.sync("the end up")
    second.sync("the directory with the session ended")
    second.engine.on_uid(MEMBER_CARD)

    (washing,) = second.store.open_sessions()
    assert washing.client_id == world.member.id
    second.sync("the second start up")
    assert Session.select().where(Session.ended_at.is_null()).count() == 1
