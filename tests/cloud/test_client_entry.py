"""What staff type that is checked beyond its shape (cloud/clients/entry.py): a phone another
client already has is a warning with a link, saved only when confirmed; a plate entered now
must match a Russian format unless marked foreign (stored flag); plates stored before stay
valid. Pages, the JSON API and the CSV import; both databases (the fixtures)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.cabinet import membership
from cloud.clients import service as clientbook
from cloud.clients.csvimport import ImportFailed, import_clients
from cloud.db import utcnow
from cloud.errors import Unprocessable
from cloud.models import AuditEntry, Client, ClientPhone, Credential
from sync.plates import normalise_plate
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.test_syncapi import SYNC, enrolled, headers

IVAN_PHONE = "+79161234567"  # the world's member Иван Петров has it


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _clients() -> int:
    return int(Client.select().count())


# --- a duplicate phone ------------------------------------------------------------------------


def test_the_api_answers_409_with_the_other_client_and_saves_when_confirmed(
    client: FlaskClient, world: World
) -> None:
    body = {"kind": "member", "name": "Мария Петрова", "phones": ["8 916 123-45-67"]}
    before = _clients()
    refused = client.post("/api/v1/clients", headers=world.bearer("operator"), json=body)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "phone_taken" and error["client_id"] == world.member.id
    assert error["phone"] == IVAN_PHONE and "Иван Петров" in error["message"]
    assert _clients() == before  # nothing stored
    saved = client.post(
        "/api/v1/clients", headers=world.bearer("operator"), json={**body, "confirmed": True}
    )
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["phones"] == [IVAN_PHONE]
    # Search by the phone then shows both clients: intended.
    found = client.get(f"/api/v1/clients?q={IVAN_PHONE}", headers=world.bearer("operator"))
    assert {row["id"] for row in found.get_json()["items"]} == {
        world.member.id,
        saved.get_json()["id"],
    }


def test_a_deleted_clients_phone_is_free(client: FlaskClient, world: World) -> None:
    clientbook.delete_client(None, world.member)
    response = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={"kind": "member", "name": "Мария", "phones": [IVAN_PHONE]},
    )
    assert response.status_code == 201, response.get_json()


def test_editing_phones_warns_only_about_a_phone_new_to_the_client(
    client: FlaskClient, world: World
) -> None:
    other = clientbook.create_client(None, kind="member", name="Ольга", phones=["+79035550000"])
    path = f"/api/v1/clients/{other.id}"
    refused = client.patch(path, headers=world.bearer("operator"), json={"phones": [IVAN_PHONE]})
    assert (
        refused.status_code == 409 and refused.get_json()["error"]["client_id"] == world.member.id
    )
    assert clientbook.phones_of(Client.get_by_id(other.id)) == ["+79035550000"]
    confirmed = client.patch(
        path, headers=world.bearer("operator"), json={"phones": [IVAN_PHONE], "confirmed": True}
    )
    assert confirmed.status_code == 200 and confirmed.get_json()["phones"] == [IVAN_PHONE]
    # Saving again (the shared phone is the client's own now) asks nothing.
    again = client.patch(
        path, headers=world.bearer("operator"), json={"phones": [IVAN_PHONE, "+79035550001"]}
    )
    assert again.status_code == 200, again.get_json()
    # The member's own phones never count against them.
    own = client.patch(
        f"/api/v1/clients/{world.member.id}",
        headers=world.bearer("operator"),
        json={"phones": [IVAN_PHONE], "name": "Иван Петров"},
    )
    assert own.status_code == 200, own.get_json()


def test_another_sites_client_is_not_named_to_an_attendant(
    client: FlaskClient, world: World
) -> None:
    ClientPhone.create(client=world.other_site_client, phone="+79037770000")
    body = {"kind": "member", "name": "Пётр", "phones": ["+79037770000"]}
    refused = client.post("/api/v1/clients", headers=world.bearer("attendant"), json=body)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["client_id"] is None and "Гагарина" not in error["message"]
    assert "другой площадки" in error["message"]


def test_the_page_warns_with_a_link_and_the_tick_saves(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    form = {"name": "Мария Петрова", "phones": "+7 916 123 45 67"}
    before = _clients()
    warned = post_form(browser, "/clients/new", form)
    page = _text(warned)
    assert warned.status_code == 409 and _clients() == before
    assert f'href="/clients/{world.member.id}"' in page and 'name="confirm_phone"' in page
    assert "Иван Петров" in page
    saved = post_form(browser, "/clients/new", {**form, "confirm_phone": "yes"})
    assert saved.status_code == 302 and _clients() == before + 1


def test_the_edit_and_promote_pages_warn_too(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    path = f"/clients/{world.guest.id}/promote"
    warned = post_form(browser, path, {"name": "Олег", "phones": IVAN_PHONE})
    assert warned.status_code == 409 and f'href="/clients/{world.member.id}"' in _text(warned)
    assert Client.get_by_id(world.guest.id).kind == "guest"
    confirmed = {"name": "Олег", "phones": IVAN_PHONE, "confirm_phone": "yes"}
    promoted = post_form(browser, path, confirmed)
    assert promoted.status_code == 302 and Client.get_by_id(world.guest.id).kind == "member"
    other = clientbook.create_client(None, kind="member", name="Ольга")
    edit = f"/clients/{other.id}/edit"
    warned = post_form(browser, edit, {"name": "Ольга", "phones": IVAN_PHONE})
    assert warned.status_code == 409 and 'name="confirm_phone"' in _text(warned)
    assert clientbook.phones_of(Client.get_by_id(other.id)) == []
    saved = post_form(browser, edit, {**confirmed, "name": "Ольга"})
    assert saved.status_code == 302
    assert clientbook.phones_of(Client.get_by_id(other.id)) == [IVAN_PHONE]


def test_the_csv_import_refuses_a_shared_phone_unless_allowed(world: World) -> None:
    data = f"kind,name,phones\nmember,Мария,{IVAN_PHONE}\n".encode()
    before = _clients()
    with pytest.raises(ImportFailed) as failure:
        import_clients(data, progress=False)
    assert "line 2" in failure.value.problems[0] and "Иван Петров" in failure.value.problems[0]
    assert _clients() == before
    assert import_clients(data, progress=False, shared_phones=True) == 1
    assert _clients() == before + 1


# --- plate formats ----------------------------------------------------------------------------


def test_the_api_refuses_a_plate_of_no_russian_format_unless_foreign(
    client: FlaskClient, world: World
) -> None:
    body = {"kind": "guest", "plates": ["W-AB 1234"]}
    before = _clients()
    refused = client.post("/api/v1/clients", headers=world.bearer("operator"), json=body)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "plate_format" and "А123ВС77" in error["message"]
    assert "123CD177" in error["message"] and _clients() == before
    saved = client.post(
        "/api/v1/clients", headers=world.bearer("operator"), json={**body, "foreign": True}
    )
    assert saved.status_code == 201, saved.get_json()
    plate = Credential.get(Credential.client == saved.get_json()["id"])
    assert plate.value == "WАВ1234" and plate.is_foreign is True
    # A Russian plate sent with foreign: true is not marked foreign.
    russian = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={"kind": "guest", "plates": ["ab 123 77"], "foreign": True},
    )
    assert russian.status_code == 201
    assert Credential.get(Credential.client == russian.get_json()["id"]).is_foreign is False


def test_linking_a_plate_over_the_api(client: FlaskClient, world: World) -> None:
    path = f"/api/v1/clients/{world.member.id}/plates"
    headers = world.bearer("operator")
    refused = client.post(path, headers=headers, json={"plate": "AB12C77"})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "plate_format"
    linked = client.post(path, headers=headers, json={"plate": "1234 ax 77"})
    assert linked.status_code == 201 and linked.get_json()["value"] == "1234АХ77"
    assert linked.get_json()["foreign"] is False
    foreign = client.post(path, headers=headers, json={"plate": "B-123-XYZ", "foreign": True})
    assert foreign.status_code == 201 and foreign.get_json()["foreign"] is True
    audit = AuditEntry.select().order_by(AuditEntry.id.desc()).first()
    assert audit.action == "credential.linked" and "is_foreign" in str(audit.after)


def test_the_pages_refuse_a_bad_plate_and_accept_it_ticked_foreign(
    as_role: Any, world: World
) -> None:
    browser = as_role("operator")
    refused = post_form(browser, "/clients/new-guest", {"plate": "B-123-XYZ"})
    assert refused.status_code == 422
    page = _text(refused)
    assert "Иностранный номер" in page and "АВ123С77" in page
    before = _clients()
    saved = post_form(browser, "/clients/new-guest", {"plate": "B-123-XYZ", "foreign": "yes"})
    assert saved.status_code == 302 and _clients() == before + 1
    assert Credential.get(Credential.value == normalise_plate("B-123-XYZ")).is_foreign is True
    member = post_form(browser, "/clients/new", {"name": "Анна", "plates": "ZZ 999"})
    assert member.status_code == 422 and _clients() == before + 1
    member = post_form(
        browser, "/clients/new", {"name": "Анна", "plates": "ZZ 999", "foreign": "yes"}
    )
    assert member.status_code == 302
    path = f"/clients/{world.member.id}/plates"
    bad = post_form(browser, path, {"plate": "A12BC77"})
    assert bad.status_code == 422 and "123CD177" in _text(bad)
    good = post_form(browser, path, {"plate": "A12BC77", "foreign": "yes"})
    assert good.status_code == 302


def test_plates_stored_before_stay_valid(client: FlaskClient, world: World) -> None:
    """A plate stored before the check (no Russian format) is still found and its client
    still edited; the search normalises only."""
    Credential.create(client=world.guest, kind="plate", value=normalise_plate("XYZ1"))
    found = client.get("/api/v1/clients?q=xyz 1", headers=world.bearer("operator"))
    assert [row["id"] for row in found.get_json()["items"]] == [world.guest.id]
    edited = client.patch(
        f"/api/v1/clients/{world.guest.id}", headers=world.bearer("operator"), json={"note": "x"}
    )
    assert edited.status_code == 200


def test_the_csv_import_checks_plates_with_a_foreign_column(world: World) -> None:
    bad = b"kind,name,plates\nguest,,W AB 1234\n"
    with pytest.raises(ImportFailed) as failure:
        import_clients(bad, progress=False)
    assert failure.value.problems[0].startswith("line 2:")
    assert "А123ВС77" in failure.value.problems[0]
    good = b"kind,name,plates,foreign\nguest,,W AB 1234,yes\nguest,,ab 123 c 77,\n"
    assert import_clients(good, progress=False) == 2
    assert Credential.get(Credential.value == "WАВ1234").is_foreign is True
    assert Credential.get(Credential.value == "АВ123С77").is_foreign is False


def test_a_stands_foreign_guest_plate_is_stored_as_foreign(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=5))
    staff = str(world.users["attendant"].id)
    batch = [
        stream.event("guest.registered", {"client_uuid": new_uuid(), "plate": "WАВ1234"}, staff),
        stream.event("guest.registered", {"client_uuid": new_uuid(), "plate": "АВ123С77"}, staff),
    ]
    answer = client.post(f"{SYNC}/events", headers=headers(token), json={"events": batch})
    assert answer.status_code == 200 and answer.get_json()["acked_seq"] == 2, answer.get_json()
    assert Credential.get(Credential.value == "WАВ1234").is_foreign is True
    assert Credential.get(Credential.value == "АВ123С77").is_foreign is False


def test_joining_in_the_cabinet_checks_plates_but_a_stored_one_can_be_claimed(
    app: Flask, world: World
) -> None:
    config, now = app.config["AQ"], utcnow()
    join = {"name": "Анна", "consent": True, "config": config, "now": now}
    before = _clients()
    with pytest.raises(Unprocessable) as refused:
        membership.join("+79035551111", plates=["W AB 1234"], **join)
    assert refused.value.code == "plate_format" and _clients() == before
    joined = membership.join("+79035551111", plates=["W AB 1234"], foreign=True, **join)
    assert Credential.get(Credential.client == joined.id).is_foreign is True
    # A guest's plate stored before the formats were checked: the guest claims it as it is.
    old = normalise_plate("XYZ1")
    Credential.create(client=world.guest, kind="plate", value=old)
    claimed = membership.join("+79035552222", plates=["xyz 1"], **join)
    assert claimed.id == world.guest.id and claimed.kind == "member"
