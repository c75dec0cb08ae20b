"""Clients registered at a stand, re-linked to their central ids when the directory brings
them (the central service on SQLite and on PostgreSQL over HTTP, a real stand store)."""

# ruff: noqa: F401, F811 - the central fixtures are imported by name and requested by name

from __future__ import annotations

from typing import Any

import pytest

from cloud.ledger.service import post_entry
from cloud.models import Client, Comment, LedgerEntry
from edge.store import DirClient, LocalClient, LocalLedger, LocalSession
from tests.integration.conftest import (
    Central,
    DirectStand,
    _truncate_all,
    app,
    central,
    clock,
    database_url,
    direct_stand,
    fast_password_hashing,
    postgres_schema_url,
    provision,
    world,
)

PLATE = "К555МР197"


@pytest.fixture
def stand(central: Central, world: Any, direct_stand: Any) -> DirectStand:
    """An enrolled stand of site A that has loaded its directory."""
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.sync("the first sync")
    return made


def central_client(uuid: str) -> Client:
    return Client.get(Client.uuid == uuid)


def test_a_guest_registered_here_becomes_one_client_under_the_central_id(
    stand: DirectStand, world: Any
) -> None:
    attendant = world.users["attendant"].id
    local, session = stand.engine.register_guest(PLATE, None, attendant)
    stand.clock.advance(125)
    stand.engine.end_session(str(session.uuid), attendant)
    cost = -int(
        stand.store.tables.LocalLedger.get(
            stand.store.tables.LocalLedger.client_id == local.id
        ).amount_kopecks
    )

    stand.sync()

    guest = central_client(str(local.uuid))
    assert stand.store.tables.LocalClient.select().count() == 0
    assert [int(c.id) for c in stand.store.find_clients(plate=PLATE)] == [guest.id]
    credential = stand.store.credential("plate", PLATE)
    assert credential is not None and credential.client.id == guest.id
    assert stand.store.tables.LocalSession.get_by_id(session.uuid).client_id == guest.id
    assert [s.uuid for s in stand.store.sessions_of(guest.id)] == [session.uuid]
    assert guest.balance_kopecks == -cost
    assert stand.store.balance_of(guest.id) == -cost
    # The next visit starts a session for the central client, named by its id.
    stand.engine.start_session(guest.id, None, attendant)
    assert stand.store.pending_events(1)[0].payload["client_id"] == guest.id
    stand.sync()
    assert stand.store.open_session_of(guest.id) is not None


def test_entries_not_yet_acknowledged_are_kept_when_the_client_is_re_linked(
    stand: DirectStand, world: Any
) -> None:
    attendant = world.users["attendant"].id
    local = stand.engine.register_member("Анна Смирнова", ["+79035550101"], [PLATE], [], attendant)
    stand.engine.record_topup(local.id, 50_000, "cash", attendant)
    stand.agent._push()  # the registration and the first top-up are acknowledged
    stand.engine.record_topup(local.id, 20_000, "card", attendant)  # not sent yet

    stand.agent._poll()

    member = central_client(str(local.uuid))
    assert member.balance_kopecks == 50_000
    assert stand.store.tables.LocalClient.select().count() == 0
    assert stand.store.balance_of(member.id) == 70_000
    old_id = stand.store.client(local.id)  # a screen still showing the old id
    assert old_id is not None and old_id.id == member.id
    assert [int(c.id) for c in stand.store.find_clients(phone="+79035550101")] == [member.id]

    stand.sync()

    member = central_client(str(local.uuid))
    assert member.balance_kopecks == 70_000
    assert stand.store.balance_of(member.id) == 70_000
    topups = LedgerEntry.select().where(LedgerEntry.client == member.id)
    assert sorted(e.amount_kopecks for e in topups) == [20_000, 50_000]


def test_a_screen_still_showing_the_old_id_tops_up_and_comments_under_the_central_id(
    stand: DirectStand, world: Any
) -> None:
    """The attendant registered a member, the directory re-linked them, and the screen still
    shows the old negative id: a top-up and a comment go to the central client (this once
    answered a server error: a re-linked client has no uuid of its own at the stand)."""
    attendant = world.users["attendant"].id
    local = stand.engine.register_member(
        "Пётр Иванов", ["+79035550102"], ["К556МР197"], [], attendant
    )
    stand.sync()
    member = central_client(str(local.uuid))
    assert stand.store.tables.LocalClient.select().count() == 0

    stand.engine.record_topup(local.id, 30_000, "cash", attendant)
    stand.engine.add_comment(local.id, "Пополнил наличными", attendant)

    pending = stand.store.pending_events(10)
    assert [(e.type, e.payload["client_id"]) for e in pending] == [
        ("topup.recorded", member.id),
        ("comment.added", member.id),
    ]
    assert stand.store.balance_of(member.id) == 30_000
    stand.sync()
    assert central_client(str(local.uuid)).balance_kopecks == 30_000
    comments = Comment.select().where(Comment.client == member.id)
    assert [c.text for c in comments] == ["Пополнил наличными"]


def test_a_full_walk_re_links_a_client_registered_here(stand: DirectStand, world: Any) -> None:
    attendant = world.users["attendant"].id
    local, _session = stand.engine.register_guest(PLATE, None, attendant)
    stand.agent._push()

    stand.store.forget_cursor()  # the next poll is a reset walk (replacing the copy)

    stand.agent._poll()

    guest = central_client(str(local.uuid))
    assert stand.store.tables.LocalClient.select().count() == 0
    assert stand.store.tables.DirClient.get_by_id(guest.id).kind == "guest"
    assert stand.store.open_session_of(guest.id) is not None
