"""A corporate card's daily limit end to end, over real HTTP on 127.0.0.1: set centrally, it
reaches two stands with the directory; each stand, offline, counts only its own sessions of the
card today and refuses a start once they cost the limit; when their events come up, the central
service flags every session that took the card's spend that day over the limit."""

from __future__ import annotations

import json
from typing import Any

from cloud.clients import corporate
from cloud.clients import service as clientbook
from cloud.clock import app_now
from cloud.ledger.service import post_entry
from cloud.models import Credential, Session, StandEvent
from tests.integration.conftest import Central, DirectStand, provision

MEMBER_CARD = "04A1B2C3D4E5F6"
LIMIT = 15_000  # 150 ₽; World's tariff is 10 ₽ a started minute for members


def _wash(stand: DirectStand, minutes: int) -> int:
    """A session started and ended by taps of the card; its cost at the stand."""
    stand.engine.on_uid(MEMBER_CARD)
    [session] = stand.store.open_sessions()
    stand.clock.advance(minutes * 60)
    stand.engine.on_uid(MEMBER_CARD)
    stand.clock.advance(5)  # past the bounce guard
    return int(stand.store.tables.LocalSession.get_by_id(session.uuid).cost_kopecks)


def test_a_card_limit_is_enforced_offline_per_stand_and_flagged_centrally(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    clientbook.update_client(None, world.member, corporate=True)
    card = Credential.get(Credential.value == MEMBER_CARD)
    corporate.set_card_limit(None, world.member, card.id, LIMIT)
    stand_a: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"), name="a")
    stand_b: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 8"), name="b")
    for stand in (stand_a, stand_b):
        stand.sync("the directory")
        assert (
            stand.store.tables.DirCredential.get(
                stand.store.tables.DirCredential.value == MEMBER_CARD
            ).daily_limit_kopecks
            == LIMIT
        )

    # Stand A, with no sync from here on: two washes, the second past the limit, then refused.
    first = _wash(stand_a, 10)
    assert first < LIMIT
    second = _wash(stand_a, 6)
    assert first + second > LIMIT
    stand_a.engine.on_uid(MEMBER_CARD)
    assert stand_a.feedback.patterns[-1] == "refused"
    assert stand_a.engine.last_feedback is not None
    assert stand_a.engine.last_feedback.code == "daily_limit"
    assert stand_a.store.open_sessions() == []
    # A minute passes at A before B's wash. The central service places each session by the
    # pushing request's clock, so without it A's second end and B's end were milliseconds apart
    # there, and under load B's could come first (a make test run failed so).
    stand_a.clock.advance(60)
    # Stand B knows nothing of A's sessions yet: its own count is 0, so it starts.
    third = _wash(stand_b, 3)
    assert stand_b.feedback.patterns[-1] == "ended"

    for stand in (stand_a, stand_b):
        stand.sync("the sessions up")

    central_sessions = list(Session.select().order_by(Session.ended_at))
    assert [(s.cost_kopecks, s.credential_value) for s in central_sessions] == [
        (first, MEMBER_CARD),
        (second, MEMBER_CARD),
        (third, MEMBER_CARD),
    ]
    assert [s.over_daily_limit for s in central_sessions] == [False, True, True]
    refused = StandEvent.get(StandEvent.type == "tap.refused")
    assert json.loads(refused.payload)["reason"] == "daily_limit"
    timezone = central.app.config["AQ"].timezone
    account = corporate.account_view(None, world.member, app_now(), timezone)
    [card_row] = [c for c in account["cards"] if c["uid"] == MEMBER_CARD]
    assert card_row["spent_today_kopecks"] == first + second + third
    assert card_row["limit_reached"] is True
