"""Staff over the JSON API: the same rules as the pages, JSON errors that change nothing, and
``/api/v1/me`` for every caller."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.models import ApiToken, User, UserSite
from cloud.permissions import MATRIX
from cloud.staff.service import create_staff
from tests.cloud.conftest import PASSWORD, World, login


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "full_name": "Анна Смирнова",
        "phone": "8-903-777-66-55",
        "role": "attendant",
        "site_ids": [],
        "password": "long-enough-1",
        "pin": "432105",
    }
    body.update(changes)
    return body


def _snapshot() -> list[tuple[Any, ...]]:
    users = User.select().order_by(User.id)
    links = UserSite.select().order_by(UserSite.id)
    tokens = ApiToken.select().order_by(ApiToken.id)
    return [
        *[
            (
                u.id,
                u.full_name,
                u.phone,
                u.role,
                u.active,
                u.password_hash,
                u.session_version,
                u.deleted_at,
            )
            for u in users
        ],
        *[(link.user_id, link.site_id) for link in links],
        *[(t.id, t.revoked_at) for t in tokens],
    ]


def test_list_staff_with_search(client: FlaskClient, world: World) -> None:
    everyone = client.get("/api/v1/staff", headers=world.bearer("administrator")).get_json()
    assert everyone["total"] == 4
    assert {item["full_name"] for item in everyone["items"]} == {
        f"Сотрудник {r}" for r in world.users
    }
    found = client.get(
        "/api/v1/staff", query_string={"q": "8 900 000 00 03"}, headers=world.bearer("owner")
    )
    assert found.get_json()["total"] == 1
    item = found.get_json()["items"][0]
    assert item["phone"] == "+79000000003" and item["role"] == "administrator"
    assert item["site_ids"] == [world.site_a.id]
    assert item["sites"] == [{"id": world.site_a.id, "name": world.site_a.name}]
    assert item["has_pin"] is True


def test_list_pages_and_filters_by_activity(client: FlaskClient, world: World) -> None:
    User.update(active=False).where(User.id == world.users["attendant"].id).execute()
    headers = world.bearer("owner")
    inactive = client.get("/api/v1/staff?active=false", headers=headers).get_json()
    assert [item["id"] for item in inactive["items"]] == [world.users["attendant"].id]
    page = client.get("/api/v1/staff?limit=2&offset=1", headers=headers).get_json()
    assert page["total"] == 4 and len(page["items"]) == 2
    bad = client.get("/api/v1/staff?active=maybe", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_filter"


def test_staff_never_shows_hashes(client: FlaskClient, world: World) -> None:
    text = client.get("/api/v1/staff", headers=world.bearer("owner")).get_data(as_text=True)
    assert "hash" not in text
    for user in world.users.values():
        assert user.password_hash not in text and user.pin_hash not in text


@pytest.mark.parametrize("role", ["attendant", "operator"])
def test_staff_api_is_refused_to_attendants_and_operators(
    client: FlaskClient, world: World, role: str
) -> None:
    headers = world.bearer(role)
    target = world.users["attendant"].id
    before = _snapshot()
    answers = [
        client.get("/api/v1/staff", headers=headers),
        client.post("/api/v1/staff", json=_body(), headers=headers),
        client.get(f"/api/v1/staff/{target}", headers=headers),
        client.patch(f"/api/v1/staff/{target}", json={"active": False}, headers=headers),
        client.delete(f"/api/v1/staff/{target}", headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [403] * 5
    assert all(answer.get_json()["error"]["code"] == "forbidden" for answer in answers)
    assert _snapshot() == before


def test_without_a_token_the_api_answers_401(client: FlaskClient, world: World) -> None:
    assert client.get("/api/v1/staff").status_code == 401
    assert (
        client.get("/api/v1/me", headers={"Authorization": "Bearer aqs_nonsense"}).status_code
        == 401
    )


def test_create_staff_member(app: Flask, client: FlaskClient, world: World) -> None:
    body = _body(site_ids=[world.site_b.id])
    response = client.post("/api/v1/staff", json=body, headers=world.bearer("administrator"))
    assert response.status_code == 201
    created = response.get_json()
    assert created["phone"] == "+79037776655"
    assert created["site_ids"] == [world.site_b.id]
    assert created["active"] is True and created["role"] == "attendant"
    assert "password" not in created and "pin" not in created
    assert (
        client.get(f"/api/v1/staff/{created['id']}", headers=world.bearer("owner")).get_json()
        == created
    )
    assert login(app.test_client(), "+79037776655", "long-enough-1").status_code == 302


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"full_name": ""}, 400, "name_required"),
        ({"phone": "not a phone"}, 400, "bad_phone"),
        ({"phone": "+7 900 000-00-02"}, 409, "phone_taken"),
        ({"password": "1234567"}, 400, "weak_password"),
        ({"pin": "12"}, 400, "bad_pin"),
        ({"role": "king"}, 400, "bad_role"),
        ({"site_ids": [999]}, 404, "bad_site"),
        ({"site_ids": [10**20]}, 400, "bad_site"),
        ({"role": "owner"}, 403, "owner_only"),
        ({"password": None}, 400, "invalid"),
        ({"shoe_size": 42}, 400, "invalid"),
    ],
    ids=[
        "empty name",
        "bad phone",
        "duplicate phone",
        "short password",
        "bad PIN",
        "unknown role",
        "unknown site",
        "huge site id",
        "owner by an administrator",
        "no password",
        "unknown field",
    ],
)
def test_bad_new_staff_member_is_refused_and_nothing_stored(
    client: FlaskClient, world: World, changes: dict[str, Any], status: int, code: str
) -> None:
    before = _snapshot()
    response = client.post(
        "/api/v1/staff", json=_body(**changes), headers=world.bearer("administrator")
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert _snapshot() == before


def test_body_must_be_a_json_object(client: FlaskClient, world: World) -> None:
    response = client.post(
        "/api/v1/staff", data="[]", content_type="application/json", headers=world.bearer("owner")
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_json"


def test_patch_changes_only_the_fields_given(client: FlaskClient, world: World) -> None:
    target = world.users["attendant"]
    response = client.patch(
        f"/api/v1/staff/{target.id}",
        json={"full_name": "Новое Имя", "site_ids": [world.site_a.id, world.site_b.id]},
        headers=world.bearer("administrator"),
    )
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["full_name"] == "Новое Имя"
    assert changed["phone"] == target.phone and changed["role"] == "attendant"
    assert sorted(changed["site_ids"]) == sorted([world.site_a.id, world.site_b.id])
    assert User.get_by_id(target.id).session_version == target.session_version


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"full_name": "  "}, 400, "name_required"),
        ({"phone": "12"}, 400, "bad_phone"),
        ({"phone": "+79000000004"}, 409, "phone_taken"),
        ({"role": "janitor"}, 400, "bad_role"),
        ({"role": "owner"}, 403, "owner_only"),
        ({"site_ids": [999]}, 404, "bad_site"),
        ({"password": "new-password-1"}, 400, "invalid"),
        ({"active": "perhaps"}, 400, "invalid"),
        ({"full_name": "Годное Имя", "phone": "bad"}, 400, "bad_phone"),
    ],
    ids=[
        "empty name",
        "bad phone",
        "duplicate phone",
        "unknown role",
        "promote to owner",
        "unknown site",
        "password not patchable",
        "active not a boolean",
        "half good",
    ],
)
def test_bad_patch_is_refused_and_nothing_changes(
    client: FlaskClient, world: World, body: dict[str, Any], status: int, code: str
) -> None:
    before = _snapshot()
    response = client.patch(
        f"/api/v1/staff/{world.users['attendant'].id}",
        json=body,
        headers=world.bearer("administrator"),
    )
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert _snapshot() == before


def test_patching_role_or_activity_ends_web_sessions(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    target = world.users["operator"]
    browser = as_role("operator")
    client.patch(
        f"/api/v1/staff/{target.id}", json={"role": "attendant"}, headers=world.bearer("owner")
    )
    bounced = browser.get("/staff/new")
    assert bounced.status_code == 302 and "/login" in bounced.headers["Location"]

    browser = app.test_client()
    login(browser, world.phone("operator"))
    client.patch(
        f"/api/v1/staff/{target.id}", json={"active": False}, headers=world.bearer("owner")
    )
    assert browser.get("/staff/new").status_code == 302
    assert client.get("/api/v1/me", headers=world.bearer("operator")).status_code == 401


def test_administrator_cannot_touch_an_owner(client: FlaskClient, world: World) -> None:
    owner = world.users["owner"].id
    before = _snapshot()
    for body in ({"full_name": "Захват"}, {"active": False}, {"role": "operator"}):
        response = client.patch(
            f"/api/v1/staff/{owner}", json=body, headers=world.bearer("administrator")
        )
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "owner_only"
    assert (
        client.get(f"/api/v1/staff/{owner}", headers=world.bearer("administrator")).status_code
        == 200
    )
    assert _snapshot() == before


def test_self_and_last_owner_are_protected(client: FlaskClient, world: World) -> None:
    owner = world.users["owner"].id
    headers = world.bearer("owner")
    before = _snapshot()
    deactivate = client.patch(f"/api/v1/staff/{owner}", json={"active": False}, headers=headers)
    assert deactivate.status_code == 403 and deactivate.get_json()["error"]["code"] == "self"
    demote = client.patch(f"/api/v1/staff/{owner}", json={"role": "administrator"}, headers=headers)
    assert demote.status_code == 409 and demote.get_json()["error"]["code"] == "last_owner"
    delete = client.delete(f"/api/v1/staff/{owner}", headers=headers)
    assert delete.status_code == 403
    assert _snapshot() == before


def test_owner_deactivates_another_owner(client: FlaskClient, world: World) -> None:
    second = create_staff(
        name="Второй владелец", phone="+79005550001", role="owner", password=PASSWORD
    )
    response = client.patch(
        f"/api/v1/staff/{second.id}", json={"active": False}, headers=world.bearer("owner")
    )
    assert response.status_code == 200 and response.get_json()["active"] is False


def test_delete_is_for_the_owner(client: FlaskClient, world: World) -> None:
    target = world.users["operator"].id
    refused = client.delete(f"/api/v1/staff/{target}", headers=world.bearer("administrator"))
    assert refused.status_code == 403
    deleted = client.delete(f"/api/v1/staff/{target}", headers=world.bearer("owner"))
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert client.get(f"/api/v1/staff/{target}", headers=world.bearer("owner")).status_code == 404
    assert (
        client.delete(f"/api/v1/staff/{target}", headers=world.bearer("owner")).status_code == 404
    )
    listed = client.get("/api/v1/staff", headers=world.bearer("owner")).get_json()
    assert target not in [item["id"] for item in listed["items"]]
    assert ApiToken.get(ApiToken.user == target).revoked_at is not None
    # The phone is free again.
    again = client.post(
        "/api/v1/staff", json=_body(phone=world.phone("operator")), headers=world.bearer("owner")
    )
    assert again.status_code == 201


@pytest.mark.parametrize("user_id", [9999, 10**20])
def test_unknown_staff_member_is_404(client: FlaskClient, world: World, user_id: int) -> None:
    path = f"/api/v1/staff/{user_id}"
    response = client.patch(path, json={"full_name": "X"}, headers=world.bearer("owner"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role", ["attendant", "operator", "administrator", "owner"])
def test_me_tells_who_the_caller_is_and_what_they_may_do(
    client: FlaskClient, world: World, role: str
) -> None:
    response = client.get("/api/v1/me", headers=world.bearer(role))
    assert response.status_code == 200
    me = response.get_json()
    assert me["id"] == world.users[role].id
    assert me["full_name"] == f"Сотрудник {role}"
    assert me["role"] == role
    assert me["site_ids"] == [world.site_a.id]
    assert set(me["capabilities"]) == {str(cap) for cap, roles in MATRIX.items() if role in roles}
    assert "hash" not in response.get_data(as_text=True)


def test_openapi_document_describes_the_staff_endpoints(client: FlaskClient, world: World) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/staff"]) == {"get", "post"}
    assert set(paths["/api/v1/staff/{user_id}"]) == {"get", "patch", "delete"}
    assert paths["/api/v1/staff/{user_id}"]["delete"]["x-capability"] == "delete_staff"
    assert "x-capability" not in paths["/api/v1/me"]["get"]
