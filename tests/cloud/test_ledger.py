"""The ledger: top-ups, owner's adjustments, and the cached balance always equal to the sum."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.clients import service as clientbook
from cloud.errors import DomainError, Forbidden, NotFound, ValidationFailed
from cloud.ledger import service as ledger
from cloud.models import Client, LedgerEntry
from tests.cloud.conftest import World


def _stored_balance(client: Client) -> int:
    return int(Client.get_by_id(client.id).balance_kopecks)


def test_a_top_up_raises_the_balance_and_records_who_took_it(world: World) -> None:
    attendant = world.users["attendant"]
    entry = ledger.record_topup(attendant, world.member, 125050, "cash", site=world.site_a)
    assert entry.kind == "topup" and entry.method == "cash" and entry.amount_kopecks == 125050
    assert entry.created_by_id == attendant.id and entry.site_id == world.site_a.id
    assert world.member.balance_kopecks == 125050
    assert _stored_balance(world.member) == 125050
    assert ledger.ledger_balance(world.member) == 125050


def test_the_cached_balance_equals_the_sum_of_entries(world: World) -> None:
    owner = world.users["owner"]
    ledger.record_topup(owner, world.member, 10000, "card")
    ledger.record_topup(owner, world.member, 2500, "transfer")
    ledger.post_entry(world.member, "charge", -17000)
    ledger.adjust_balance(owner, world.member, 300, "компенсация")
    assert ledger.ledger_balance(world.member) == -4200
    assert _stored_balance(world.member) == -4200
    assert [entry.amount_kopecks for entry in ledger.topups(world.member)] == [2500, 10000]
    assert [entry.kind for entry in ledger.entries(world.member, 2, 0)] == ["adjustment", "charge"]
    assert ledger.entry_count(world.member) == 4


def test_a_stale_client_object_does_not_overwrite_the_balance(world: World) -> None:
    """Two writers holding the same client row: the SQL expression adds both amounts."""
    first = Client.get_by_id(world.member.id)
    second = Client.get_by_id(world.member.id)
    ledger.record_topup(None, first, 1000, "cash")
    ledger.record_topup(None, second, 2000, "cash")
    assert _stored_balance(world.member) == 3000 == ledger.ledger_balance(world.member)


def test_saving_a_client_read_before_a_top_up_keeps_the_new_balance(world: World) -> None:
    stale = Client.get_by_id(world.member.id)
    ledger.record_topup(None, world.member, 4000, "cash")
    clientbook.set_blocked(world.users["operator"], stale, True, "проверка")
    stored = Client.get_by_id(world.member.id)
    assert stored.blocked and stored.balance_kopecks == 4000 == ledger.ledger_balance(stored)


def test_assigning_a_balance_directly_is_refused(world: World) -> None:
    world.member.balance_kopecks = 999
    with pytest.raises(RuntimeError):
        world.member.save()
    assert _stored_balance(world.member) == 0


def test_a_blocked_client_can_still_top_up(world: World) -> None:
    clientbook.set_blocked(world.users["operator"], world.member, True, "долг")
    ledger.record_topup(world.users["attendant"], world.member, 5000, "cash")
    assert _stored_balance(world.member) == 5000


@pytest.mark.parametrize(
    ("amount", "method", "message"),
    [
        (0, "cash", "больше нуля"),
        (-100, "cash", "больше нуля"),
        ("100", "cash", "целым числом"),
        (1.5, "cash", "целым числом"),
        (True, "cash", "целым числом"),
        (100_000_001, "cash", "Слишком большая"),
        (100, "bitcoin", "способ оплаты"),
        (100, "", "способ оплаты"),
    ],
)
def test_a_bad_top_up_is_refused_with_a_message_and_nothing_stored(
    world: World, amount: Any, method: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ledger.record_topup(world.users["owner"], world.member, amount, method)
    assert message in caught.value.message
    assert LedgerEntry.select().count() == 0
    assert _stored_balance(world.member) == 0


def test_the_largest_top_up_is_accepted(world: World) -> None:
    ledger.record_topup(world.users["owner"], world.member, 100_000_000, "transfer")
    assert _stored_balance(world.member) == 100_000_000


def test_an_adjustment_can_take_money_off_with_a_reason(world: World) -> None:
    entry = ledger.adjust_balance(world.users["owner"], world.member, -2500, " ошибка кассира ")
    assert entry.kind == "adjustment" and entry.reason == "ошибка кассира"
    assert _stored_balance(world.member) == -2500


@pytest.mark.parametrize("role", ["attendant", "operator", "administrator"])
def test_only_the_owner_may_adjust_a_balance(world: World, role: str) -> None:
    with pytest.raises(Forbidden):
        ledger.adjust_balance(world.users[role], world.member, 1000, "подарок")
    assert LedgerEntry.select().count() == 0


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        (0, "ошибка", "нулевой"),
        (1000, "   ", "причину"),
        (1000, "x" * 301, "не длиннее"),
        ("1000", "ошибка", "целым числом"),
        (-100_000_001, "ошибка", "Слишком большая"),
    ],
)
def test_a_bad_adjustment_is_refused_and_nothing_stored(
    world: World, amount: Any, reason: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ledger.adjust_balance(world.users["owner"], world.member, amount, reason)
    assert message in caught.value.message
    assert LedgerEntry.select().count() == 0


def test_a_deleted_client_cannot_be_topped_up(world: World) -> None:
    clientbook.delete_client(world.users["owner"], world.guest)
    with pytest.raises(NotFound):
        ledger.record_topup(world.users["owner"], world.guest, 100, "cash")


def test_an_unknown_entry_kind_is_refused(world: World) -> None:
    with pytest.raises(DomainError):
        ledger.post_entry(world.member, "gift", 100)
    assert LedgerEntry.select().count() == 0


def test_an_entry_in_api_form(world: World) -> None:
    entry = ledger.record_topup(world.users["owner"], world.member, 700, "card")
    data = ledger.entry_to_dict(entry)
    assert data["amount_kopecks"] == 700 and data["method"] == "card" and data["kind"] == "topup"
    assert data["created_by_id"] == world.users["owner"].id and data["session_id"] is None
    assert data["created_at"].endswith("Z")
