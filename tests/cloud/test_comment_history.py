"""The client's comment history: comments written at a stand (comment.added), comments given
when a session ended at the stand or from the dashboard (session.ended), and comments written
in the central app, on the client or on one of their sessions, all on the client page in time
order with their author (the staff member, or the stand) and a link to their session."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee
import pytest

from cloud import migrations
from cloud.db import UtcDateTimeField
from cloud.migrations import upgrade
from cloud.models import (
    BaseModel,
    Client,
    Comment,
    SchemaVersion,
    Session,
    Stand,
    StandCommand,
    StandEvent,
    User,
)
from cloud.standsync import commands
from cloud.standsync.ingest import StandClock, apply_batch
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.freshdb import bound, empty_database_url
from tests.cloud.sessionrows import add_session


def push(stream: Stream, events: list[dict[str, Any]]) -> None:
    at = StandClock(
        now=stream.clock, stand_time=stream.clock, boot_id=stream.boot_id, mono_ms=stream.mono_ms
    )
    result = apply_batch(Stand.get_by_id(stream.stand_id), events, at)
    assert result.refused is None, result.refused


def commented(
    stream: Stream, client_id: int, text: str, actor: str, session_uuid: str | None = None
) -> dict[str, Any]:
    payload = {
        "comment_uuid": new_uuid(),
        "client_id": client_id,
        "client_uuid": None,
        "session_uuid": session_uuid,
        "text": text,
    }
    return stream.event("comment.added", payload, actor)


def ended(
    stream: Stream, session_uuid: str, comment: str, actor: str, method: str = "screen"
) -> dict[str, Any]:
    payload = {
        "session_uuid": session_uuid,
        "duration_s": 600,
        "cost_kopecks": 10_000,
        "method": method,
        "auto": False,
        "comment": comment,
    }
    return stream.event("session.ended", payload, actor)


def history(html: str) -> list[str]:
    """The comment texts of the client page's history, in the order shown."""
    section = html[html.index('id="comments"') :]
    return re.findall(r'<p style="white-space:pre-line">([^<]*)</p>', section)


def article(html: str, text: str) -> str:
    """The history entry holding ``text``."""
    section = html[html.index('id="comments"') :]
    start = section.rindex("<article", 0, section.index(text))
    return section[start : section.index("</article>", start)]


def test_stand_and_central_comments_show_in_time_order_with_authors_and_sessions(
    world: World, as_role: Any
) -> None:
    attendant, operator = world.users["attendant"], world.users["operator"]
    stream = Stream(world.stand_a.id)
    first, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(60)
    on_session = commented(stream, world.member.id, "Просил пену погуще", str(attendant.id), first)
    stream.wait(60)
    on_client = commented(stream, world.member.id, "Постоянный клиент", str(attendant.id))
    stream.wait(480)
    end = ended(stream, first, "Царапина на левой двери", str(attendant.id))
    stream.wait(60)
    second, started_again = stream.started(world.member.id, world.tariff_version.id)
    push(stream, [started, on_session, on_client, end, started_again])
    # Forgotten: an operator ends it from the dashboard; the stand ends it at its next poll.
    second_id = Session.get(Session.uuid == second).id
    browser = as_role("operator")
    post_form(browser, f"/sessions/{second_id}/end", {"comment": "Забыли завершить"})
    (command,) = commands.pending_commands(Stand.get_by_id(world.stand_a.id))
    stream.wait(3600)
    remote_end = ended(
        stream, second, command["comment"], str(command["issued_by"]), method="dashboard"
    )
    third, started_third = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(30)
    unknown_staff = ended(stream, third, "Ушёл не заплатив", "987654")
    push(stream, [remote_end, started_third, unknown_staff])
    # In the central app, later: on the client, and on the first session.
    post_form(browser, f"/clients/{world.member.id}/comments", {"text": "Звонили, извинились"})
    first_id = Session.get(Session.uuid == first).id
    post_form(browser, f"/sessions/{first_id}/comments", {"text": "Дверь проверили: не мы"})

    html = browser.get(f"/clients/{world.member.id}").get_data(as_text=True)

    assert history(html) == [
        "Просил пену погуще",
        "Постоянный клиент",
        "Царапина на левой двери",
        "Забыли завершить",
        "Ушёл не заплатив",
        "Звонили, извинились",
        "Дверь проверили: не мы",
    ]
    first_link = f'href="/sessions/{first_id}"'
    assert attendant.full_name in article(html, "Просил пену погуще")
    assert first_link in article(html, "Просил пену погуще")
    assert "Мойка на Ленина, Пост 1" in article(html, "Просил пену погуще")
    assert "/sessions/" not in article(html, "Постоянный клиент")
    assert attendant.full_name in article(html, "Царапина на левой двери")
    assert first_link in article(html, "Царапина на левой двери")
    assert operator.full_name in article(html, "Забыли завершить")
    assert f'href="/sessions/{second_id}"' in article(html, "Забыли завершить")
    assert "пост «Пост 1»" in article(html, "Ушёл не заплатив")
    assert operator.full_name in article(html, "Звонили, извинились")
    assert "Мойка на Ленина" not in article(html, "Звонили, извинились")
    assert first_link in article(html, "Дверь проверили: не мы")
    assert StandCommand.get().done_at is not None
    assert Session.get(Session.uuid == first).comment == "Царапина на левой двери"


def test_an_end_resent_after_a_reboot_keeps_one_comment(world: World) -> None:
    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    staff = str(world.users["attendant"].id)
    push(stream, [started, ended(stream, session_uuid, "Мыл дважды", staff)])
    stream.reboot(stream.clock + timedelta(minutes=5))

    push(stream, [ended(stream, session_uuid, "Мыл дважды", staff)])

    assert [c.text for c in Comment.select()] == ["Мыл дважды"]
    assert StandEvent.select().where(StandEvent.flag == "session_already_ended").count() == 1


def test_an_end_without_a_comment_adds_none(world: World) -> None:
    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)

    push(stream, [started, ended(stream, session_uuid, "", "card", method="card")])

    assert Comment.select().count() == 0


def test_the_session_page_shows_the_session_and_takes_a_comment(world: World, as_role: Any) -> None:
    session = add_session(world.member, world.stand_a, world.tariff_version)
    attendant = as_role("attendant")

    page = attendant.get(f"/sessions/{session.id}")
    added = post_form(attendant, f"/sessions/{session.id}/comments", {"text": "Коврики забыли"})

    assert page.status_code == 200
    assert f'href="/clients/{world.member.id}"' in page.get_data(as_text=True)
    assert added.status_code == 302
    assert added.headers["Location"].endswith(f"/sessions/{session.id}")
    stored = Comment.get()
    assert (stored.text, stored.session_id, stored.client_id, stored.author_id) == (
        "Коврики забыли",
        session.id,
        world.member.id,
        world.users["attendant"].id,
    )
    assert "Коврики забыли" in attendant.get(f"/sessions/{session.id}").get_data(as_text=True)


@pytest.mark.parametrize("text", ["", "   ", "х" * 2001], ids=["empty", "blank", "too-long"])
def test_a_bad_session_comment_is_refused_and_nothing_stored(
    world: World, as_role: Any, text: str
) -> None:
    session = add_session(world.member, world.stand_a, world.tariff_version)

    response = post_form(as_role("operator"), f"/sessions/{session.id}/comments", {"text": text})

    assert response.status_code == 400
    assert "омментарий" in response.get_data(as_text=True)
    assert Comment.select().count() == 0


def test_an_attendant_cannot_see_or_comment_a_session_of_another_site(
    world: World, as_role: Any
) -> None:
    session = add_session(world.other_site_client, world.stand_b, world.tariff_version)
    attendant = as_role("attendant")

    assert attendant.get(f"/sessions/{session.id}").status_code == 404
    posted = post_form(attendant, f"/sessions/{session.id}/comments", {"text": "Чужая"})

    assert posted.status_code == 404
    assert Comment.select().count() == 0


def test_a_comment_on_the_client_page_can_name_one_of_the_clients_sessions(
    world: World, as_role: Any
) -> None:
    own = add_session(world.member, world.stand_a, world.tariff_version)
    others = add_session(world.guest, world.stand_a, world.tariff_version)
    browser = as_role("operator")
    path = f"/clients/{world.member.id}/comments"

    page = browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    good = post_form(browser, path, {"text": "Про сессию", "session_id": str(own.id)})
    wrong = post_form(browser, path, {"text": "Не та", "session_id": str(others.id)})
    missing = post_form(browser, path, {"text": "Нет такой", "session_id": "99999"})

    assert f'<option value="{own.id}"' in page
    assert good.status_code == 302
    assert wrong.status_code == 400 and "Сессия другого клиента" in wrong.get_data(as_text=True)
    assert missing.status_code == 404
    assert [(c.text, c.session_id) for c in Comment.select()] == [("Про сессию", own.id)]


# --- schema version 9 ----------------------------------------------------------------------------


class CommentBefore9(BaseModel):
    """The comment table as versions before 9 had it: no stand."""

    client = peewee.ForeignKeyField(Client, on_delete="CASCADE")
    session = peewee.ForeignKeyField(Session, null=True, on_delete="SET NULL")
    author = peewee.ForeignKeyField(User, null=True, on_delete="SET NULL")
    text = peewee.TextField()
    created_at = UtcDateTimeField(index=True)

    class Meta:
        table_name = "comment"


def as_before_9(database: peewee.Database) -> None:
    """Rebuild the comment table as before version 9, keeping its rows (without their stand)."""
    columns = [Comment.client, Comment.session, Comment.author, Comment.text]
    rows = list(Comment.select(*columns, Comment.created_at).dicts())
    database.drop_tables([Comment])
    database.create_tables([CommentBefore9])
    CommentBefore9.insert_many(rows).execute()
    assert "stand_id" not in {column.name for column in database.get_columns("comment")}


def test_upgrading_to_version_9_brings_end_comments_into_the_history_once(
    app: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of the version before 9: the comment table without its stand; a session
    ended with a comment at the stand (only in Session.comment), one whose comment is already
    in the history (demo data wrote both), and a comment that came with a stand event."""
    up_to_9 = [step for step in migrations.MIGRATIONS if step[0] <= 9]
    before = max(number for number, _step in up_to_9 if number < 9)
    monkeypatch.setattr(migrations, "MIGRATIONS", up_to_9)
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        upgrade(database)
        world = World()
        stream = Stream(world.stand_a.id)
        staff = str(world.users["attendant"].id)
        member = world.member.id
        first, started = stream.started(member, world.tariff_version.id)
        stream.wait(60)
        note = commented(stream, member, "С пылесосом", staff)
        stream.wait(600)
        push(stream, [started, note, ended(stream, first, "Грязный салон", staff)])
        second, started_again = stream.started(member, world.tariff_version.id)
        stream.wait(600)
        push(stream, [started_again, ended(stream, second, "Уже в истории", staff)])
        Comment.delete().where(Comment.text == "Грязный салон").execute()
        as_before_9(database)
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=before)

        assert upgrade(database) == (before, 9)

        rows = {c.text: (c.session_id, c.author_id, c.stand_id) for c in Comment.select()}
        first_id = Session.get(Session.uuid == first).id
        second_id = Session.get(Session.uuid == second).id
        assert rows == {
            "С пылесосом": (None, int(staff), world.stand_a.id),
            "Грязный салон": (first_id, int(staff), world.stand_a.id),
            "Уже в истории": (second_id, int(staff), world.stand_a.id),
        }
        backfilled = Comment.get(Comment.text == "Грязный салон")
        assert backfilled.created_at == Session.get_by_id(first_id).ended_at
        assert upgrade(database) == (9, 9)
        assert Comment.select().count() == 3


def test_the_schema_9_comment_table_has_its_stand_column(world: World) -> None:
    columns = {c.name for c in Comment._meta.database.get_columns("comment")}
    assert "stand_id" in columns
    assert isinstance(Comment.stand, peewee.ForeignKeyField)
