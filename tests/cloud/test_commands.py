"""Ending a forgotten session remotely: the central dashboard stores a command for the stand,
the stand gets it with every poll, and its ordinary session.ended event makes it done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.models import Session, Stand, StandCommand
from cloud.standsync.commands import pending_commands, request_end
from cloud.standsync.standauth import provision_stand
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.sessionrows import add_session
from tests.cloud.test_syncapi import headers


def stand_session(world: World, stand: Any = None) -> Session:
    """An open session as a stand's sync writes it (with the stand's session uuid)."""
    session = add_session(world.member, stand or world.stand_a, world.tariff_version)
    Session.update(uuid=new_uuid()).where(Session.id == session.id).execute()
    return Session.get_by_id(session.id)


def test_ending_remotely_stores_one_pending_command_for_the_stand(
    world: World, as_role: Any
) -> None:
    session = stand_session(world)
    browser = as_role("operator")

    response = post_form(browser, f"/sessions/{session.id}/end", {"comment": "Забыли завершить"})

    assert response.status_code == 302
    command = StandCommand.get()
    assert (command.stand_id, command.session_id, command.done_at) == (
        world.stand_a.id,
        session.id,
        None,
    )
    assert pending_commands(world.stand_a) == [
        {
            "id": command.id,
            "type": "end_session",
            "session_uuid": session.uuid,
            "comment": "Забыли завершить",
            "issued_by": world.users["operator"].id,
        }
    ]
    assert pending_commands(world.stand_b) == []
    assert "Завершение запрошено" in browser.get("/").get_data(as_text=True)


def test_asking_again_while_pending_returns_the_same_command(world: World, as_role: Any) -> None:
    session = stand_session(world)
    first = request_end(world.users["operator"], session.id, "Первый")

    response = post_form(as_role("owner"), f"/sessions/{session.id}/end", {"comment": "Второй"})

    assert response.status_code == 302
    assert request_end(world.users["attendant"], session.id, "Третий").id == first.id
    assert [row.comment for row in StandCommand.select()] == ["Первый"]
    assert len(pending_commands(world.stand_a)) == 1


def test_the_card_shows_that_the_end_was_requested(world: World, as_role: Any) -> None:
    session = stand_session(world)
    browser = as_role("attendant")
    before = browser.get("/").get_data(as_text=True)
    assert f'action="/sessions/{session.id}/end"' in before
    assert '<p class="end-requested" hidden>' in before

    post_form(browser, f"/sessions/{session.id}/end", {"comment": ""})

    page = browser.get("/").get_data(as_text=True)
    assert '<p class="end-requested" ><span class="badge blocked">завершение запрошено' in page
    card = browser.get("/dashboard/live.json").get_json()["cards"][0]
    assert card["end_requested"] is True
    assert card["end_url"] == f"/sessions/{session.id}/end"


def test_an_ended_session_cannot_be_ended_again(world: World, as_role: Any) -> None:
    session = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(hours=1),
        ended_at=utcnow() - timedelta(minutes=30),
        cost_kopecks=30000,
    )
    Session.update(uuid=new_uuid()).where(Session.id == session.id).execute()

    response = post_form(as_role("operator"), f"/sessions/{session.id}/end", {"comment": "x"})

    assert response.status_code == 409
    assert "Сессия уже завершена" in response.get_data(as_text=True)
    assert StandCommand.select().count() == 0


def test_a_session_of_another_site_is_not_found_for_an_attendant(
    world: World, as_role: Any
) -> None:
    session = stand_session(world, world.stand_b)

    response = post_form(as_role("attendant"), f"/sessions/{session.id}/end", {"comment": "x"})

    assert response.status_code == 404
    assert StandCommand.select().count() == 0
    assert post_form(as_role("operator"), f"/sessions/{session.id}/end", {}).status_code == 302


def test_bad_requests_store_nothing(world: World, as_role: Any) -> None:
    session = stand_session(world)
    not_from_stand = add_session(world.guest, world.stand_a, world.tariff_version)
    browser = as_role("operator")

    too_long = post_form(browser, f"/sessions/{session.id}/end", {"comment": "я" * 501})
    unsynced = post_form(browser, f"/sessions/{not_from_stand.id}/end", {"comment": ""})
    missing = post_form(browser, "/sessions/999999/end", {"comment": ""})
    no_csrf = browser.post(f"/sessions/{session.id}/end", data={"comment": ""})

    assert too_long.status_code == 400
    assert "Комментарий длиннее 500 символов" in too_long.get_data(as_text=True)
    assert unsynced.status_code == 409
    assert "пост не сможет её завершить" in unsynced.get_data(as_text=True)
    assert missing.status_code == 404
    assert no_csrf.status_code == 400
    assert StandCommand.select().count() == 0


def test_the_stands_session_ended_event_makes_the_command_done(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    code = provision_stand(world.site_a, world.stand_a.name, utcnow()).code
    token = client.post("/sync/v1/enrol", json={"code": code}).get_json()["token"]
    stream = Stream(world.stand_a.id, start=utcnow())
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    response = client.post("/sync/v1/events", headers=headers(token), json={"events": [started]})
    assert response.status_code == 200
    session = Session.get(Session.uuid == session_uuid)
    command = request_end(world.users["operator"], session.id, "Клиент уехал")
    stand = Stand.get_by_id(world.stand_a.id)
    assert [row["session_uuid"] for row in pending_commands(stand)] == [session_uuid]

    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 10000)
    response = client.post("/sync/v1/events", headers=headers(token), json={"events": [ended]})

    assert response.status_code == 200
    assert pending_commands(stand) == []
    assert StandCommand.get_by_id(command.id).done_at is not None
    assert Session.get_by_id(session.id).ended_at is not None
    page = as_role("operator").get("/").get_data(as_text=True)
    assert "Сейчас открытых сессий нет." in page
