"""Card UIDs (``sync.cards``): the lengths a card may be linked with, one spelling, and the same
answer at the stand and centrally (the central service on SQLite and on PostgreSQL over HTTP,
a real stand store)."""

# ruff: noqa: F401, F811 - the central fixtures are imported by name and requested by name

from __future__ import annotations

from typing import Any

import pytest

from cloud.clients.credentials import card_uid, link_card
from cloud.errors import Conflict
from cloud.ledger.service import post_entry
from cloud.models import Client, Credential
from sync.cards import CARD_UID, CARD_UID_BYTES, compact_card_uid, normalise_card_uid
from sync.errors import RuleError
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

FELICA = "01 2E 4C D3 A1 B2 C3 D4"  # an 8-byte FeliCa IDm as a reader app shows it


def uid_of(n_bytes: int) -> str:
    return bytes(range(0xA0, 0xA0 + n_bytes)).hex().upper()


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bytes", [4, 7, 8, 10])
def test_a_uid_of_a_length_readers_report_is_accepted(n_bytes: int) -> None:
    uid = uid_of(n_bytes)
    assert normalise_card_uid(uid) == uid
    assert CARD_UID.fullmatch(uid)  # and it fits the stored form on the wire


def test_the_accepted_lengths_are_iso_14443_a_felica_and_iso_15693() -> None:
    assert CARD_UID_BYTES == (4, 7, 8, 10)


@pytest.mark.parametrize("n_bytes", [1, 2, 3, 5, 6, 9, 11, 16, 32])
def test_a_uid_of_any_other_length_is_refused(n_bytes: int) -> None:
    with pytest.raises(RuleError) as info:
        normalise_card_uid(uid_of(n_bytes))
    assert info.value.code == "bad_card_uid"
    assert "4, 7, 8 или 10 байт" in info.value.message


@pytest.mark.parametrize(
    "text",
    ["", "   ", "04A1B2C", "04A1B2C3D", "04A1B2G3", "04.A1.B2.C3", "04A1B2C3\x00", "карта"],
)
def test_a_uid_that_is_not_whole_bytes_of_hex_is_refused(text: str) -> None:
    with pytest.raises(RuleError) as info:
        normalise_card_uid(text)
    assert info.value.code == "bad_card_uid"


def test_a_value_that_is_not_text_is_refused() -> None:
    with pytest.raises(RuleError):
        normalise_card_uid(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["04a1b2c3", "04:A1:B2:C3", "04-a1-b2-c3", " 04 A1 B2 C3 ", "04:a1-B2 c3", "04\tA1B2C3"],
)
def test_separators_and_lower_case_are_normalised(text: str) -> None:
    assert normalise_card_uid(text) == "04A1B2C3"


def test_the_refusal_names_what_was_typed() -> None:
    with pytest.raises(RuleError) as info:
        normalise_card_uid(" 01:02 ")
    assert "«01:02»" in info.value.message


def test_a_tapped_uid_is_only_compacted_so_a_card_of_any_length_is_looked_up() -> None:
    assert compact_card_uid("01:02:03:04:05") == "0102030405"
    assert compact_card_uid("de ad be ef") == "DEADBEEF"


# --- the central service and the stand give the same answer ------------------------------------


@pytest.mark.parametrize("text", ["01:2e:4c:d3:a1:b2:c3:d4", "0102030405", "04A1B2C3", "XYZ"])
def test_the_central_service_answers_as_the_shared_rule(app: Any, text: str) -> None:
    try:
        expected: str | None = normalise_card_uid(text)
    except RuleError as error:
        expected, message = None, error.message
    if expected is not None:
        assert card_uid(text) == expected
    else:
        with pytest.raises(RuleError) as info:
            card_uid(text)
        assert (info.value.code, info.value.message) == ("bad_card_uid", message)


@pytest.fixture
def stand(central: Central, world: Any, direct_stand: Any) -> DirectStand:
    """An enrolled stand of site A that has loaded its directory."""
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.sync("the first sync")
    return made


def test_a_felica_card_linked_centrally_starts_a_session_at_the_stand(
    stand: DirectStand, world: Any
) -> None:
    link_card(world.users["operator"], world.member, FELICA)
    post_entry(world.member, "topup", 100_000, method="cash")
    stand.sync("the card to reach the stand")

    stand.engine.on_uid("012e4cd3a1b2c3d4")

    session = stand.store.open_session_of(world.member.id)
    assert session is not None
    assert (session.credential_kind, session.credential_value) == ("card", "012E4CD3A1B2C3D4")


def test_a_felica_card_registered_at_the_stand_is_linked_centrally(
    stand: DirectStand, world: Any
) -> None:
    attendant = world.users["attendant"].id
    local = stand.engine.register_member("Анна Смирнова", [], [], [FELICA], attendant)

    stand.sync()

    member = Client.get(Client.uuid == str(local.uuid))
    [card] = Credential.select().where(
        (Credential.client == member.id) & (Credential.kind == "card")
    )
    assert card.value == "012E4CD3A1B2C3D4"
    with pytest.raises(Conflict):  # the same card, typed another way, is that client's
        link_card(world.users["operator"], world.member, FELICA.lower().replace(" ", ":"))


@pytest.mark.parametrize("n_bytes", [2, 5, 16])
def test_the_stand_refuses_to_register_what_the_central_service_refuses_to_link(
    stand: DirectStand, world: Any, n_bytes: int
) -> None:
    with pytest.raises(RuleError) as at_stand:
        stand.engine.register_member("Анна", [], [], [uid_of(n_bytes)], world.users["attendant"].id)
    with pytest.raises(RuleError) as centrally:
        link_card(world.users["operator"], world.member, uid_of(n_bytes))
    assert at_stand.value.code == centrally.value.code == "bad_card_uid"
    assert stand.store.credential("card", uid_of(n_bytes)) is None


def test_a_card_of_another_length_already_held_centrally_still_works_at_the_stand(
    stand: DirectStand, world: Any
) -> None:
    """A 5-byte card a stand registered before the rule: the directory carries it, and a tap
    with it is recognised rather than refused as unknown."""
    Credential.create(client=world.member, kind="card", value="0102030405")
    post_entry(world.member, "topup", 100_000, method="cash")  # touches the client: re-sent
    stand.store.forget_cursor()  # a full walk brings every credential again
    stand.sync("the old card to reach the stand")

    stand.engine.on_uid("01:02:03:04:05")

    assert stand.store.open_session_of(world.member.id) is not None
