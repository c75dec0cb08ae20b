"""The directory document: a good one reads back to what was written, a bad one is refused
with a message naming the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sync import qrtoken
from sync.directory import validate_directory
from sync.directorypage import validate_directory_page
from sync.errors import RuleError

PUBLIC_PEM = qrtoken.public_key_pem(qrtoken.generate_private_key_pem()).decode()
RATES = {
    "member_per_minute": 1000,
    "guest_per_minute": 1500,
    "step_s": 60,
    "min_charge": 5000,
    "cap": None,
    "grace_s": 10,
}
GUEST_UUID = "5f0c1e2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
GOOD: dict[str, Any] = {
    "format": 1,
    "version": 1718000000000,
    "generated_at": "2024-06-10T06:13:20Z",
    "site_id": 1,
    "qr_public_key_pem": PUBLIC_PEM,
    "default_tariff_id": 1,
    "tariffs": [
        {
            "id": 1,
            "name": "Стандарт",
            "active": True,
            "versions": [
                {"id": 1, "effective_from": "2020-01-01T00:00:00Z", "rates": RATES},
                {
                    "id": 2,
                    "effective_from": "2024-07-01T00:00:00+03:00",
                    "rates": {**RATES, "member_per_minute": 1200, "cap": 90000},
                },
            ],
        }
    ],
    "clients": [
        {
            "id": 7,
            "kind": "member",
            "name": "Иван Петров",
            "phones": ["+79161234567"],
            "blocked": False,
            "default_tariff_id": None,
            "balance_kopecks": -2500,
            "ledger_position": 41,
            "overdraft_limit_kopecks": None,
        },
        {
            "id": 8,
            "kind": "guest",
            "name": "",
            "phones": [],
            "blocked": True,
            "default_tariff_id": 1,
            "balance_kopecks": 0,
            "ledger_position": 0,
            "overdraft_limit_kopecks": 10000,
            "uuids": [GUEST_UUID, "0c9e6b1a-7d3f-4e2a-8b5c-1f0e9d8c7b6a"],
            "open_session_stand_id": 3,
        },
    ],
    "credentials": [
        {"client_id": 7, "kind": "card", "value": "04A1B2C3D4E5F6", "lost": False},
        {"client_id": 7, "kind": "plate", "value": "А123ВС77", "lost": False},
        {"client_id": 7, "kind": "qr", "value": "0123456789abcdef0123456789abcdef", "lost": False},
        {"client_id": 8, "kind": "plate", "value": "О777ОО99", "lost": False},
    ],
    "revoked_qr_token_ids": ["fedcba9876543210fedcba9876543210"],
    "staff": [{"id": 3, "full_name": "Анна", "role": "attendant", "pin_hash": "scrypt:1$a$b"}],
}


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    change(doc)
    return doc


def test_a_good_directory_reads_back_to_what_was_written() -> None:
    directory = validate_directory(GOOD)

    again = validate_directory(json.loads(json.dumps(directory.to_dict())))

    assert again == directory
    assert directory.generated_at == datetime(2024, 6, 10, 6, 13, 20, tzinfo=UTC)
    assert directory.clients[0].phones == ("+79161234567",)
    assert directory.tariffs[0].versions[1].rates.cap == 90000
    assert directory.to_dict()["generated_at"] == "2024-06-10T06:13:20Z"
    assert directory.clients[0].uuids == ()  # none given: registered centrally
    assert directory.clients[1].uuids[0] == GUEST_UUID
    # Where a session of the client is open centrally: absent (an older central service) is none.
    assert (
        directory.clients[0].open_session_stand_id,
        directory.clients[1].open_session_stand_id,
    ) == (
        None,
        3,
    )


def test_the_version_in_force_is_the_latest_one_started() -> None:
    (tariff,) = validate_directory(GOOD).tariffs

    assert tariff.version_at(datetime(2019, 1, 1, tzinfo=UTC)) is None
    assert tariff.version_at(datetime(2024, 6, 30, 20, 59, tzinfo=UTC)).id == 1  # type: ignore[union-attr]
    assert tariff.version_at(datetime(2024, 6, 30, 21, 0, tzinfo=UTC)).id == 2  # type: ignore[union-attr]


def test_keys_it_does_not_know_are_ignored() -> None:
    doc = changed(lambda d: d.update(future_field=[1, 2]))
    doc["clients"][0]["loyalty_points"] = 5

    assert validate_directory(doc) == validate_directory(GOOD)


def _ec_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


BAD: list[tuple[Any, str]] = [
    ([], "нужен объект"),
    (changed(lambda d: d.update(format=2)), "«format»"),
    (changed(lambda d: d.pop("version")), "«version» — обязательное поле отсутствует"),
    (changed(lambda d: d.update(version="5")), "«version» — нужно целое число"),
    (changed(lambda d: d.update(version=True)), "«version» — нужно целое число"),
    (changed(lambda d: d.update(version=0)), "«version» — нужно целое число не меньше 1"),
    (changed(lambda d: d.update(generated_at="2024-06-10T06:13:20")), "«generated_at»"),
    (changed(lambda d: d.update(generated_at="вчера")), "«generated_at»"),
    (changed(lambda d: d.update(qr_public_key_pem="ключ")), "«qr_public_key_pem»"),
    (changed(lambda d: d.update(qr_public_key_pem=_ec_public_pem())), "«qr_public_key_pem»"),
    (changed(lambda d: d.update(default_tariff_id=5)), "«default_tariff_id»"),
    (changed(lambda d: d.update(tariffs={})), "«tariffs» — нужен список"),
    (
        changed(lambda d: d["tariffs"].append({**d["tariffs"][0], "versions": []})),
        "«tariffs[1].id» — значение 1 повторяется",
    ),
    (changed(lambda d: d["tariffs"][0]["versions"][1].update(id=1)), "«tariffs[0].versions[1].id»"),
    (
        changed(lambda d: d["tariffs"][0]["versions"][0]["rates"].update(step_s=0)),
        "«tariffs[0].versions[0].rates» — Тариф: шаг тарификации",
    ),
    (
        changed(lambda d: d["tariffs"][0]["versions"][0]["rates"].update(cap=1.5)),
        "«tariffs[0].versions[0].rates.cap» — нужно целое число",
    ),
    (
        changed(lambda d: d["tariffs"][0].update(name="")),
        "«tariffs[0].name» — не может быть пустым",
    ),
    (changed(lambda d: d["clients"][0].update(kind="vip")), "«clients[0].kind»"),
    (
        changed(lambda d: d["clients"][0].update(default_tariff_id=9)),
        "«clients[0].default_tariff_id»",
    ),
    (changed(lambda d: d["clients"][1].update(id=7)), "«clients[1].id» — значение 7 повторяется"),
    (changed(lambda d: d["clients"][0].update(blocked=0)), "«clients[0].blocked» — нужно true"),
    (changed(lambda d: d["clients"][0].update(ledger_position=-1)), "«clients[0].ledger_position»"),
    (changed(lambda d: d["clients"][0].update(phones=[7])), "«clients[0].phones[0]»"),
    (changed(lambda d: d["clients"][1].update(uuids=["X"])), "«clients[1].uuids[0]» — неверный"),
    (changed(lambda d: d["clients"][1].update(uuids=GUEST_UUID)), "«clients[1].uuids» — нужен"),
    (
        changed(lambda d: d["clients"][0].update(uuids=[GUEST_UUID])),
        f"«clients[1].uuids» — значение {GUEST_UUID} повторяется",
    ),
    (
        changed(lambda d: d["clients"][1].update(open_session_stand_id=0)),
        "«clients[1].open_session_stand_id» — нужно целое число не меньше 1",
    ),
    (
        changed(lambda d: d["clients"][1].update(open_session_stand_id="3")),
        "«clients[1].open_session_stand_id» — нужно целое число",
    ),
    (changed(lambda d: d["credentials"][0].update(client_id=9)), "«credentials[0].client_id»"),
    (changed(lambda d: d["credentials"][0].update(value="04a1b2c3")), "«credentials[0].value»"),
    (changed(lambda d: d["credentials"][0].update(value="04A1B")), "«credentials[0].value»"),
    (changed(lambda d: d["credentials"][1].update(value="а123вс77")), "нормальной форме"),
    (changed(lambda d: d["credentials"][2].update(value="1234")), "«credentials[2].value»"),
    (changed(lambda d: d["credentials"][3].update(kind="iris")), "«credentials[3].kind»"),
    (changed(lambda d: d["credentials"].append(d["credentials"][0])), "«credentials[4].value»"),
    (changed(lambda d: d["revoked_qr_token_ids"].append("X")), "«revoked_qr_token_ids[1]»"),
    (changed(lambda d: d["staff"][0].update(role="boss")), "«staff[0].role»"),
    (changed(lambda d: d["staff"][0].update(pin_hash="")), "«staff[0].pin_hash»"),
]


@pytest.mark.parametrize(("doc", "message"), BAD)
def test_a_bad_directory_is_refused_naming_the_field(doc: Any, message: str) -> None:
    with pytest.raises(RuleError) as info:
        validate_directory(doc)

    assert info.value.code == "bad_document"
    assert info.value.message.startswith("Справочник")
    assert message in info.value.message


# --- the directory page -----------------------------------------------------------------------

PAGE: dict[str, Any] = {
    "cursor": 41,
    "more": False,
    "reset": False,
    "site_id": 1,
    "stand_id": 2,
    "server_time": "2024-06-10T06:13:20Z",
    "qr_public_key_pem": PUBLIC_PEM,
    "default_tariff_id": 1,
    "upserts": {
        "clients": [GOOD["clients"][0]],
        "credentials": [GOOD["credentials"][0], GOOD["credentials"][2]],
        "tariffs": GOOD["tariffs"],
        "staff": GOOD["staff"],
        "revoked_qr_token_ids": ["fedcba9876543210fedcba9876543210"],
    },
    "tombstones": {
        "clients": [8],
        "credentials": [{"kind": "plate", "value": "О777ОО99"}],
        "tariffs": [4],
        "staff": [5, 6],
    },
    "commands": [
        {
            "id": 1,
            "type": "end_session",
            "session_uuid": "6f1c2a4e-0d5b-4c1e-9a7b-3f2e1d0c9b8a",
            "comment": "забыли завершить",
            "issued_by": 3,
        }
    ],
}


def page_with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    page = copy.deepcopy(PAGE)
    change(page)
    return page


def test_a_good_page_reads_back_to_what_was_written() -> None:
    page = validate_directory_page(PAGE)

    again = validate_directory_page(json.loads(json.dumps(page.to_dict())))

    assert again == page
    assert page.clients[0].balance_kopecks == -2500
    assert [(k.kind, k.value) for k in page.tombstones.credentials] == [("plate", "О777ОО99")]
    assert page.tombstones.staff == (5, 6)
    assert page.commands[0].session_uuid == "6f1c2a4e-0d5b-4c1e-9a7b-3f2e1d0c9b8a"
    written = page.to_dict()
    assert {key: written[key] for key in ("tombstones", "commands", "cursor")} == {
        key: PAGE[key] for key in ("tombstones", "commands", "cursor")
    }


def test_a_start_session_command_carries_its_client_and_reads_back() -> None:
    start = {
        "id": 2,
        "type": "start_session",
        "session_uuid": "7f1c2a4e-0d5b-4c1e-9a7b-3f2e1d0c9b8a",
        "comment": "",
        "issued_by": 3,
        "client_id": 17,
    }
    page = validate_directory_page(page_with(lambda p: p["commands"].append(start)))

    assert [(c.type, c.client_id) for c in page.commands] == [
        ("end_session", None),
        ("start_session", 17),
    ]
    # An end command is written without the key, as before (older stands read it).
    assert page.to_dict()["commands"] == [PAGE["commands"][0], start]


def test_a_page_may_say_the_last_event_of_the_stand_the_central_service_holds() -> None:
    page = validate_directory_page(page_with(lambda p: p.update(acked_seq=41)))

    assert page.acked_seq == 41
    assert validate_directory_page(page.to_dict()) == page
    assert validate_directory_page(PAGE).acked_seq is None  # not said
    assert "acked_seq" not in validate_directory_page(PAGE).to_dict()


def test_a_page_may_name_clients_and_tariffs_the_stand_already_has() -> None:
    page = page_with(lambda p: p["upserts"].update(clients=[], tariffs=[]))

    assert validate_directory_page(page).credentials[0].client_id == 7


def test_an_empty_poll_is_a_valid_page() -> None:
    empty = {
        **PAGE,
        "upserts": {k: [] for k in PAGE["upserts"]},
        "tombstones": {k: [] for k in PAGE["tombstones"]},
        "commands": [],
        "default_tariff_id": None,
    }

    page = validate_directory_page(empty)

    assert page.clients == () and page.tombstones.clients == () and page.commands == ()


BAD_PAGES: list[tuple[Any, str]] = [
    ("page", "нужен объект"),
    (page_with(lambda p: p.update(cursor=-1)), "«cursor» — нужно целое число не меньше 0"),
    (page_with(lambda p: p.pop("more")), "«more» — обязательное поле отсутствует"),
    (page_with(lambda p: p.update(reset="yes")), "«reset» — нужно true или false"),
    (page_with(lambda p: p.update(server_time="2024-06-10 06:13")), "«server_time»"),
    (page_with(lambda p: p.update(qr_public_key_pem="")), "«qr_public_key_pem»"),
    (page_with(lambda p: p.pop("upserts")), "«upserts» — обязательное поле отсутствует"),
    (
        page_with(lambda p: p["upserts"]["clients"][0].update(kind="vip")),
        "«upserts.clients[0].kind»",
    ),
    (
        page_with(lambda p: p["upserts"]["credentials"][0].update(value="x")),
        "«upserts.credentials[0].value»",
    ),
    (
        page_with(lambda p: p["upserts"]["revoked_qr_token_ids"].append("X")),
        "«upserts.revoked_qr_token_ids[1]»",
    ),
    (page_with(lambda p: p["tombstones"].update(clients=[0])), "«tombstones.clients»"),
    (page_with(lambda p: p["tombstones"].update(staff=[5, 5])), "значение 5 повторяется"),
    (page_with(lambda p: p["tombstones"].update(tariffs=[True])), "«tombstones.tariffs»"),
    (
        page_with(lambda p: p["tombstones"]["credentials"][0].update(kind="iris")),
        "«tombstones.credentials[0].kind»",
    ),
    (
        page_with(lambda p: p["tombstones"]["credentials"][0].update(value="о777оо99")),
        "нормальной форме",
    ),
    (
        page_with(lambda p: p["tombstones"].update(clients=[7])),
        "«tombstones.clients» — 7 и обновлён, и удалён",
    ),
    (
        page_with(
            lambda p: p["tombstones"]["credentials"].append(
                {"kind": "card", "value": "04A1B2C3D4E5F6"}
            )
        ),
        "«tombstones.credentials»",
    ),
    (page_with(lambda p: p["commands"][0].update(type="reboot")), "«commands[0].type»"),
    (page_with(lambda p: p["commands"][0].update(session_uuid="x")), "«commands[0].session_uuid»"),
    (page_with(lambda p: p["commands"].append(p["commands"][0])), "«commands[1].id»"),
    (page_with(lambda p: p.update(acked_seq=-1)), "«acked_seq»"),
    (page_with(lambda p: p["commands"][0].update(type="start_session")), "«commands[0].client_id»"),
]


@pytest.mark.parametrize(("page", "message"), BAD_PAGES)
def test_a_bad_page_is_refused_naming_the_field(page: Any, message: str) -> None:
    with pytest.raises(RuleError) as info:
        validate_directory_page(page)

    assert info.value.code == "bad_document"
    assert info.value.message.startswith("Страница справочника")
    assert message in info.value.message
