"""A real stand and the central service over HTTP (issue 20, sessions): a session
force-closed centrally while its stand is offline, then the stand comes back and its own end
reconciles to one session and one charge; and a session started on the stand from the
central client page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloud.db import utcnow
from cloud.integrity.checks import cached_balances, session_charges
from cloud.ledger.service import post_entry
from cloud.models import (
    Client,
    ForcedClose,
    LedgerEntry,
    Session,
    Stand,
    StandCommand,
    StandHeartbeat,
)
from tests.cloud.conftest import post_form
from tests.integration.conftest import Central, DirectStand, provision

MEMBER_CARD = "04A1B2C3D4E5F6"


def _washing(central: Central, world: Any, direct_stand: Any) -> tuple[DirectStand, Session]:
    """A stand synced once, with the member's session started by a tap and sent up."""
    post_entry(world.member, "topup", 100_000, method="cash")
    stand = direct_stand(central.url, provision(world.site_a, "Пост 3"))
    stand.sync("the first directory")
    stand.engine.on_uid(MEMBER_CARD)
    stand.sync("the start to reach the central service")
    [session] = Session.select().where(Session.client == world.member.id)
    return stand, session


def _gone_silent(session: Session, started_minutes_ago: int) -> None:
    """The stand last heard from an hour ago; the session began ``started_minutes_ago``."""
    Stand.update(last_seen_at=utcnow() - timedelta(hours=1)).where(
        Stand.id == session.stand_id
    ).execute()
    StandHeartbeat.delete().execute()
    Session.update(started_at=utcnow() - timedelta(minutes=started_minutes_ago)).where(
        Session.id == session.id
    ).execute()


def _charges(session: Session) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.session == session.id) & (LedgerEntry.kind == "charge")
    )
    return [e.amount_kopecks for e in query.order_by(LedgerEntry.id)]


def _balance(world: Any) -> int:
    return int(Client.get_by_id(world.member.id).balance_kopecks)


def test_a_stand_that_ended_the_session_offline_comes_back_after_a_force_close(
    central: Central, world: Any, direct_stand: Any, as_role: Any
) -> None:
    stand, session = _washing(central, world, direct_stand)
    # Offline (the agent is not cycled), the client's card ends the wash after 6 minutes.
    stand.clock.advance(360)
    stand.engine.on_uid(MEMBER_CARD)
    assert stand.store.outbox_size() == 1
    # Centrally the session looks 20 minutes old and its stand silent: the administrator
    # closes it at the central price.
    _gone_silent(session, 20)
    response = post_form(
        as_role("administrator"), f"/sessions/{session.id}/force-close", {"comment": "Пост молчит"}
    )
    assert response.status_code == 302
    central_cost = Session.get_by_id(session.id).cost_kopecks
    assert central_cost >= 20000
    assert _balance(world) == 100_000 - central_cost

    stand.sync("the stand's end to reach the central service")

    after = Session.get_by_id(session.id)
    assert (after.cost_kopecks, after.end_method, after.force_closed) == (6000, "card", True)
    assert _charges(after) == [-central_cost, central_cost - 6000]
    assert _balance(world) == 94_000
    assert ForcedClose.get().correction_kopecks == 6000 - central_cost
    assert session_charges() == [] and cached_balances() == []
    # The stand's copy agrees once its next directory has the balance.
    stand.sync("the next directory")
    assert stand.store.balance_of(world.member.id) == 94_000
    assert StandCommand.select().where(StandCommand.done_at.is_null()).count() == 0


def test_a_stand_that_comes_back_with_the_session_open_ends_it_and_charges_nothing_more(
    central: Central, world: Any, direct_stand: Any, as_role: Any
) -> None:
    stand, session = _washing(central, world, direct_stand)
    _gone_silent(session, 5)
    assert (
        post_form(
            as_role("owner"), f"/sessions/{session.id}/force-close", {"comment": "Пост сгорел"}
        ).status_code
        == 302
    )
    central_cost = Session.get_by_id(session.id).cost_kopecks
    assert central_cost in (5000, 6000)  # five minutes and the seconds the test took
    assert _charges(session) == [-central_cost]
    stand.clock.advance(600)  # it comes back ten minutes into its own count

    stand.sync("the end_session command to be carried out")  # poll: the command ends it here
    stand.sync("the stand's end to reach the central service")

    local = stand.store.session(session.uuid)
    assert local is not None and local.end_method == "dashboard"
    assert local.cost_kopecks in (10000, 11000)  # ten minutes and the seconds the test took
    after = Session.get_by_id(session.id)
    assert (after.cost_kopecks, after.end_method) == (central_cost, "forced")
    assert _charges(after) == [-central_cost]
    assert _balance(world) == 100_000 - central_cost
    assert session_charges() == [] and cached_balances() == []
    stand.sync("the next directory")
    assert stand.store.balance_of(world.member.id) == 100_000 - central_cost


def test_a_session_started_from_the_client_page_runs_at_the_stand(
    central: Central, world: Any, direct_stand: Any, as_role: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    stand = direct_stand(central.url, provision(world.site_a, "Пост 3"))
    stand.sync("the first directory")
    stand_row = Stand.get(Stand.name == "Пост 3")
    operator = as_role("operator")

    response = post_form(
        operator, "/sessions/start", {"client_id": world.member.id, "stand_id": stand_row.id}
    )
    assert response.status_code == 302
    stand.sync("the command down")  # carried out after the poll: the start waits in the outbox
    stand.sync("the start up")

    [local] = stand.store.open_sessions()
    command = StandCommand.get()
    assert (local.client_id, local.start_method, local.uuid) == (
        world.member.id,
        "dashboard",
        command.session_uuid,
    )
    assert command.outcome == "done"
    assert Session.get(Session.uuid == local.uuid).start_method == "dashboard"
    # Another start while the post is busy: refused by the stand, and the page says why.
    second = Client.create(kind="member", name="Второй", home_site=world.site_a)
    post_entry(second, "topup", 100_000, method="cash")
    stand.sync("the new client down")
    response = post_form(
        operator, "/sessions/start", {"client_id": second.id, "stand_id": stand_row.id}
    )
    assert response.status_code == 302
    stand.sync("the second command down")
    stand.sync("the refusal up")
    refused = StandCommand.get(StandCommand.client == second.id)
    assert (refused.outcome, refused.reason) == ("refused", "post_busy")
    assert "пост занят" in operator.get(f"/clients/{second.id}").get_data(as_text=True)
