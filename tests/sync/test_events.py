"""The event envelope and its typed payloads: good events read back to what was written, bad
ones are refused with a message naming the field."""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.errors import RuleError
from sync.events import EVENT_TYPES, PAYLOAD_READERS, validate_event

A = "0b4a2f0e-8d3c-4f7e-9a61-2f5b8c9d0e1f"
B = "5f0c9e1d-2b3a-4c5d-8e7f-6a7b8c9d0e1f"
C = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

PAYLOADS: dict[str, dict[str, Any]] = {
    "session.started": {
        "session_uuid": A,
        "client_id": 7,
        "client_uuid": None,
        "tariff_version_id": 3,
        "client_kind": "member",
        "method": "card",
        "credential_kind": "card",
        "credential_value": "04A1B2C3",
    },
    "session.ended": {
        "session_uuid": A,
        "duration_s": 630,
        "cost_kopecks": 11000,
        "method": "card",
        "auto": False,
        "comment": "",
    },
    "topup.recorded": {
        "topup_uuid": A,
        "client_id": None,
        "client_uuid": B,
        "amount_kopecks": 50000,
        "method": "cash",
    },
    "comment.added": {
        "comment_uuid": A,
        "client_id": 7,
        "client_uuid": None,
        "session_uuid": B,
        "text": "Помыл коврики",
    },
    "guest.registered": {"client_uuid": A, "plate": "А123ВС77"},
    "client.registered": {
        "client_uuid": A,
        "name": "Иван Петров",
        "phones": ["+79161234567"],
        "plates": ["А123ВС77"],
        "cards": ["04A1B2C3"],
        "guest_client_id": 12,
        "guest_client_uuid": None,
    },
    "card.linked": {"client_id": 7, "client_uuid": None, "uid": "04A1B2C3"},
    "tap.refused": {
        "credential_kind": "qr",
        "credential_value": "AQ1.garbage",
        "reason": "forged",
        "client_id": None,
    },
    "shift.opened": {"shift_uuid": A, "cash_kopecks": 150000},
    "shift.closed": {"shift_uuid": A, "counted_kopecks": 0},
    "command.refused": {"command_id": 31, "session_uuid": A, "reason": "post_busy"},
}


def event(event_type: str = "session.started", **changes: Any) -> dict[str, Any]:
    return {
        "id": C,
        "stand_id": 4,
        "seq": 17,
        "type": event_type,
        "occurred_at": "2024-06-10T06:13:20.123456Z",
        "boot_id": B,
        "mono_ms": 5230114,
        "actor": "card",
        "directory_version": 1718000000000,
        "payload": copy.deepcopy(PAYLOADS[event_type]),
        **changes,
    }


def test_every_type_has_an_example_here() -> None:
    assert set(PAYLOADS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_good_event_reads_back_to_what_was_written(event_type: str) -> None:
    parsed = validate_event(event(event_type))

    assert parsed.to_dict() == event(event_type)
    assert validate_event(json.loads(json.dumps(parsed.to_dict()))) == parsed
    assert parsed.occurred_at == datetime(2024, 6, 10, 6, 13, 20, 123456, tzinfo=UTC)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_payload_is_read_into_its_frozen_dataclass_and_gives_the_same_json(
    event_type: str,
) -> None:
    parsed = validate_event(event(event_type))

    assert type(parsed.data) is typing.get_type_hints(PAYLOAD_READERS[event_type])["return"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.data.client_id = 1  # type: ignore[misc, union-attr]
    # The same text, key order included: the central service stores it as sent.
    assert json.dumps(parsed.payload) == json.dumps(PAYLOADS[event_type])


def test_points_spent_on_a_session_are_in_its_payload_only_when_some_were() -> None:
    spent = with_payload("session.ended", points_spent=50, points_kopecks=5000)

    assert validate_event(spent).to_dict() == spent
    assert "points_spent" not in validate_event(event("session.ended")).payload


@pytest.mark.parametrize("actor", ["card", "qr", "auto", "1", "123456"])
def test_actors_are_staff_ids_or_the_customer_or_the_stand(actor: str) -> None:
    assert validate_event(event(actor=actor)).actor == actor


def test_an_event_stamped_before_the_clock_was_set_is_still_accepted() -> None:
    parsed = validate_event(event(occurred_at="1970-01-01T00:00:42Z", mono_ms=42_000))

    assert parsed.occurred_at.year == 1970  # the central service corrects it from mono_ms


def test_unknown_payload_keys_are_dropped() -> None:
    raw = event()
    raw["payload"]["colour"] = "green"

    assert "colour" not in validate_event(raw).payload


def with_payload(event_type: str, **changes: Any) -> dict[str, Any]:
    raw = event(event_type)
    raw["payload"].update(changes)
    return raw


def without(key: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        raw = event()
        raw.pop(key)
        return raw

    return make


BAD: list[tuple[Any, str]] = [
    ("not an event", "нужен объект"),
    (without("id")(), "«id» — обязательное поле отсутствует"),
    (without("payload")(), "«payload» — обязательное поле отсутствует"),
    (event(id="123"), "«id» — неверный формат"),
    (event(id=A.upper()), "«id» — неверный формат"),
    (event(stand_id=0), "«stand_id»"),
    (event(seq=0), "«seq» — нужно целое число не меньше 1"),
    (event(seq="1"), "«seq» — нужно целое число"),
    (event(seq=True), "«seq» — нужно целое число"),  # JSON's true is no number
    (event(id=A + "0"), "«id» — не длиннее 36 символов"),
    (event(type="session.paused"), "«type»"),
    (event(occurred_at="2024-06-10T06:13:20"), "«occurred_at» — нужно время ISO 8601"),
    (event(boot_id="boot"), "«boot_id»"),
    (event(mono_ms=-1), "«mono_ms»"),
    (event(actor="admin"), "«actor»"),
    (event(actor="0"), "«actor»"),
    (event(directory_version=-1), "«directory_version»"),
    (event(payload=[]), "«payload» — нужен объект"),
    (with_payload("session.started", client_uuid=A), "«payload.client_id» — нужен ровно один"),
    (with_payload("session.started", client_id=None), "«payload.client_id» — нужен ровно один"),
    (with_payload("session.started", client_kind="vip"), "«payload.client_kind»"),
    (with_payload("session.started", method="auto"), "«payload.method»"),
    (with_payload("session.ended", auto=True), "«payload.auto»"),
    (with_payload("session.ended", method="auto"), "«payload.auto»"),
    (with_payload("session.ended", cost_kopecks=-1), "«payload.cost_kopecks»"),
    (with_payload("session.ended", comment="x" * 2001), "«payload.comment» — не длиннее 2000"),
    (with_payload("topup.recorded", amount_kopecks=0), "«payload.amount_kopecks»"),
    (with_payload("topup.recorded", method="bitcoin"), "«payload.method»"),
    (with_payload("comment.added", text=""), "«payload.text» — не может быть пустым"),
    (with_payload("guest.registered", plate="а123вс77"), "«payload.plate» — «а123вс77» не в"),
    (with_payload("client.registered", phones=["89161234567"]), "«payload.phones»"),
    (with_payload("client.registered", cards=["xyz"]), "«payload.cards[0]» — неверный формат"),
    (with_payload("card.linked", uid="04a1b2c3"), "«payload.uid»"),
    (with_payload("tap.refused", reason="tired"), "«payload.reason»"),
    (with_payload("tap.refused", credential_value="x" * 513), "«payload.credential_value»"),
    (with_payload("shift.opened", cash_kopecks=-1), "«payload.cash_kopecks» — нужно целое"),
    (with_payload("shift.opened", cash_kopecks="100"), "«payload.cash_kopecks» — нужно целое"),
    (with_payload("shift.opened", cash_kopecks=1.5), "«payload.cash_kopecks» — нужно целое"),
    (with_payload("shift.opened", cash_kopecks=10**8 + 1), "«payload.cash_kopecks» — не больше"),
    (with_payload("shift.closed", counted_kopecks=-5), "«payload.counted_kopecks»"),
    (with_payload("shift.closed", shift_uuid="x"), "«payload.shift_uuid» — неверный формат"),
    (with_payload("command.refused", reason="tired"), "«payload.reason»"),
    (with_payload("command.refused", command_id=0), "«payload.command_id»"),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_a_bad_event_is_refused_naming_the_field(raw: Any, message: str) -> None:
    with pytest.raises(RuleError) as info:
        validate_event(raw)

    assert info.value.code == "bad_event"
    assert info.value.message.startswith("Событие")
    assert message in info.value.message
