"""The audit log as people and programs meet it: pages and the API record who acted and from
where; only the owner reads it (page, CSV, ``GET /api/v1/audit``) with filters; the database
refuses to change or delete a row; its CSV keeps typed names from being read as formulas."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import peewee
import pytest
from flask import Flask

from cloud import create_app
from cloud.audit import service as audit
from cloud.clients import service as clientbook
from cloud.clock import Clock, FixedClock
from cloud.db import bind
from cloud.ledger import service as ledger
from cloud.migrations import current_version, latest_version, upgrade
from cloud.models import ApiToken, AuditEntry, SchemaVersion
from cloud.staff.auth import hash_secret
from tests.cloud.conftest import World, login, post_form

MOMENT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return FixedClock(MOMENT)


def _last() -> AuditEntry:
    return AuditEntry.select().order_by(AuditEntry.id.desc()).get()


# --- who and from where ----------------------------------------------------------------------


def test_a_page_records_the_logged_in_staff_member_their_address_and_the_clock(
    app: Flask, world: World, as_role: Any
) -> None:
    browser = as_role("operator")

    response = post_form(
        browser, f"/clients/{world.member.id}/topup", {"amount": "150", "method": "cash"}
    )

    assert response.status_code == 302
    row = _last()
    assert row.action == "ledger.topup"
    assert (row.actor_id, row.actor_role) == (world.users["operator"].id, "operator")
    assert row.address == "127.0.0.1"
    assert row.api_token_id is None
    assert row.at == MOMENT  # the app's injected clock, not the wall clock
    assert json.loads(row.after)["amount_kopecks"] == 15000


def test_the_api_records_the_token_that_acted(app: Flask, world: World) -> None:
    browser = app.test_client()

    response = browser.post(
        f"/api/v1/clients/{world.member.id}/adjustments",
        json={"amount_kopecks": -500, "reason": "возврат за сбой"},
        headers=world.bearer("owner"),
    )

    assert response.status_code == 201, response.get_json()
    row = _last()
    token = ApiToken.get(ApiToken.token_hash == hash_secret(world.tokens["owner"]))
    assert (row.action, row.actor_id, row.api_token_id) == (
        "ledger.adjustment",
        world.users["owner"].id,
        token.id,
    )
    assert row.comment == "возврат за сбой"
    assert row.address == "127.0.0.1"


def test_behind_a_trusted_proxy_the_address_is_the_forwarded_client(
    app: Flask, world: World, database_url: str, tmp_path: Any
) -> None:
    headers = {**world.bearer("owner"), "X-Forwarded-For": "203.0.113.7"}
    path = f"/api/v1/clients/{world.member.id}/topups"
    body = {"amount_kopecks": 1000, "method": "cash"}

    assert app.test_client().post(path, json=body, headers=headers).status_code == 201
    direct = _last().address
    proxied = create_app(
        data_dir=tmp_path / "proxied",
        database_url=database_url,
        secret_key="test-secret",
        trusted_proxy_count=1,
    )
    assert proxied.test_client().post(path, json=body, headers=headers).status_code == 201
    bind(database_url)  # the second app bound the shared proxy; give the test its own back

    # Without a trusted proxy the header is the client's word, not its address.
    assert direct == "127.0.0.1"
    assert _last().address == "203.0.113.7"


# --- who may read it ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["attendant", "operator", "administrator"])
def test_only_the_owner_reads_the_log(app: Flask, world: World, as_role: Any, role: str) -> None:
    browser = as_role(role)
    api = app.test_client()

    assert browser.get("/audit").status_code == 403
    assert browser.get("/audit/audit.csv").status_code == 403
    assert api.get("/api/v1/audit", headers=world.bearer(role)).status_code == 403
    assert as_role("owner").get("/audit").status_code == 200
    assert api.get("/api/v1/audit", headers=world.bearer("owner")).status_code == 200


def test_the_log_has_no_route_that_changes_it(app: Flask) -> None:
    methods = {
        method
        for rule in app.url_map.iter_rules()
        if "audit" in rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert methods == {"GET"}


# --- the database refuses changes ------------------------------------------------------------


def test_the_database_refuses_to_update_or_delete_a_row(app: Flask, world: World) -> None:
    ledger.record_topup(world.users["owner"], world.member, 5000, "cash")
    row = _last()
    database = app.extensions["aquastand_db"]
    statements = [
        f"UPDATE audit_entry SET after = '{{}}' WHERE id = {row.id}",  # noqa: S608
        f"UPDATE audit_entry SET actor_name = 'никто' WHERE id = {row.id}",  # noqa: S608
        f"DELETE FROM audit_entry WHERE id = {row.id}",  # noqa: S608
        "DELETE FROM audit_entry",
    ]
    for sql in statements:
        with pytest.raises(peewee.DatabaseError, match="append-only"), database.atomic():
            database.execute_sql(sql)
    with pytest.raises(peewee.DatabaseError, match="append-only"), database.atomic():
        AuditEntry.update(comment="исправлено").where(AuditEntry.id == row.id).execute()
    with pytest.raises(peewee.DatabaseError, match="append-only"), database.atomic():
        AuditEntry.delete().execute()

    kept = AuditEntry.get_by_id(row.id)
    assert (kept.after, kept.actor_name) == (row.after, row.actor_name)


def test_an_older_database_gets_the_log_and_its_guard_from_version_20(
    app: Flask, world: World
) -> None:
    database = app.extensions["aquastand_db"]
    for sql in audit._guard_sql(database):
        if "TRIGGER" in sql and "DROP" not in sql:
            name = sql.split('"')[1]
            on = ' ON "audit_entry"' if isinstance(database, peewee.PostgresqlDatabase) else ""
            database.execute_sql(f'DROP TRIGGER IF EXISTS "{name}"{on}')
    database.execute_sql('DROP TABLE "audit_entry"')
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=15)

    assert upgrade(database) == (15, latest_version())

    assert current_version(database) == latest_version()
    ledger.record_topup(world.users["owner"], world.member, 5000, "cash")
    with pytest.raises(peewee.DatabaseError, match="append-only"), database.atomic():
        AuditEntry.delete().execute()
    assert AuditEntry.select().count() == 1


# --- the page, its filters and its CSV --------------------------------------------------------


def _some_actions(world: World) -> None:
    owner, operator = world.users["owner"], world.users["operator"]
    ledger.record_topup(operator, world.member, 5000, "cash")
    clientbook.set_blocked(owner, world.guest, True, "долг")
    clientbook.update_client(operator, world.member, name='=HYPERLINK("http://x")')


def test_the_page_filters_by_who_action_target_and_period(
    app: Flask, world: World, as_role: Any
) -> None:
    _some_actions(world)
    browser = as_role("owner")
    operator = world.users["operator"]

    everything = _table(browser.get("/audit"))
    by_operator = _table(browser.get(f"/audit?actor_id={operator.id}"))
    blocks = _table(browser.get("/audit?action=client.blocked"))
    guest = _table(browser.get(f"/audit?target_kind=client&target_id={world.guest.id}"))
    later = _table(browser.get("/audit?from=2026-03-02"))

    assert "Пополнение баланса" in everything and "Клиент заблокирован" in everything
    assert "Пополнение баланса" in by_operator and "Клиент заблокирован" not in by_operator
    assert "Клиент заблокирован" in blocks and "Пополнение баланса" not in blocks
    assert "Клиент заблокирован" in guest and "Пополнение баланса" not in guest
    assert "Записей не найдено" in later


def _table(response: Any) -> str:
    """The page's table of rows (the filter's choices name every action too)."""
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return page[page.index('id="audit-table"') :]


def test_the_page_refuses_a_bad_filter_with_words(app: Flask, world: World, as_role: Any) -> None:
    browser = as_role("owner")

    unknown = browser.get("/audit?action=drop.table")
    backwards = browser.get("/audit?from=2026-03-05&to=2026-03-01")

    assert unknown.status_code == 400
    assert "action" in unknown.get_data(as_text=True)
    assert backwards.status_code == 422


def test_the_page_is_in_english_when_asked(app: Flask, world: World, as_role: Any) -> None:
    _some_actions(world)
    browser = as_role("owner")
    browser.get("/lang/en")

    page = browser.get("/audit").get_data(as_text=True)

    assert "Audit log" in page and "Balance top-up" in page


def test_the_page_is_paged(app: Flask, world: World, as_role: Any) -> None:
    for amount in range(1, 56):
        ledger.record_topup(world.users["owner"], world.member, amount * 100, "cash")
    browser = as_role("owner")

    first = _table(browser.get("/audit?action=ledger.topup"))
    second = _table(browser.get("/audit?action=ledger.topup&offset=50"))

    assert first.count("<tr>") - 1 == 50 and "1–50" in first
    assert second.count("<tr>") - 1 == 5 and "51–55" in second


def _csv(response: Any) -> list[list[str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_the_csv_keeps_typed_names_from_being_read_as_formulas(
    app: Flask, world: World, as_role: Any
) -> None:
    _some_actions(world)
    browser = as_role("owner")

    rows = _csv(browser.get("/audit/audit.csv?action=client.updated"))

    header, (row,) = rows[0], rows[1:]
    assert header[7] == "Код действия" and row[7] == "client.updated"
    assert row[10] == '\'=HYPERLINK("http://x")'  # the label a person typed
    assert json.loads(row[12])["name"] == '=HYPERLINK("http://x")'
    assert row[2] == "Сотрудник operator"


def test_the_csv_has_every_row_the_filter_finds(app: Flask, world: World, as_role: Any) -> None:
    _some_actions(world)

    rows = _csv(as_role("owner").get("/audit/audit.csv"))

    codes = [row[7] for row in rows[1:]]
    assert codes[:3] == ["client.updated", "client.blocked", "ledger.topup"]  # newest first


# --- the API -----------------------------------------------------------------------------------


def test_the_api_lists_the_log_with_the_page_filters(app: Flask, world: World) -> None:
    _some_actions(world)
    api = app.test_client()
    owner = world.bearer("owner")

    blocks = api.get("/api/v1/audit?action=client.blocked", headers=owner).get_json()
    paged = api.get("/api/v1/audit?limit=1&offset=1", headers=owner).get_json()
    bad = api.get("/api/v1/audit?target_kind=nothing", headers=owner)
    backwards = api.get("/api/v1/audit?from=2026-03-05&to=2026-03-01", headers=owner)

    (item,) = blocks["items"]
    assert item["before"] == {"blocked": False, "blocked_reason": ""}
    assert item["after"] == {"blocked": True, "blocked_reason": "долг"}
    assert (item["actor_id"], item["target_id"], item["at"]) == (
        world.users["owner"].id,
        world.guest.id,
        "2026-03-01T09:30:00Z",
    )
    assert len(paged["items"]) == 1 and paged["total"] == blocks["total"] + 2 + 4
    assert bad.status_code == 400 and bad.get_json()["error"]["message"]
    assert backwards.status_code == 422


def test_the_api_document_lists_the_audit_operation_for_the_owner(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()

    operation = document["paths"]["/api/v1/audit"]["get"]

    assert operation["x-capability"] == "view_audit"
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "422"}
    names = {param["name"] for param in operation["parameters"]}
    assert names == {
        "actor_id",
        "action",
        "target_kind",
        "target_id",
        "from",
        "to",
        "limit",
        "offset",
    }


def test_login_then_actions_through_pages_and_api_name_the_same_person(
    app: Flask, world: World
) -> None:
    browser = app.test_client()
    assert login(browser, world.phone("administrator")).status_code == 302
    post_form(browser, f"/clients/{world.guest.id}/block", {"action": "block", "reason": "хулиган"})
    app.test_client().post(
        f"/api/v1/clients/{world.member.id}/topups",
        json={"amount_kopecks": 700, "method": "card"},
        headers=world.bearer("administrator"),
    )

    page_row, api_row = list(AuditEntry.select().order_by(AuditEntry.id.desc()).limit(2))[::-1]
    admin = world.users["administrator"].id
    assert (page_row.action, page_row.actor_id, page_row.api_token_id) == (
        "client.blocked",
        admin,
        None,
    )
    assert (api_row.action, api_row.actor_id) == ("ledger.topup", admin)
    assert api_row.api_token_id is not None
