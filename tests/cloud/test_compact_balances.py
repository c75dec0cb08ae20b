"""Protocol 3's windows (sync/balances.py, cloud/standsync/windows.py): a balance-only change
travels as five numbers, a change of anything else as the whole entry, and a stand of protocol
3 ends up holding exactly what a stand of protocol 1 or 2 holds, after any run of changes."""

from __future__ import annotations

import random
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cloud.changes import current_position
from cloud.clients import service as clientbook
from cloud.db import utcnow
from cloud.ledger import service as ledger
from cloud.models import Client, Session
from sync.directorywindow import WINDOW, validate_window_page
from tests.cloud.conftest import World
from tests.cloud.test_directory_feed import StandCopy, enrolled
from tests.cloud.test_directory_windows import (
    WindowStand,
    close_window,
    open_session,
    window_response,
)
from tests.cloud.test_window_rows import _changes


def tail(client: FlaskClient, token: str, protocol: int) -> tuple[dict[str, Any], int]:
    """The tail's JSON in the form of ``protocol``, and its size in bytes."""
    start = current_position() // WINDOW * WINDOW
    response = window_response(client, token, start, protocol)
    assert response.status_code == 200
    validate_window_page(response.get_json())
    return response.get_json(), len(response.get_data())


def test_a_balance_only_change_travels_compact_and_a_details_change_whole(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    member = world.member
    close_window()  # the top-up in a later window than the member's details
    ledger.record_topup(world.users["operator"], member, 5_000, "cash")
    member = Client.get_by_id(member.id)

    compact, compact_bytes = tail(client, token, 3)
    whole, whole_bytes = tail(client, token, 2)

    [row] = [r for r in compact["balances"] if r[0] == member.id]
    assert row[1] == member.balance_kopecks and row[3] == member.points_balance
    assert member.id not in [c["id"] for c in compact["upserts"]["clients"]]
    [entry] = [c for c in whole["upserts"]["clients"] if c["id"] == member.id]
    assert (entry["balance_kopecks"], entry["ledger_position"]) == (row[1], row[2])
    assert "balances" not in whole
    assert compact_bytes < whole_bytes

    clientbook.set_blocked(world.users["operator"], member, True)
    compact, _bytes = tail(client, token, 3)
    [entry] = [c for c in compact["upserts"]["clients"] if c["id"] == member.id]
    assert entry["blocked"] is True and entry["balance_kopecks"] == member.balance_kopecks
    assert member.id not in [r[0] for r in compact["balances"]]  # whole: no compact beside


def test_a_session_opened_elsewhere_travels_compact_with_its_stand(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stand = WindowStand(client, token, protocol=3)
    stand.sync()
    close_window()
    session = open_session(world, world.member, "screen")
    compact, _bytes = tail(client, token, 3)
    assert [world.member.id, world.stand_a.id] in [[r[0], r[4]] for r in compact["balances"]]

    stand.sync()
    assert stand.clients[world.member.id].open_session_stand_id == world.stand_a.id
    Session.update(ended_at=utcnow()).where(Session.id == session.id).execute()
    stand.sync()
    assert stand.clients[world.member.id].open_session_stand_id is None


def test_a_stand_of_protocol_3_holds_what_a_stand_of_protocol_1_holds(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Random changes of every kind, polled between them by three stands of one site: one
    reading protocol 1's pages, one protocol 3's windows from the start, one joining late."""
    rng = random.Random(31)
    changes = _changes(app, world, rng)
    token = enrolled(client, world)  # one stand's token: the three only read
    old = StandCopy(client, token)
    new = WindowStand(client, token, protocol=3)
    late = WindowStand(client, token, protocol=3)
    for round_number in range(12):
        if round_number == 3:
            close_window()  # the rest in a later window than every client's details
        for _change in range(rng.randrange(1, 6)):
            rng.choice(changes)()
        old.sync()
        new.sync()
        if round_number == 6:
            late.sync()  # a full walk in the middle: whole entries with their balances
        assert new.clients == old.clients
        assert new.credentials == old.credentials
    late.sync()
    assert late.clients == old.clients
    assert new.compact_applied > 0  # balances did travel compact
