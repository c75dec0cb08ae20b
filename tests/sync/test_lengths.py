"""Name and comment lengths (``sync.lengths``): what one side accepts, the wire and the other
side accept; one character more is refused on both sides (the central service on SQLite and
on PostgreSQL over HTTP, a real stand store)."""

# ruff: noqa: F401, F811 - the central fixtures are imported by name and requested by name

from __future__ import annotations

from typing import Any

import pytest

from cloud.clients.comments import add_comment
from cloud.clients.service import create_client
from cloud.errors import ValidationFailed
from cloud.models import Client, Comment
from cloud.staff.service import create_staff
from sync.errors import RuleError
from sync.lengths import MAX_COMMENT, MAX_NAME
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

LONGEST_NAME = "Анна " + "я" * (MAX_NAME - 5)
LONGEST_COMMENT = "ж" * MAX_COMMENT


@pytest.fixture
def stand(central: Central, world: Any, direct_stand: Any) -> DirectStand:
    """An enrolled stand of site A that has loaded its directory."""
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.sync("the first sync")
    return made


def test_the_longest_name_and_comment_typed_at_the_stand_reach_the_central_service(
    stand: DirectStand, world: Any
) -> None:
    attendant = world.users["attendant"].id
    local = stand.engine.register_member(LONGEST_NAME, [], [], [], attendant)
    stand.engine.add_comment(local.id, LONGEST_COMMENT, attendant)

    stand.sync()

    member = Client.get(Client.uuid == str(local.uuid))
    assert member.name == LONGEST_NAME
    assert [c.text for c in Comment.select().where(Comment.client == member.id)] == [
        LONGEST_COMMENT
    ]


def test_the_longest_names_typed_centrally_reach_the_stand(stand: DirectStand, world: Any) -> None:
    member = create_client(None, kind="member", name=LONGEST_NAME, site_id=world.site_a.id)
    add_comment(None, member, LONGEST_COMMENT)
    staff = create_staff(
        name=LONGEST_NAME,
        phone="+79005550199",
        role="attendant",
        password="длинный-пароль-1",
        pin="753102",
        site_names=[world.site_a.name],
    )

    stand.sync("the directory with the long names")

    at_stand = stand.store.client(member.id)
    assert at_stand is not None and at_stand.name == LONGEST_NAME
    assert stand.store.tables.DirStaff.get_by_id(staff.id).full_name == LONGEST_NAME


def test_one_character_more_is_refused_on_both_sides(stand: DirectStand, world: Any) -> None:
    attendant = world.users["attendant"].id
    with pytest.raises(RuleError) as name_at_stand:
        stand.engine.register_member(LONGEST_NAME + "я", [], [], [], attendant)
    with pytest.raises(ValidationFailed) as name_centrally:
        create_client(None, kind="member", name=LONGEST_NAME + "я", site_id=world.site_a.id)
    with pytest.raises(RuleError) as comment_at_stand:
        stand.engine.add_comment(world.member.id, LONGEST_COMMENT + "ж", attendant)
    with pytest.raises(ValidationFailed) as comment_centrally:
        add_comment(None, world.member, LONGEST_COMMENT + "ж")

    for refusal in (name_at_stand, name_centrally):
        assert str(MAX_NAME) in refusal.value.message
    for refusal in (comment_at_stand, comment_centrally):
        assert str(MAX_COMMENT) in refusal.value.message
    assert stand.store.outbox_size() == 0
