"""The client service: registering, normalising, scope, search, credentials, promotion,
blocking, deletion, QR codes and comments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from cloud.clients import comments as client_comments
from cloud.clients import credentials as client_credentials
from cloud.clients import scope as client_scope
from cloud.clients import search as client_search
from cloud.clients import service as clientbook
from cloud.clients.qrkeys import public_key
from cloud.errors import Conflict, DomainError, NotFound, ValidationFailed
from cloud.ledger import service as ledger
from cloud.models import (
    AuditEntry,
    Client,
    ClientPhone,
    Comment,
    Credential,
    LedgerEntry,
    Session,
    Tariff,
)
from sync import qrtoken
from sync.errors import RuleError
from tests.cloud.conftest import World


def _counts() -> tuple[int, int, int]:
    return Client.select().count(), Credential.select().count(), ClientPhone.select().count()


def _session(world: World, client: Client, *, at_site_b: bool = False, ended: bool = True) -> Any:
    started = datetime.now(UTC) - timedelta(hours=1)
    return Session.create(
        client=client,
        stand=world.stand_b if at_site_b else world.stand_a,
        site=world.site_b if at_site_b else world.site_a,
        tariff_version=world.tariff_version,
        client_kind=client.kind,
        started_at=started,
        ended_at=started + timedelta(minutes=12) if ended else None,
        duration_s=720 if ended else None,
        cost_kopecks=12000 if ended else None,
        start_method="card",
    )


def _ids(clients: list[Client]) -> set[int]:
    return {client.id for client in clients}


# --- registering ------------------------------------------------------------------------------


def test_registering_a_member_stores_normalised_phones_plates_and_cards(world: World) -> None:
    client = clientbook.create_client(
        world.users["operator"],
        kind="member",
        name="  Пётр   Сидоров ",
        phones=["8 (926) 555-44-33", "+7 926 555 44 33", "9031112233"],
        email="petr@example.ru",
        plates=["в456ек 197", "B456EK197"],
        cards=["04:a1:b2:c3:d4:e5:99", "deadbeef"],
        default_tariff_id=world.tariff.id,
        note="VIP",
        site_id=world.site_b.id,
    )
    data = clientbook.client_to_dict(client)
    assert data["name"] == "Пётр Сидоров"
    assert data["phones"] == ["+79265554433", "+79031112233"]
    assert data["plates"] == ["В456ЕК197"]
    assert data["cards"] == ["04A1B2C3D4E599", "DEADBEEF"]
    assert data["lost_cards"] == []
    assert data["kind"] == "member" and data["member_since"] is not None
    assert data["default_tariff_id"] == world.tariff.id
    assert data["home_site_id"] == world.site_b.id
    assert data["balance_kopecks"] == 0 and data["blocked"] is False
    assert data["created_at"].endswith("Z")
    assert Client.get_by_id(client.id).created_by_id == world.users["operator"].id


def test_a_guest_is_registered_by_a_plate_alone(world: World) -> None:
    guest = clientbook.create_client(world.users["attendant"], kind="guest", plates=["x 001 xx 99"])
    assert guest.kind == "guest" and guest.name == "" and guest.member_since is None
    assert clientbook.client_to_dict(guest)["plates"] == ["Х001ХХ99"]
    assert guest.home_site_id == world.site_a.id  # the attendant's only site


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "member", "name": "  "}, "имя"),
        ({"kind": "guest", "plates": []}, "номер автомобиля"),
        ({"kind": "vip", "name": "Кто-то"}, "Тип клиента"),
        ({"kind": "member", "name": "Анна", "phones": ["12-34"]}, "Некорректный номер телефона"),
        ({"kind": "member", "name": "Анна", "email": "anna@"}, "электронной почты"),
        ({"kind": "guest", "plates": ["!!"]}, "Некорректный номер автомобиля"),
        ({"kind": "member", "name": "Анна", "cards": ["04A1B2"]}, "Некорректный номер карты"),
        ({"kind": "member", "name": "Анна", "cards": ["04A1B2C3ZZ"]}, "Некорректный номер карты"),
        ({"kind": "member", "name": "Анна", "default_tariff_id": 9999}, "Тариф"),
        ({"kind": "member", "name": "А" * 201}, "не длиннее"),
        ({"kind": "member", "name": "Анна", "note": "x" * 2001}, "не длиннее"),
    ],
)
def test_bad_registration_is_refused_with_a_message_and_nothing_stored(
    world: World, fields: dict[str, Any], message: str
) -> None:
    before = _counts()
    with pytest.raises((DomainError, RuleError)) as caught:
        clientbook.create_client(world.users["operator"], **fields)
    assert message.lower() in caught.value.message.lower()
    assert _counts() == before


def test_an_inactive_tariff_cannot_be_the_default(world: World) -> None:
    Tariff.update(active=False).where(Tariff.id == world.tariff.id).execute()
    with pytest.raises(Conflict, match="Тариф"):
        clientbook.create_client(
            world.users["operator"], kind="member", name="Анна", default_tariff_id=world.tariff.id
        )


def test_an_attendant_cannot_register_a_client_at_another_site(world: World) -> None:
    with pytest.raises(NotFound, match="Площадка"):
        clientbook.create_client(
            world.users["attendant"], kind="guest", plates=["Р100РР10"], site_id=world.site_b.id
        )
    assert not Credential.select().where(Credential.value == "Р100РР10").exists()


def test_a_plate_linked_to_another_client_is_a_conflict_naming_it_and_stores_nothing(
    world: World,
) -> None:
    before = _counts()
    with pytest.raises(Conflict) as caught:
        clientbook.create_client(
            world.users["operator"],
            kind="member",
            name="Новый",
            phones=["+79990001122"],
            cards=["AABBCCDD"],
            plates=["a123bc77"],
        )
    assert caught.value.status == 409
    assert "А123ВС77" in caught.value.message and "Иван Петров" in caught.value.message
    assert _counts() == before
    assert not Credential.select().where(Credential.value == "AABBCCDD").exists()


def test_a_card_linked_to_another_client_is_a_conflict(world: World) -> None:
    with pytest.raises(Conflict, match="04A1B2C3D4E5F6"):
        clientbook.create_client(
            world.users["operator"], kind="member", name="Новый", cards=["04 a1 b2 c3 d4 e5 f6"]
        )


def test_a_clash_with_another_sites_client_does_not_tell_an_attendant_its_name(
    world: World,
) -> None:
    with pytest.raises(Conflict) as caught:
        clientbook.create_client(world.users["attendant"], kind="guest", plates=["E001KX50"])
    assert "Ольга" not in caught.value.message
    assert "Е001КХ50" in caught.value.message


# --- scope and search -------------------------------------------------------------------------


def test_an_attendant_does_not_see_another_sites_client(world: World) -> None:
    attendant = world.users["attendant"]
    with pytest.raises(NotFound):
        client_scope.get_client(attendant, world.other_site_client.id)
    rows, total = client_search.search_clients(attendant)
    assert world.other_site_client.id not in _ids(rows)
    assert total == 2
    assert client_scope.get_client(world.users["operator"], world.other_site_client.id)


def test_an_attendant_sees_a_client_who_washed_at_their_site(world: World) -> None:
    _session(world, world.other_site_client)
    rows, _total = client_search.search_clients(world.users["attendant"], q="гагарина")
    assert _ids(rows) == {world.other_site_client.id}
    assert client_scope.get_client(world.users["attendant"], world.other_site_client.id)


@pytest.mark.parametrize(
    "query",
    [
        "иван",
        "ПЕТРОВ",
        "Иван Петров",
        "a123bc77",
        "A 123 BC",
        "а123",
        "123ВС",
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "1234567",
        "8916",
        "04:a1:b2:c3:d4:e5:f6",
        "c3d4e5",
    ],
)
def test_search_finds_the_member_by_name_plate_phone_or_card(world: World, query: str) -> None:
    rows, total = client_search.search_clients(world.users["operator"], q=query)
    assert world.member.id in _ids(rows), query
    assert total == len(rows)


def test_a_cyrillic_plate_is_found_when_typed_in_latin_letters(world: World) -> None:
    client = clientbook.create_client(world.users["operator"], kind="guest", plates=["Т222ТТ77"])
    rows, _total = client_search.search_clients(world.users["operator"], q="t222tt77")
    assert _ids(rows) == {client.id}


def test_search_by_name_ignores_case_and_yo(world: World) -> None:
    client = clientbook.create_client(world.users["operator"], kind="member", name="Фёдор Ёлкин")
    for query in ("ФЕДОР", "ёлкин", "елкин"):
        rows, _total = client_search.search_clients(world.users["operator"], q=query)
        assert _ids(rows) == {client.id}, query


def test_search_does_not_treat_like_wildcards_as_wildcards(world: World) -> None:
    rows, total = client_search.search_clients(world.users["operator"], q="%")
    assert rows == [] and total == 0


def test_search_filters_by_kind_site_and_blocked(world: World) -> None:
    operator = world.users["operator"]
    clientbook.set_blocked(operator, world.guest, True, "долг")
    guests, _ = client_search.search_clients(operator, kind="guest")
    assert _ids(guests) == {world.guest.id}
    site_b, _ = client_search.search_clients(operator, site_id=world.site_b.id)
    assert _ids(site_b) == {world.other_site_client.id}
    blocked, _ = client_search.search_clients(operator, blocked=True)
    assert _ids(blocked) == {world.guest.id}
    not_blocked, _ = client_search.search_clients(operator, blocked=False)
    assert world.guest.id not in _ids(not_blocked)


def test_search_pages_results(world: World) -> None:
    first, total = client_search.search_clients(world.users["operator"], limit=2)
    second, _ = client_search.search_clients(world.users["operator"], limit=2, offset=2)
    assert total == 3 and len(first) == 2 and len(second) == 1
    assert not _ids(first) & _ids(second)


# --- credentials ------------------------------------------------------------------------------


def test_linking_unlinking_and_reusing_a_plate(world: World) -> None:
    operator = world.users["operator"]
    plate = client_credentials.link_plate(operator, world.member, "м777мм77")
    assert plate.value == "М777ММ77"
    with pytest.raises(Conflict, match="этому клиенту"):
        client_credentials.link_plate(operator, world.member, "M777MM77")
    with pytest.raises(Conflict, match="Иван Петров"):
        client_credentials.link_plate(operator, world.guest, "M777MM77")
    client_credentials.unlink_credential(operator, world.member, plate.id)
    assert Credential.get_by_id(plate.id).unlinked_at is not None
    reused = client_credentials.link_plate(operator, world.guest, "M777MM77")
    assert reused.client_id == world.guest.id
    assert "М777ММ77" not in clientbook.client_to_dict(world.member)["plates"]


def test_a_lost_card_stays_linked_and_cannot_be_given_to_someone_else(world: World) -> None:
    operator = world.users["operator"]
    card = Credential.get((Credential.client == world.member) & (Credential.kind == "card"))
    client_credentials.mark_card_lost(operator, world.member, card.id)
    data = clientbook.client_to_dict(world.member)
    assert data["cards"] == [] and data["lost_cards"] == ["04A1B2C3D4E5F6"]
    with pytest.raises(Conflict):
        client_credentials.link_card(operator, world.guest, "04A1B2C3D4E5F6")


def test_only_a_card_can_be_marked_lost(world: World) -> None:
    plate = Credential.get((Credential.client == world.member) & (Credential.kind == "plate"))
    with pytest.raises(NotFound):  # a plate is no card: "no such card"
        client_credentials.mark_card_lost(world.users["operator"], world.member, plate.id)


def test_another_clients_credential_cannot_be_unlinked_through_this_client(world: World) -> None:
    plate = Credential.get(Credential.client == world.guest)
    with pytest.raises(NotFound):
        client_credentials.unlink_credential(world.users["operator"], world.member, plate.id)
    assert Credential.get_by_id(plate.id).unlinked_at is None


# --- changing, promoting, blocking, deleting --------------------------------------------------


def test_updating_a_client_changes_only_the_given_fields(world: World) -> None:
    operator = world.users["operator"]
    clientbook.update_client(operator, world.member, email="new@example.ru", phones=["89030000000"])
    client = Client.get_by_id(world.member.id)
    assert client.email == "new@example.ru" and client.name == "Иван Петров"
    assert clientbook.phones_of(client) == ["+79030000000"]
    with pytest.raises(ValidationFailed, match="balance_kopecks"):
        clientbook.update_client(operator, world.member, balance_kopecks=100)
    with pytest.raises(ValidationFailed):
        clientbook.update_client(operator, world.member, name="")
    assert Client.get_by_id(world.member.id).name == "Иван Петров"


def test_promoting_a_guest_keeps_id_history_and_plates(world: World) -> None:
    operator = world.users["operator"]
    guest = world.guest
    _session(world, guest)
    ledger.record_topup(operator, guest, 50000, "cash")
    member = clientbook.promote_to_member(
        operator, guest, name="Олег Гостев", phones=["+79001112233"], cards=["11223344"]
    )
    stored = Client.get_by_id(guest.id)
    assert member.id == guest.id and stored.kind == "member" and stored.member_since is not None
    data = clientbook.client_to_dict(stored)
    assert data["plates"] == ["О777ОО99"] and data["cards"] == ["11223344"]
    assert data["balance_kopecks"] == 50000
    assert Session.select().where(Session.client == guest.id).count() == 1
    with pytest.raises(Conflict):
        clientbook.promote_to_member(operator, stored, name="Ещё раз")


def test_promotion_with_a_taken_card_changes_nothing(world: World) -> None:
    with pytest.raises(Conflict):
        clientbook.promote_to_member(
            world.users["operator"], world.guest, name="Олег", cards=["04A1B2C3D4E5F6"]
        )
    assert Client.get_by_id(world.guest.id).kind == "guest"


def test_blocking_and_unblocking(world: World) -> None:
    operator = world.users["operator"]
    clientbook.set_blocked(operator, world.member, True, "  не платит  ")
    stored = Client.get_by_id(world.member.id)
    assert stored.blocked and stored.blocked_reason == "не платит"
    clientbook.set_blocked(operator, stored, False)
    stored = Client.get_by_id(world.member.id)
    assert not stored.blocked and stored.blocked_reason == ""


def test_deleting_frees_credentials_and_keeps_the_ledger(world: World) -> None:
    operator = world.users["owner"]
    ledger.record_topup(operator, world.member, 10000, "card")
    ledger.adjust_balance(operator, world.member, -10000, "возврат наличными")
    clientbook.delete_client(operator, world.member)
    assert Client.get_by_id(world.member.id).deleted_at is not None
    with pytest.raises(NotFound):
        client_scope.get_client(operator, world.member.id)
    assert world.member.id not in _ids(client_search.search_clients(operator, q="Иван")[0])
    assert LedgerEntry.select().where(LedgerEntry.client == world.member.id).count() == 2
    newcomer = clientbook.create_client(
        operator, kind="member", name="Новый", plates=["А123ВС77"], cards=["04A1B2C3D4E5F6"]
    )
    assert clientbook.client_to_dict(newcomer)["cards"] == ["04A1B2C3D4E5F6"]


@pytest.mark.parametrize(
    ("money", "points", "code", "words"),
    [
        (150050, 0, "balance_not_zero", "На счёте клиента 1\xa0500,50\xa0₽."),
        (-30000, 0, "debt_not_settled", "У клиента долг 300,00\xa0₽."),
        (0, 40, "points_not_zero", "40 бонусных баллов"),
    ],
)
def test_a_client_with_money_a_debt_or_points_is_not_deleted_until_settled(
    world: World, money: int, points: int, code: str, words: str
) -> None:
    owner = world.users["owner"]
    if money:
        ledger.adjust_balance(owner, world.member, money, "до удаления")
    if points:
        ledger.post_entry(world.member, "bonus_adjustment", 0, amount_points=points)
    with pytest.raises(Conflict) as refused:
        clientbook.delete_client(owner, world.member)
    assert refused.value.code == code and words in refused.value.message
    assert Client.get_by_id(world.member.id).deleted_at is None
    assert clientbook.client_to_dict(Client.get_by_id(world.member.id))["cards"]  # nothing freed

    if money:
        ledger.adjust_balance(owner, world.member, -money, "расчёт перед удалением")
    if points:
        ledger.post_entry(world.member, "bonus_adjustment", 0, amount_points=-points)
    clientbook.delete_client(owner, Client.get_by_id(world.member.id))
    assert Client.get_by_id(world.member.id).deleted_at is not None


def test_a_deleted_client_is_listed_for_the_owner_and_restored_with_history(
    world: World,
) -> None:
    owner = world.users["owner"]
    ledger.record_topup(owner, world.guest, 5000, "cash")
    ledger.adjust_balance(owner, world.guest, -5000, "вернули")
    clientbook.delete_client(owner, world.guest)
    rows, total = clientbook.deleted_clients(50, 0)
    assert [row.id for row in rows] == [world.guest.id] and total == 1

    clientbook.restore_client(owner, clientbook.get_deleted_client(world.guest.id))
    restored = AuditEntry.get(AuditEntry.action == "client.restored")
    assert (restored.target_id, json.loads(restored.after)) == (
        world.guest.id,
        {"deleted_at": None},
    )
    assert json.loads(restored.before)["deleted_at"] is not None

    assert client_scope.get_client(owner, world.guest.id).deleted_at is None
    assert clientbook.deleted_clients(50, 0) == ([], 0)
    assert LedgerEntry.select().where(LedgerEntry.client == world.guest.id).count() == 2
    with pytest.raises(NotFound):
        clientbook.get_deleted_client(world.guest.id)


def test_a_client_with_an_open_session_cannot_be_deleted(world: World) -> None:
    _session(world, world.member, ended=False)
    with pytest.raises(Conflict, match="сессия"):
        clientbook.delete_client(world.users["owner"], world.member)
    assert Client.get_by_id(world.member.id).deleted_at is None


# --- QR codes ---------------------------------------------------------------------------------


def test_a_qr_token_verifies_with_the_public_key_and_reissue_revokes_the_old_one(
    app: Flask, world: World
) -> None:
    config = app.config["AQ"]
    operator = world.users["operator"]
    assert client_credentials.current_qr(operator, world.member, config) is None
    first = client_credentials.ensure_qr(operator, world.member, config)
    claims = qrtoken.verify(public_key(config), first)
    assert claims.client_id == world.member.id
    assert client_credentials.current_qr(operator, world.member, config) == first
    assert client_credentials.ensure_qr(operator, world.member, config) == first

    second = client_credentials.issue_qr(operator, world.member, config)
    new_claims = qrtoken.verify(public_key(config), second)
    assert new_claims.token_id != claims.token_id
    old = Credential.get((Credential.kind == "qr") & (Credential.value == claims.token_id))
    assert old.unlinked_at is not None
    active = Credential.select().where((Credential.kind == "qr") & Credential.unlinked_at.is_null())
    assert [row.value for row in active] == [new_claims.token_id]
    assert client_credentials.current_qr(operator, world.member, config) == second


# --- comments ---------------------------------------------------------------------------------


def test_comments_come_back_in_time_order(world: World) -> None:
    operator = world.users["operator"]
    client_comments.add_comment(operator, world.member, "первый")
    client_comments.add_comment(world.users["attendant"], world.member, "второй")
    texts = [comment.text for comment in client_comments.comments_of(world.member)]
    assert texts == ["первый", "второй"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_an_empty_or_too_long_comment_is_refused(world: World, text: str) -> None:
    with pytest.raises(ValidationFailed):
        client_comments.add_comment(world.users["operator"], world.member, text)
    assert Comment.select().count() == 0


def test_a_comment_on_another_clients_session_is_refused(world: World) -> None:
    session = _session(world, world.guest)
    with pytest.raises(ValidationFailed):
        client_comments.add_comment(world.users["operator"], world.member, "текст", session=session)
