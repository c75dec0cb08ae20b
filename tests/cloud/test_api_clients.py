"""The clients API: the shapes other programs rely on, role checks, scope, and errors that
change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.clients.qrkeys import public_key
from cloud.models import Client, Credential, LedgerEntry
from sync import qrtoken
from tests.cloud.conftest import World

CLIENT_KEYS = {"id", "kind", "name", "phones", "plates", "cards", "blocked", "balance_kopecks"}


def _error(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return body["error"]


def test_registering_a_member_answers_201_with_the_client(
    client: FlaskClient, world: World
) -> None:
    response = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={
            "kind": "member",
            "name": "Анна Смирнова",
            "phones": ["8 903 111-22-33"],
            "email": "anna@example.ru",
            "plates": ["k001kk777"],
            "cards": ["de:ad:be:ef"],
            "default_tariff_id": world.tariff.id,
            "note": "новая",
        },
    )
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert set(data) >= CLIENT_KEYS
    assert data["phones"] == ["+79031112233"]
    assert data["plates"] == ["К001КК777"] and data["cards"] == ["DEADBEEF"]
    assert data["blocked"] is False and data["balance_kopecks"] == 0
    assert (
        client.get(f"/api/v1/clients/{data['id']}", headers=world.bearer("operator")).json == data
    )


def test_a_guest_needs_only_kind_and_a_plate(client: FlaskClient, world: World) -> None:
    response = client.post(
        "/api/v1/clients",
        headers=world.bearer("attendant"),
        json={"kind": "guest", "plates": ["х002хх99"]},
    )
    assert response.status_code == 201
    assert response.get_json()["home_site_id"] == world.site_a.id


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"kind": "guest"}, 422),  # each value fine, but a guest needs a plate
        ({"kind": "member"}, 422),  # and a member a name
        ({"kind": "boss", "name": "X"}, 400),
        ({"kind": "member", "name": "X", "phones": "89031112233"}, 400),
        ({"kind": "member", "name": "X", "default_tariff_id": "1"}, 400),
        ({"kind": "member", "name": "X", "surprise": 1}, 400),
        ({"kind": "member", "name": "X", "cards": ["123"]}, 400),
        ({"kind": "member", "name": "X", "plates": [5]}, 400),
        ({"kind": "member", "name": "X\x00"}, 400),
        ({"kind": "member", "name": "X\ud800"}, 400),  # a lone surrogate
        ({"kind": "member", "name": "X", "default_tariff_id": 9999}, 404),
    ],
)
def test_bad_registration_is_refused_and_stores_nothing(
    client: FlaskClient, world: World, body: dict[str, Any], status: int
) -> None:
    before = Client.select().count()
    response = client.post("/api/v1/clients", headers=world.bearer("operator"), json=body)
    assert response.status_code == status
    _error(response)
    assert Client.select().count() == before


def test_a_clash_on_registration_answers_409_and_leaves_no_client_row(
    client: FlaskClient, world: World
) -> None:
    before = Client.select().count(), Credential.select().count()
    response = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={"kind": "member", "name": "Двойник", "cards": ["AABBCCDD"], "plates": ["A123BC77"]},
    )
    assert response.status_code == 409
    assert "А123ВС77" in _error(response)["message"]
    assert (Client.select().count(), Credential.select().count()) == before


def test_a_request_without_a_token_answers_401(client: FlaskClient, world: World) -> None:
    assert client.get("/api/v1/clients").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.get("/api/v1/clients", headers=bad).status_code == 401


def test_search_with_q_answers_items_and_total(client: FlaskClient, world: World) -> None:
    response = client.get("/api/v1/clients?q=a123bc", headers=world.bearer("operator"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1 and [item["id"] for item in body["items"]] == [world.member.id]
    everyone = client.get("/api/v1/clients?kind=member&limit=1", headers=world.bearer("owner")).json
    assert everyone["total"] == 2 and len(everyone["items"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=x",
        "offset=-1",
        "kind=boss",
        "site_id=abc",
        "blocked=maybe",
        "q=" + "я" * 101,
    ],
)
def test_bad_search_parameters_answer_400(client: FlaskClient, world: World, query: str) -> None:
    response = client.get(f"/api/v1/clients?{query}", headers=world.bearer("operator"))
    assert response.status_code == 400
    _error(response)


def test_an_attendant_gets_404_for_another_sites_client_and_does_not_find_it(
    client: FlaskClient, world: World
) -> None:
    other = world.other_site_client.id
    headers = world.bearer("attendant")
    assert client.get(f"/api/v1/clients/{other}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/clients/{other}/ledger", headers=headers).status_code == 404
    topup = {"amount_kopecks": 100, "method": "cash"}
    assert (
        client.post(f"/api/v1/clients/{other}/topups", headers=headers, json=topup).status_code
        == 404
    )
    found = client.get("/api/v1/clients?q=Ольга", headers=headers).get_json()
    assert found == {"items": [], "total": 0}


def test_patch_changes_data_and_blocks(client: FlaskClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/clients/{world.member.id}",
        headers=world.bearer("operator"),
        json={
            "email": "ivan@new.ru",
            "phones": ["+7 999 000 11 22"],
            "blocked": True,
            "blocked_reason": "долг",
        },
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["email"] == "ivan@new.ru" and data["phones"] == ["+79990001122"]
    assert data["blocked"] is True and data["blocked_reason"] == "долг"
    assert data["name"] == "Иван Петров"
    unblocked = client.patch(
        f"/api/v1/clients/{world.member.id}",
        headers=world.bearer("operator"),
        json={"blocked": False},
    ).get_json()
    assert unblocked["blocked"] is False and unblocked["blocked_reason"] == ""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"balance_kopecks": 100000}, 400),
        ({"kind": "guest"}, 400),
        ({"name": ""}, 422),  # a blank name is a guest's, not this member's
        ({"email": "no-at-sign"}, 400),
        ({"blocked": "yes"}, 400),
        ({"default_tariff_id": 9999}, 404),
        ({"blocked_reason": "долг"}, 422),  # a reason without blocking
        ({"discount_percent": 10, "discount_kopecks": 500}, 422),
        ({"discount_percent": 101}, 400),
    ],
)
def test_a_bad_patch_is_refused_and_changes_nothing(
    client: FlaskClient, world: World, body: dict[str, Any], status: int
) -> None:
    response = client.patch(
        f"/api/v1/clients/{world.member.id}", headers=world.bearer("operator"), json=body
    )
    assert response.status_code == status
    _error(response)
    stored = Client.get_by_id(world.member.id)
    assert (stored.name, stored.email, stored.blocked, stored.balance_kopecks) == (
        "Иван Петров",
        "ivan@example.ru",
        False,
        0,
    )


def test_an_attendant_may_not_patch(client: FlaskClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/clients/{world.member.id}", headers=world.bearer("attendant"), json={"name": "X"}
    )
    assert response.status_code == 403


def test_delete_answers_204_and_frees_the_plate(client: FlaskClient, world: World) -> None:
    assert (
        client.delete(
            f"/api/v1/clients/{world.guest.id}", headers=world.bearer("operator")
        ).status_code
        == 403
    )
    response = client.delete(
        f"/api/v1/clients/{world.guest.id}", headers=world.bearer("administrator")
    )
    assert response.status_code == 204 and response.data == b""
    assert (
        client.get(f"/api/v1/clients/{world.guest.id}", headers=world.bearer("owner")).status_code
        == 404
    )
    again = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={"kind": "guest", "plates": ["О777ОО99"]},
    )
    assert again.status_code == 201


def test_cards_and_plates_are_linked_listed_marked_lost_and_unlinked(
    client: FlaskClient, world: World
) -> None:
    headers = world.bearer("operator")
    base = f"/api/v1/clients/{world.guest.id}"
    card = client.post(f"{base}/cards", headers=headers, json={"uid": "01 02 03 04"})
    assert card.status_code == 201 and card.get_json()["value"] == "01020304"
    plate = client.post(f"{base}/plates", headers=headers, json={"plate": "y555yy55"})
    assert plate.status_code == 201 and plate.get_json()["value"] == "У555УУ55"
    listed = client.get(f"{base}/credentials", headers=headers).get_json()["items"]
    assert {(row["kind"], row["value"]) for row in listed} == {
        ("plate", "О777ОО99"),
        ("card", "01020304"),
        ("plate", "У555УУ55"),
    }
    lost = client.post(f"{base}/cards/{card.get_json()['id']}/lost", headers=headers)
    assert lost.status_code == 200 and lost.get_json()["lost"] is True
    assert client.get(base, headers=headers).get_json()["lost_cards"] == ["01020304"]
    gone = client.delete(f"{base}/credentials/{plate.get_json()['id']}", headers=headers)
    assert gone.status_code == 204
    assert client.get(base, headers=headers).get_json()["plates"] == ["О777ОО99"]


def test_linking_a_taken_card_answers_409(client: FlaskClient, world: World) -> None:
    response = client.post(
        f"/api/v1/clients/{world.guest.id}/cards",
        headers=world.bearer("operator"),
        json={"uid": "04a1b2c3d4e5f6"},
    )
    assert response.status_code == 409
    assert _error(response)["code"] == "card_taken"
    assert Credential.select().where(Credential.client == world.guest.id).count() == 1


def test_an_attendant_may_not_link_cards(client: FlaskClient, world: World) -> None:
    response = client.post(
        f"/api/v1/clients/{world.guest.id}/cards",
        headers=world.bearer("attendant"),
        json={"uid": "01020304"},
    )
    assert response.status_code == 403


def test_a_top_up_answers_201_and_shows_in_the_ledger(client: FlaskClient, world: World) -> None:
    base = f"/api/v1/clients/{world.member.id}"
    response = client.post(
        f"{base}/topups",
        headers=world.bearer("attendant"),
        json={"amount_kopecks": 50000, "method": "cash"},
    )
    assert response.status_code == 201
    entry = response.get_json()
    assert entry["kind"] == "topup" and entry["amount_kopecks"] == 50000
    assert entry["created_by_id"] == world.users["attendant"].id
    assert (
        client.get(base, headers=world.bearer("attendant")).get_json()["balance_kopecks"] == 50000
    )
    listed = client.get(f"{base}/ledger", headers=world.bearer("attendant")).get_json()
    assert listed["total"] == 1 and listed["items"] == [entry]
    assert entry["site_id"] == world.site_a.id  # the client's home site by default


def test_a_large_top_up_over_the_api_needs_confirmed(client: FlaskClient, world: World) -> None:
    path = f"/api/v1/clients/{world.member.id}/topups"
    body = {"amount_kopecks": 100_000_000, "method": "card", "site_id": world.site_b.id}
    refused = client.post(path, headers=world.bearer("owner"), json=body)
    assert refused.status_code == 422
    assert _error(refused)["code"] == "confirm_large_topup"
    assert LedgerEntry.select().count() == 0
    taken = client.post(path, headers=world.bearer("owner"), json={**body, "confirmed": True})
    assert taken.status_code == 201 and taken.get_json()["site_id"] == world.site_b.id
    other_site = client.post(
        path, headers=world.bearer("attendant"), json={**body, "amount_kopecks": 100}
    )
    assert other_site.status_code == 404 and _error(other_site)["code"] == "site_not_found"
    assert LedgerEntry.select().count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"amount_kopecks": "100", "method": "cash"},
        {"amount_kopecks": 0, "method": "cash"},
        {"amount_kopecks": -500, "method": "cash"},
        {"amount_kopecks": 100.5, "method": "cash"},
        {"amount_kopecks": 100_000_001, "method": "cash"},
        {"amount_kopecks": 100, "method": "bitcoin"},
        {"amount_kopecks": 100},
        {"amount_kopecks": 100, "method": "cash", "tip": 5},
    ],
)
def test_a_bad_top_up_answers_400_and_stores_nothing(
    client: FlaskClient, world: World, body: dict[str, Any]
) -> None:
    response = client.post(
        f"/api/v1/clients/{world.member.id}/topups", headers=world.bearer("owner"), json=body
    )
    assert response.status_code == 400
    _error(response)
    assert LedgerEntry.select().count() == 0
    assert Client.get_by_id(world.member.id).balance_kopecks == 0


def test_a_non_json_body_answers_400(client: FlaskClient, world: World) -> None:
    response = client.post(
        f"/api/v1/clients/{world.member.id}/topups",
        headers=world.bearer("owner"),
        data="amount=100",
    )
    assert response.status_code == 400
    _error(response)


@pytest.mark.parametrize("role", ["attendant", "operator", "administrator"])
def test_adjustments_are_for_the_owner_only(client: FlaskClient, world: World, role: str) -> None:
    body = {"amount_kopecks": -1000, "reason": "ошибка"}
    response = client.post(
        f"/api/v1/clients/{world.member.id}/adjustments", headers=world.bearer(role), json=body
    )
    assert response.status_code == 403
    assert LedgerEntry.select().count() == 0


def test_the_owner_adjusts_a_balance_with_a_reason(client: FlaskClient, world: World) -> None:
    base = f"/api/v1/clients/{world.member.id}/adjustments"
    missing = client.post(
        base, headers=world.bearer("owner"), json={"amount_kopecks": -1000, "reason": " "}
    )
    assert missing.status_code == 400 and LedgerEntry.select().count() == 0
    response = client.post(
        base, headers=world.bearer("owner"), json={"amount_kopecks": -1000, "reason": "ошибка"}
    )
    assert response.status_code == 201
    assert response.get_json()["reason"] == "ошибка"
    assert Client.get_by_id(world.member.id).balance_kopecks == -1000


def test_promote_turns_a_guest_into_a_member_keeping_the_id(
    client: FlaskClient, world: World
) -> None:
    response = client.post(
        f"/api/v1/clients/{world.guest.id}/promote",
        headers=world.bearer("attendant"),
        json={"name": "Олег Гостев", "phones": ["+79001112233"]},
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["id"] == world.guest.id and data["kind"] == "member"
    assert data["plates"] == ["О777ОО99"] and data["member_since"]
    again = client.post(
        f"/api/v1/clients/{world.guest.id}/promote",
        headers=world.bearer("attendant"),
        json={"name": "X"},
    )
    assert again.status_code == 409


def test_the_qr_token_is_issued_once_and_reissue_revokes_it(
    app: Flask, client: FlaskClient, world: World
) -> None:
    base = f"/api/v1/clients/{world.member.id}/qr"
    first = client.get(base, headers=world.bearer("attendant")).get_json()["token"]
    assert client.get(base, headers=world.bearer("operator")).get_json()["token"] == first
    claims = qrtoken.verify(public_key(app.config["AQ"]), first)
    assert claims.client_id == world.member.id
    assert client.post(base, headers=world.bearer("attendant"), json={}).status_code == 403
    response = client.post(base, headers=world.bearer("operator"), json={})
    assert response.status_code == 201
    second = response.get_json()["token"]
    assert second != first
    revoked = Credential.get((Credential.kind == "qr") & (Credential.value == claims.token_id))
    assert revoked.unlinked_at is not None
    assert client.get(base, headers=world.bearer("owner")).get_json()["token"] == second


def test_the_openapi_document_describes_the_client_endpoints(
    client: FlaskClient, world: World
) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert "post" in paths["/api/v1/clients"] and "get" in paths["/api/v1/clients"]
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/clients/{client_id}"])
    assert "post" in paths["/api/v1/clients/{client_id}/topups"]
    schemas = document["components"]["schemas"]
    assert {"ClientOut", "ClientList", "ClientCreate", "LedgerEntryOut", "TopupIn"} <= set(schemas)
    assert schemas["TopupIn"]["additionalProperties"] is False
