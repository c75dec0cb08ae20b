"""Staff pages: the users list, the user card, creating, editing, deactivating and deleting staff,
with the role rules and the end of sessions that go with them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import check_password_hash

from cloud.models import ApiToken, User, UserSite
from cloud.staff.service import create_staff
from tests.cloud.conftest import PASSWORD, World, login, post_form


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _alert(response: Any) -> str:
    """The error or success message shown on the page."""
    return " ".join(re.findall(r'role="alert">([^<]*)<', _text(response)))


def _bounced(browser: FlaskClient) -> bool:
    """Whether the browser's session has ended (it is sent to log in)."""
    response = browser.get("/staff/new")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def _new_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "full_name": "Мария Иванова",
        "phone": "8 (901) 555-44-33",
        "role": "operator",
        "password": "long-enough-1",
        "pin": "246802",
    }
    form.update(changes)
    return form


def _edit_form(user: User, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "site_ids": [link.site_id for link in UserSite.select().where(UserSite.user == user)],
    }
    form.update(changes)
    return form


def _snapshot() -> list[tuple[Any, ...]]:
    users = User.select().order_by(User.id)
    links = UserSite.select().order_by(UserSite.id)
    return [
        *[
            (
                u.id,
                u.full_name,
                u.phone,
                u.role,
                u.active,
                u.password_hash,
                u.pin_hash,
                u.deleted_at,
            )
            for u in users
        ],
        *[(link.user_id, link.site_id) for link in links],
    ]


# ---- the users page -------------------------------------------------------------------------


def test_users_page_lists_staff_with_name_phone_role_sites_and_activity(
    as_role: Any, world: World
) -> None:
    User.update(active=False).where(User.id == world.users["operator"].id).execute()
    page = _text(as_role("administrator").get("/staff"))
    for role in ("attendant", "operator", "administrator", "owner"):
        assert f"Сотрудник {role}" in page
        assert world.phone(role) in page
        assert f'href="/staff/{world.users[role].id}"' in page
    assert "Аквастендист" in page and "Владелец" in page
    assert world.site_a.name in page
    assert page.count("Неактивен") == 1
    assert page.count(">Активен<") == 3


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"q": "сотрудник OWNER"}, ["owner"], ["operator"]),
        ({"q": "8 900 000-00-02"}, ["operator"], ["owner"]),
        ({"q": "00002"}, ["operator"], ["attendant"]),
        ({"status": "inactive"}, ["attendant"], ["owner"]),
        ({"status": "active"}, ["owner"], ["attendant"]),
    ],
)
def test_users_page_searches_by_name_or_phone_and_filters_by_activity(
    as_role: Any, world: World, query: dict[str, str], shown: list[str], hidden: list[str]
) -> None:
    User.update(active=False).where(User.id == world.users["attendant"].id).execute()
    page = _text(as_role("owner").get("/staff", query_string=query))
    for role in shown:
        assert f"Сотрудник {role}</a>" in page
    for role in hidden:
        assert f"Сотрудник {role}</a>" not in page


@pytest.mark.parametrize("role", ["attendant", "operator"])
@pytest.mark.parametrize("path", ["/staff", "/staff/new", "/staff/{id}"])
def test_staff_pages_are_refused_to_attendants_and_operators(
    as_role: Any, world: World, role: str, path: str
) -> None:
    browser = as_role(role)
    response = browser.get(path.format(id=world.users["attendant"].id))
    assert response.status_code == 403
    refused = post_form(browser, f"/staff/{world.users['attendant'].id}/active", {"active": "0"})
    assert refused.status_code == 403
    assert User.get_by_id(world.users["attendant"].id).active


# ---- creating -------------------------------------------------------------------------------


def test_administrator_creates_a_staff_member(as_role: Any, world: World, app: Flask) -> None:
    browser = as_role("administrator")
    form = _new_form(site_ids=[world.site_a.id, world.site_b.id])
    response = post_form(browser, "/staff/new", form)
    assert response.status_code == 302
    user = User.get(User.phone == "+79015554433")
    assert response.headers["Location"] == f"/staff/{user.id}"
    assert (user.full_name, user.role, user.active) == ("Мария Иванова", "operator", True)
    assert {link.site_id for link in user.site_links} == {world.site_a.id, world.site_b.id}
    assert user.pin_hash != "246802" and check_password_hash(user.pin_hash, "246802")
    assert "Мария Иванова создан" in _alert(browser.get(response.headers["Location"]))
    assert login(app.test_client(), "+79015554433", "long-enough-1").status_code == 302


def test_pin_is_optional_when_creating(as_role: Any, world: World) -> None:
    response = post_form(as_role("owner"), "/staff/new", _new_form(pin=""))
    assert response.status_code == 302
    assert User.get(User.phone == "+79015554433").pin_hash == ""


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"full_name": "   "}, 400, "Укажите ФИО"),
        ({"phone": "12-34"}, 400, "Некорректный номер телефона"),
        ({"phone": "8 900 000 00 01"}, 409, "Сотрудник с таким телефоном уже есть"),
        ({"password": "short"}, 400, "Пароль должен быть не короче 8 символов"),
        ({"pin": "12a4"}, 400, "PIN — от 6 до 8 цифр"),
        ({"pin": "123"}, 400, "PIN — от 6 до 8 цифр"),
        ({"role": "superuser"}, 400, "Неизвестная роль"),
        ({"site_ids": ["999"]}, 404, "Неизвестная площадка"),
        ({"site_ids": ["abc"]}, 400, "Неизвестная площадка"),
    ],
    ids=[
        "empty name",
        "bad phone",
        "duplicate phone",
        "short password",
        "letter in PIN",
        "short PIN",
        "unknown role",
        "unknown site",
        "site not a number",
    ],
)
def test_bad_new_staff_member_is_refused_and_nothing_stored(
    as_role: Any, world: World, changes: dict[str, Any], status: int, message: str
) -> None:
    browser = as_role("administrator")
    before = _snapshot()
    response = post_form(browser, "/staff/new", _new_form(**changes))
    assert response.status_code == status
    assert message in _alert(response)
    assert _snapshot() == before
    if "full_name" not in changes:
        assert 'value="Мария Иванова"' in _text(response)  # the form comes back as typed


def test_administrator_cannot_create_an_owner(as_role: Any, world: World) -> None:
    browser = as_role("administrator")
    assert 'value="owner"' not in _text(browser.get("/staff/new"))
    before = _snapshot()
    response = post_form(browser, "/staff/new", _new_form(role="owner"))
    assert response.status_code == 403
    assert "Назначать владельцев может только владелец" in _alert(response)
    assert _snapshot() == before


def test_owner_creates_an_owner(as_role: Any, world: World) -> None:
    browser = as_role("owner")
    assert 'value="owner"' in _text(browser.get("/staff/new"))
    assert post_form(browser, "/staff/new", _new_form(role="owner")).status_code == 302
    assert User.get(User.phone == "+79015554433").role == "owner"


# ---- the card and editing -------------------------------------------------------------------


def test_card_shows_the_staff_member(as_role: Any, world: World) -> None:
    page = _text(as_role("administrator").get(f"/staff/{world.users['attendant'].id}"))
    assert "Сотрудник attendant" in page
    assert world.phone("attendant") in page
    assert world.site_a.name in page
    assert "Деактивировать" in page
    assert "Удалить" not in page  # only the owner deletes
    assert world.users["attendant"].pin_hash not in page


def test_unknown_or_deleted_staff_member_is_not_found(as_role: Any, world: World) -> None:
    browser = as_role("owner")
    assert browser.get("/staff/9999").status_code == 404
    assert browser.get(f"/staff/{10**20}").status_code == 404
    post_form(browser, f"/staff/{world.users['operator'].id}/delete", {})
    assert browser.get(f"/staff/{world.users['operator'].id}").status_code == 404


def test_administrator_edits_a_staff_member(as_role: Any, world: World) -> None:
    browser = as_role("administrator")
    target = world.users["attendant"]
    form = _edit_form(
        target,
        full_name="  Пётр   Сидоров ",
        phone="+7 (902) 111-22-33",
        role="operator",
        site_ids=[world.site_b.id],
    )
    response = post_form(browser, f"/staff/{target.id}", form)
    assert response.status_code == 302
    stored = User.get_by_id(target.id)
    assert (stored.full_name, stored.phone, stored.role) == (
        "Пётр Сидоров",
        "+79021112233",
        "operator",
    )
    assert [link.site_id for link in stored.site_links] == [world.site_b.id]
    assert "Изменения сохранены" in _alert(browser.get(response.headers["Location"]))


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"full_name": ""}, 400, "Укажите ФИО"),
        ({"phone": "телефон"}, 400, "Некорректный номер телефона"),
        ({"phone": "+79000000004"}, 409, "Сотрудник с таким телефоном уже есть"),
        ({"role": "boss"}, 400, "Неизвестная роль"),
        ({"site_ids": [999]}, 404, "Неизвестная площадка"),
        ({"role": "owner"}, 403, "Назначать владельцев может только владелец"),
    ],
    ids=[
        "empty name",
        "bad phone",
        "duplicate phone",
        "unknown role",
        "unknown site",
        "promote to owner",
    ],
)
def test_bad_edit_is_refused_and_nothing_changes(
    as_role: Any, world: World, changes: dict[str, Any], status: int, message: str
) -> None:
    browser = as_role("administrator")
    target = world.users["attendant"]
    before = _snapshot()
    form = _edit_form(target, full_name="Новое имя", site_ids=[world.site_b.id])
    form.update(changes)
    response = post_form(browser, f"/staff/{target.id}", form)
    assert response.status_code == status
    assert message in _alert(response)
    assert _snapshot() == before


def test_administrator_cannot_change_an_owner(as_role: Any, world: World) -> None:
    browser = as_role("administrator")
    owner = world.users["owner"]
    card = _text(browser.get(f"/staff/{owner.id}"))
    assert "Изменять владельцев может только владелец" in card
    assert f'action="/staff/{owner.id}/password"' not in card
    before = _snapshot()
    attempts = [
        (f"/staff/{owner.id}", _edit_form(owner, full_name="Захват")),
        (
            f"/staff/{owner.id}/password",
            {"password": "new-password-1", "password_again": "new-password-1"},
        ),
        (f"/staff/{owner.id}/pin", {"pin": "999999"}),
        (f"/staff/{owner.id}/active", {"active": "0"}),
        (f"/staff/{owner.id}/tokens", {}),
    ]
    for path, form in attempts:
        response = post_form(browser, path, form)
        assert response.status_code == 403, path
    assert _snapshot() == before
    assert ApiToken.select().where(ApiToken.user == owner).count() == 1


def test_administrator_manages_another_administrator(as_role: Any, world: World) -> None:
    other = create_staff(
        name="Второй администратор", phone="+79005550000", role="administrator", password=PASSWORD
    )
    response = post_form(as_role("administrator"), f"/staff/{other.id}/active", {"active": "0"})
    assert response.status_code == 302
    assert not User.get_by_id(other.id).active


def test_role_change_ends_the_staff_members_sessions(as_role: Any, world: World) -> None:
    target_browser = as_role("operator")
    target = world.users["operator"]
    post_form(as_role("administrator"), f"/staff/{target.id}", _edit_form(target, role="attendant"))
    assert _bounced(target_browser)


def test_name_change_keeps_the_staff_members_sessions(as_role: Any, world: World) -> None:
    target_browser = as_role("administrator")
    target = world.users["administrator"]
    post_form(
        as_role("owner"), f"/staff/{target.id}", _edit_form(target, full_name="Иной Администратор")
    )
    assert not _bounced(target_browser)


def test_owner_cannot_demote_the_last_active_owner(as_role: Any, world: World) -> None:
    browser = as_role("owner")
    owner = world.users["owner"]
    response = post_form(browser, f"/staff/{owner.id}", _edit_form(owner, role="administrator"))
    assert response.status_code == 409
    assert "Нельзя оставить систему без активного владельца" in _alert(response)
    assert User.get_by_id(owner.id).role == "owner"


def test_owner_may_step_down_when_another_owner_remains(as_role: Any, world: World) -> None:
    create_staff(name="Второй владелец", phone="+79005550001", role="owner", password=PASSWORD)
    browser = as_role("owner")
    owner = world.users["owner"]
    response = post_form(browser, f"/staff/{owner.id}", _edit_form(owner, role="administrator"))
    assert response.status_code == 302
    assert User.get_by_id(owner.id).role == "administrator"
    assert not _bounced(browser)  # this browser stays logged in, as an administrator now


# ---- password and PIN -----------------------------------------------------------------------


def test_new_password_ends_sessions_and_replaces_the_old_one(
    as_role: Any, world: World, app: Flask
) -> None:
    target_browser = as_role("operator")
    target = world.users["operator"]
    browser = as_role("administrator")
    form = {"password": "brand-new-pass", "password_again": "brand-new-pass"}
    response = post_form(browser, f"/staff/{target.id}/password", form)
    assert response.status_code == 302
    assert _bounced(target_browser)
    assert login(app.test_client(), world.phone("operator")).status_code == 401
    assert login(app.test_client(), world.phone("operator"), "brand-new-pass").status_code == 302


def test_own_new_password_keeps_this_session_only(as_role: Any, world: World) -> None:
    here, elsewhere = as_role("administrator"), as_role("administrator")
    me = world.users["administrator"]
    form = {"password": "brand-new-pass", "password_again": "brand-new-pass"}
    form["current_password"] = PASSWORD  # one's own: the current one first
    assert post_form(here, f"/staff/{me.id}/password", form).status_code == 302
    assert not _bounced(here)
    assert _bounced(elsewhere)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"password": "short", "password_again": "short"},
            "Пароль должен быть не короче 8 символов",
        ),
        ({"password": "long-enough-1", "password_again": "long-enough-2"}, "Пароли не совпадают"),
    ],
)
def test_bad_new_password_is_refused(
    as_role: Any, world: World, form: dict[str, str], message: str
) -> None:
    target_browser = as_role("operator")
    before = _snapshot()
    response = post_form(
        as_role("administrator"), f"/staff/{world.users['operator'].id}/password", form
    )
    assert response.status_code == 400
    assert message in _alert(response)
    assert _snapshot() == before
    assert not _bounced(target_browser)


def test_pin_is_set_hashed(as_role: Any, world: World) -> None:
    target = world.users["attendant"]
    response = post_form(as_role("administrator"), f"/staff/{target.id}/pin", {"pin": " 13572468 "})
    assert response.status_code == 302
    stored = User.get_by_id(target.id).pin_hash
    assert "13572468" not in stored and check_password_hash(stored, "13572468")


@pytest.mark.parametrize(
    "pin", ["", "123", "1234", "12345", "123456789", "12 34", "abcd", "١٢٣٤٥٦"]
)
def test_bad_pin_is_refused(as_role: Any, world: World, pin: str) -> None:
    before = _snapshot()
    response = post_form(
        as_role("administrator"), f"/staff/{world.users['attendant'].id}/pin", {"pin": pin}
    )
    assert response.status_code == 400
    assert "PIN — от 6 до 8 цифр" in _alert(response)
    assert _snapshot() == before


# ---- deactivating and deleting --------------------------------------------------------------


def test_deactivation_ends_sessions_log_in_and_api_access(
    as_role: Any, world: World, app: Flask
) -> None:
    target_browser = as_role("operator")
    target = world.users["operator"]
    api = app.test_client()
    assert api.get("/api/v1/me", headers=world.bearer("operator")).status_code == 200
    browser = as_role("administrator")
    response = post_form(browser, f"/staff/{target.id}/active", {"active": "0"})
    assert response.status_code == 302
    assert "деактивирован" in _alert(browser.get(response.headers["Location"]))
    assert _bounced(target_browser)
    assert login(app.test_client(), world.phone("operator")).status_code == 401
    assert api.get("/api/v1/me", headers=world.bearer("operator")).status_code == 401
    # Activated again, the same token and password work again.
    assert post_form(browser, f"/staff/{target.id}/active", {"active": "1"}).status_code == 302
    assert api.get("/api/v1/me", headers=world.bearer("operator")).status_code == 200
    assert login(app.test_client(), world.phone("operator")).status_code == 302


def test_nobody_deactivates_or_deletes_themselves(as_role: Any, world: World) -> None:
    browser = as_role("owner")
    me = world.users["owner"]
    assert "Деактивировать" not in _text(browser.get(f"/staff/{me.id}"))
    before = _snapshot()
    deactivated = post_form(browser, f"/staff/{me.id}/active", {"active": "0"})
    assert deactivated.status_code == 403
    assert "Нельзя деактивировать самого себя" in _alert(deactivated)
    deleted = post_form(browser, f"/staff/{me.id}/delete", {})
    assert deleted.status_code == 403
    assert "Нельзя удалить самого себя" in _alert(deleted)
    assert _snapshot() == before


def test_activity_switch_needs_a_value(as_role: Any, world: World) -> None:
    before = _snapshot()
    response = post_form(
        as_role("administrator"), f"/staff/{world.users['attendant'].id}/active", {}
    )
    assert response.status_code == 400
    assert _snapshot() == before


def test_administrator_cannot_delete(as_role: Any, world: World) -> None:
    response = post_form(
        as_role("administrator"), f"/staff/{world.users['operator'].id}/delete", {}
    )
    assert response.status_code == 403
    assert User.get_by_id(world.users["operator"].id).deleted_at is None


def test_owner_deletes_a_staff_member(as_role: Any, world: World, app: Flask) -> None:
    target_browser = as_role("operator")
    target = world.users["operator"]
    browser = as_role("owner")
    assert "Удалить" in _text(browser.get(f"/staff/{target.id}"))
    response = post_form(browser, f"/staff/{target.id}/delete", {})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff"
    listing = browser.get("/staff")
    assert "Сотрудник operator удалён" in _alert(listing)
    assert "Сотрудник operator</a>" not in _text(listing)
    stored = User.get_by_id(target.id)
    assert stored.deleted_at is not None and not stored.active
    assert _bounced(target_browser)
    assert login(app.test_client(), world.phone("operator")).status_code == 401
    assert app.test_client().get("/api/v1/me", headers=world.bearer("operator")).status_code == 401
    # The phone is free for someone new.
    again = post_form(browser, "/staff/new", _new_form(phone=world.phone("operator")))
    assert again.status_code == 302


# ---- API tokens on the card -----------------------------------------------------------------


def test_token_is_shown_once_works_and_can_be_revoked(
    as_role: Any, world: World, app: Flask
) -> None:
    browser = as_role("owner")
    target = world.users["attendant"]
    response = post_form(browser, f"/staff/{target.id}/tokens", {})
    assert response.status_code == 200
    token = re.search(r'value="(aqs_[^"]+)"', _text(response))
    assert token, "the new token is shown"
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    me = app.test_client().get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["id"] == target.id
    card = _text(browser.get(f"/staff/{target.id}"))
    assert token.group(1) not in card
    assert card.count('name="token_id"') == 2  # the world's token and this one
    row = ApiToken.select().where(ApiToken.user == target).order_by(ApiToken.id.desc()).get()
    assert row.last_used_at is not None
    revoked = post_form(browser, f"/staff/{target.id}/tokens/revoke", {"token_id": str(row.id)})
    assert revoked.status_code == 302
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert app.test_client().get("/api/v1/me", headers=world.bearer("attendant")).status_code == 200


def test_revoking_someone_elses_token_is_not_found(as_role: Any, world: World) -> None:
    other = ApiToken.get(ApiToken.user == world.users["operator"])
    path = f"/staff/{world.users['attendant'].id}/tokens/revoke"
    response = post_form(as_role("administrator"), path, {"token_id": str(other.id)})
    assert response.status_code == 404
    assert ApiToken.get_by_id(other.id).revoked_at is None


def test_users_page_search_reads_yo_as_ye(as_role: Any, world: World) -> None:
    create_staff(name="Пётр Ёлкин", phone="+79005550002", role="operator", password=PASSWORD)
    page = _text(as_role("administrator").get("/staff", query_string={"q": "петр елкин"}))
    assert "Пётр Ёлкин</a>" in page
    assert "Сотрудник owner</a>" not in page
