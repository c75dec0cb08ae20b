"""Attendants' site limit (issue 19): a stand receives what a tap needs of every client, but
names and phones only of its site's clients (registered there, or who visited it with their
card or QR code); PIN hashes only of the staff of its site (operators and above: by a setting);
a session an attendant starts on a stand's screen widens nothing, at the stands or centrally.
Each attack played on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.clients import scope as client_scope
from cloud.clients import search as client_search
from cloud.clock import app_now
from cloud.db import utcnow
from cloud.errors import NotFound
from cloud.models import ClientPhone, Credential, StandEvent
from cloud.staff import service as staffbook
from cloud.standsync.directory import build_directory
from cloud.standsync.standauth import provision_stand
from sync.directory import validate_directory
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.eventstream import Stream
from tests.cloud.test_directory_feed import SYNC, StandCopy, enrolled, headers

B_PHONE = "+79165550011"


@pytest.fixture
def b_client(world: World) -> Any:
    """A member registered at site B, with a phone and a card."""
    ClientPhone.create(client=world.other_site_client, phone=B_PHONE)
    Credential.create(client=world.other_site_client, kind="card", value="04B0B0B0B0B0B0")
    return world.other_site_client


def _stand_id(client: FlaskClient, token: str) -> int:
    return int(client.get(f"{SYNC}/status", headers=headers(token)).get_json()["stand_id"])


def _push(client: FlaskClient, token: str, events: list[dict[str, Any]]) -> None:
    response = client.post(f"{SYNC}/events", json={"events": events}, headers=headers(token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["acked_seq"] == events[-1]["seq"]


def _screen_start(stream: Stream, client_id: int, version_id: int, staff_id: int) -> Any:
    """A session an attendant started on the stand's screen (no card, no QR code)."""
    _uuid, event = stream.started(client_id, version_id, actor=str(staff_id))
    event["payload"]["method"] = "screen"
    return event


def test_a_stand_gets_another_sites_client_for_taps_but_not_their_name_and_phone(
    client: FlaskClient, world: World, b_client: Any
) -> None:
    stand = StandCopy(client, enrolled(client, world))
    stand.sync()

    theirs = stand.clients[b_client.id]
    assert (theirs.details, theirs.name, theirs.phones) == (False, "", ())
    assert ("card", "04B0B0B0B0B0B0") in stand.credentials  # the card still works
    assert theirs.balance_kopecks == 0 and theirs.blocked is False
    ours = stand.clients[world.member.id]
    assert (ours.details, ours.name, ours.phones) == (True, "Иван Петров", ("+79161234567",))
    assert B_PHONE.encode() not in b"".join(stand.bodies)
    assert "Ольга Гагарина".encode() not in b"".join(stand.bodies)


def test_the_details_reach_the_stand_once_the_clients_tap_session_there_syncs(
    client: FlaskClient, world: World, b_client: Any
) -> None:
    token = enrolled(client, world)
    stand = StandCopy(client, token)
    stand.sync()
    stream = Stream(_stand_id(client, token), app_now())
    _uuid, started = stream.started(b_client.id, world.tariff_version.id)  # their card

    _push(client, token, [started])
    stand.sync()

    theirs = stand.clients[b_client.id]
    assert (theirs.details, theirs.name, theirs.phones) == (True, "Ольга Гагарина", (B_PHONE,))
    # and the attendant of site A now sees the client centrally too: one rule for both
    assert client_scope.get_client(world.users["attendant"], b_client.id)


def test_a_session_an_attendant_starts_on_the_screen_widens_nothing(
    client: FlaskClient, world: World, b_client: Any
) -> None:
    """The attack: an attendant of A starts (and ends) a session for another site's client
    from the screen of an older stand that shows everyone, to see them afterwards."""
    attendant = world.users["attendant"]
    token = enrolled(client, world)
    stand = StandCopy(client, token)
    stand.sync()
    stream = Stream(_stand_id(client, token), app_now())
    started = _screen_start(stream, b_client.id, world.tariff_version.id, attendant.id)
    session_uuid = started["payload"]["session_uuid"]
    stream.wait(600)

    _push(client, token, [started, stream.ended(session_uuid, 600, 10_000, str(attendant.id))])
    stand.sync()

    with pytest.raises(NotFound):
        client_scope.get_client(attendant, b_client.id)
    rows, _total = client_search.search_clients(attendant, q="Гагарина")
    assert b_client.id not in {row.id for row in rows}
    assert stand.clients[b_client.id].details is False
    assert B_PHONE.encode() not in b"".join(stand.bodies)


def test_a_stand_of_a_site_whose_client_moved_home_there_gets_the_details(
    client: FlaskClient, world: World, b_client: Any
) -> None:
    stand = StandCopy(client, enrolled(client, world))
    stand.sync()

    b_client.home_site = world.site_a
    b_client.save()
    stand.sync()

    assert stand.clients[b_client.id].phones == (B_PHONE,)


def test_the_exported_directory_holds_details_of_the_sites_clients_only(
    app: Flask, world: World, b_client: Any
) -> None:
    document = validate_directory(build_directory(world.site_a.id, app.config["AQ"], utcnow()))

    clients = {c.id: c for c in document.clients}
    assert (clients[b_client.id].name, clients[b_client.id].phones) == ("", ())
    assert clients[world.member.id].phones == ("+79161234567",)


def _b_attendant(world: World) -> Any:
    return staffbook.create_staff(
        name="Аквастендист с Гагарина",
        phone="+79000000088",
        role="attendant",
        password=PASSWORD,
        pin="888888",
        site_ids=[world.site_b.id],
    )


def test_pin_hashes_of_another_sites_attendant_never_reach_the_stand(
    app: Flask, client: FlaskClient, world: World
) -> None:
    stand = StandCopy(client, enrolled(client, world))
    stand.sync()

    theirs = _b_attendant(world)
    staffbook.change_pin(world.users["owner"], theirs, "898989")
    stand.sync()
    stand.cursor = 0
    stand.sync()  # a full walk too
    document = build_directory(world.site_a.id, app.config["AQ"], utcnow())

    assert theirs.id not in stand.staff
    assert theirs.pin_hash.encode() not in b"".join(stand.bodies)
    assert theirs.id not in {s["id"] for s in document["staff"]}  # type: ignore[union-attr]
    assert world.users["attendant"].id in stand.staff


@pytest.fixture
def own_sites_only(app: Flask) -> None:
    app.config["AQ"].manager_pins_at_every_site = False


def test_with_the_setting_off_managers_pins_go_only_to_their_own_sites_stands(
    app: Flask, client: FlaskClient, world: World, own_sites_only: None
) -> None:
    b_operator = staffbook.create_staff(
        name="Оператор Гагарина",
        phone="+79000000089",
        role="operator",
        password=PASSWORD,
        pin="898989",
        site_ids=[world.site_b.id],
    )
    stand = StandCopy(client, enrolled(client, world))
    stand.sync()

    assert b_operator.id not in stand.staff
    assert b_operator.pin_hash.encode() not in b"".join(stand.bodies)
    assert world.users["operator"].id in stand.staff  # of site A
    code = provision_stand(world.site_b, "Пост 2", utcnow()).code
    b_token = client.post(f"{SYNC}/enrol", json={"code": code}).get_json()["token"]
    b_stand = StandCopy(client, b_token)
    b_stand.sync()
    assert b_operator.id in b_stand.staff
    # and an event of A's stand naming B's operator is not taken as theirs
    stream = Stream(_stand_id(client, stand.token), app_now())
    _push(
        client,
        stand.token,
        [_screen_start(stream, world.member.id, world.tariff_version.id, b_operator.id)],
    )
    assert StandEvent.get(StandEvent.seq == 1).flag == "unknown_actor"


def test_by_default_managers_log_in_at_every_sites_stands(
    client: FlaskClient, world: World
) -> None:
    b_operator = staffbook.create_staff(
        name="Оператор Гагарина",
        phone="+79000000089",
        role="operator",
        password=PASSWORD,
        pin="898989",
        site_ids=[world.site_b.id],
    )
    stand = StandCopy(client, enrolled(client, world))
    stand.sync()

    assert b_operator.id in stand.staff
