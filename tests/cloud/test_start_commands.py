"""Starting a session on a chosen stand from the central client page (the ``start_session``
command, cloud/standsync/commands.py): sent down with the directory, done by the stand's
session.started under the command's uuid, refused by its ``command.refused``; expired when the
stand does not answer in time. And the dashboard's end, which then shows the client's page to
top up. Both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.models import Session, Stand, StandCommand
from cloud.standsync.commands import pending_commands
from cloud.standsync.standauth import provision_stand, revoke
from sync.directorypage import validate_directory_page
from sync.directorywindow import validate_head
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream
from tests.cloud.sessionrows import add_session
from tests.cloud.test_syncapi import headers


def enrol(client: FlaskClient, world: World) -> str:
    code = provision_stand(world.site_a, world.stand_a.name, utcnow()).code
    return client.post("/sync/v1/enrol", json={"code": code}).get_json()["token"]


def start(browser: FlaskClient, world: World, stand: Any = None) -> Any:
    stand_id = (stand or world.stand_a).id
    return post_form(
        browser, "/sessions/start", {"client_id": world.member.id, "stand_id": stand_id}
    )


def test_the_client_page_starts_a_session_on_the_stand_through_its_commands(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    token = enrol(client, world)
    browser = as_role("operator")
    page = browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert 'id="start-on-stand"' in page

    response = start(browser, world)

    assert response.status_code == 302
    command = StandCommand.get()
    assert (command.type, command.client_id, command.outcome) == (
        "start_session",
        world.member.id,
        "",
    )
    down = client.get("/sync/v1/directory/head?cursor=0&protocol=3", headers=headers(token))
    head, _details = validate_head(down.get_json())
    assert [(c.type, c.client_id, c.session_uuid, c.issued_by) for c in head.commands] == [
        ("start_session", world.member.id, command.session_uuid, world.users["operator"].id)
    ]
    # A stand asking for pages runs software before protocol 2, which knew no starts.
    old = client.get("/sync/v1/directory?cursor=0", headers=headers(token))
    assert validate_directory_page(old.get_json()).commands == ()
    assert "ждёт пост" in browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    # The stand starts it under the command's uuid and says so.
    stream = Stream(world.stand_a.id, start=utcnow())
    _uuid, started = stream.started(
        world.member.id,
        world.tariff_version.id,
        session_uuid=command.session_uuid,
        actor=str(world.users["operator"].id),
    )
    started["payload"]["method"] = "dashboard"
    answer = client.post("/sync/v1/events", headers=headers(token), json={"events": [started]})

    assert answer.status_code == 200
    done = StandCommand.get_by_id(command.id)
    session = Session.get(Session.uuid == command.session_uuid)
    assert (done.outcome, done.session_id, session.start_method) == (
        "done",
        session.id,
        "dashboard",
    )
    assert done.done_at is not None
    assert pending_commands(Stand.get_by_id(world.stand_a.id), utcnow()) == []
    page = browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert "запущен" in page and 'id="end-open"' in page


def test_the_stands_refusal_shows_with_its_reason(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    token = enrol(client, world)
    browser = as_role("attendant")
    assert start(browser, world).status_code == 302
    command = StandCommand.get()
    stream = Stream(world.stand_a.id, start=utcnow())
    refused = stream.event(
        "command.refused",
        {"command_id": command.id, "session_uuid": command.session_uuid, "reason": "post_busy"},
        actor=str(world.users["attendant"].id),
    )

    answer = client.post("/sync/v1/events", headers=headers(token), json={"events": [refused]})

    assert answer.status_code == 200
    after = StandCommand.get_by_id(command.id)
    assert (after.outcome, after.reason) == ("refused", "post_busy")
    assert Session.select().count() == 0
    assert "пост занят" in browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    # A refusal of a command this stand never had changes nothing and is flagged.
    other = stream.event(
        "command.refused",
        {"command_id": 999, "session_uuid": command.session_uuid, "reason": "blocked"},
    )
    answer = client.post("/sync/v1/events", headers=headers(token), json={"events": [other]})
    assert answer.status_code == 200
    assert StandCommand.get_by_id(command.id).reason == "post_busy"


def test_a_start_the_stand_did_not_take_in_time_is_no_longer_sent(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    enrol(client, world)
    assert start(as_role("operator"), world).status_code == 302
    stand = Stand.get_by_id(world.stand_a.id)

    assert len(pending_commands(stand, utcnow() + timedelta(minutes=4))) == 1
    assert pending_commands(stand, utcnow() + timedelta(minutes=6)) == []


def test_starts_that_cannot_be_sent_are_refused_and_store_nothing(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    browser = as_role("operator")
    never_enrolled = start(browser, world)
    enrol(client, world)
    other_site = start(as_role("attendant"), world, world.stand_b)
    first = start(browser, world)
    second = start(browser, world)
    assert never_enrolled.status_code == 409
    assert other_site.status_code == 404
    assert (first.status_code, second.status_code) == (302, 409)
    assert "уже ждёт ответа поста" in second.get_data(as_text=True)
    StandCommand.delete().execute()
    add_session(world.member, world.stand_a, world.tariff_version)
    assert start(browser, world).status_code == 409
    Session.delete().execute()
    revoke(Stand.get_by_id(world.stand_a.id), utcnow())
    assert start(browser, world).status_code == 409
    assert StandCommand.select().count() == 0


def test_the_api_starts_and_reads_a_start(client: FlaskClient, world: World) -> None:
    enrol(client, world)
    auth = {"Authorization": f"Bearer {world.tokens['operator']}"}

    response = client.post(
        "/api/v1/sessions/start",
        json={"client_id": world.member.id, "stand_id": world.stand_a.id},
        headers=auth,
    )

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["status"], body["client_id"], body["session_id"]) == (
        "pending",
        world.member.id,
        None,
    )
    read = client.get(f"/api/v1/sessions/starts/{body['id']}", headers=auth)
    assert read.get_json() == body
    again = client.post(
        "/api/v1/sessions/start",
        json={"client_id": world.member.id, "stand_id": world.stand_a.id},
        headers=auth,
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "start_pending"


def test_ending_from_the_dashboard_leads_to_the_clients_page_to_top_up(
    world: World, as_role: Any
) -> None:
    session = add_session(world.member, world.stand_a, world.tariff_version)
    Session.update(uuid="11111111-1111-4111-8111-111111111111").where(
        Session.id == session.id
    ).execute()

    response = post_form(as_role("operator"), f"/sessions/{session.id}/end", {"comment": ""})

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/clients/{world.member.id}#topup")
