"""Bonus points and discounts in the central app: the client page section, the terms form,
manual points, the bonus history page and CSV across clients with its filters, the API, the
welcome bonus on registration and ``aquastand-cloud expire-points``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from cloud import changes, cli
from cloud.db import db_proxy
from cloud.ledger.service import post_entry
from cloud.models import Client, LedgerEntry
from tests.cloud.conftest import World, post_form

NOW = datetime.now(UTC)


def fresh(world: World) -> Client:
    return Client.get_by_id(world.member.id)


def history_rows(world: World) -> None:
    """Four points operations of two clients: automatic and by the administrator."""
    admin = world.users["administrator"]
    post_entry(
        world.member, "bonus_welcome", 0, amount_points=350, created_at=NOW - timedelta(days=40)
    )
    post_entry(
        world.member, "bonus_accrual", 0, amount_points=15, created_at=NOW - timedelta(days=2)
    )
    post_entry(
        world.member, "bonus_adjustment", 0, amount_points=-50, created_by=admin, reason="Ошибка"
    )
    post_entry(world.other_site_client, "bonus_accrual", 0, amount_points=7, created_at=NOW)


# --- the client page -----------------------------------------------------------------------------


def test_the_client_page_shows_points_history_and_discount(as_role: Any, world: World) -> None:
    history_rows(world)
    post_form(
        as_role("operator"),
        f"/clients/{world.member.id}/terms",
        {"points_spending": "money_first", "discount_kind": "percent", "discount_value": "7"},
    )
    page = as_role("attendant").get(f"/clients/{world.member.id}").get_data(as_text=True)

    assert 'id="points-balance"' in page and ">315<" in page
    assert "Приветственные баллы" in page and "Ошибка" in page
    assert "7 %" in page and "Сначала деньги, потом баллы" in page
    assert 'id="terms"' not in page and 'id="points"' not in page  # an attendant only reads


def test_an_operator_sets_a_fixed_discount_and_the_stands_learn_it(
    as_role: Any, world: World
) -> None:
    before = changes.current_position()
    response = post_form(
        as_role("operator"),
        f"/clients/{world.member.id}/terms",
        {"points_spending": "off", "discount_kind": "fixed", "discount_value": "25,50"},
    )
    assert response.status_code == 302
    member = fresh(world)
    assert (member.discount_percent, member.discount_kopecks, member.points_spending) == (
        0,
        2550,
        "off",
    )
    assert changes.current_position() > before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"discount_kind": "percent", "discount_value": "150"}, "процент — от 0 до 100"),
        ({"discount_kind": "percent", "discount_value": "abc"}, "процент — от 0 до 100"),
        ({"discount_kind": "gift"}, "Выберите вид скидки"),
        ({"discount_kind": "none", "points_spending": "always"}, "порядок списания"),
    ],
)
def test_bad_terms_answer_400_with_the_reason_and_change_nothing(
    as_role: Any, world: World, form: dict[str, str], message: str
) -> None:
    response = post_form(as_role("operator"), f"/clients/{world.member.id}/terms", form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    member = fresh(world)
    assert (member.discount_percent, member.discount_kopecks) == (0, 0)
    assert member.points_spending == "points_first"


def test_an_administrator_grants_points_and_a_bad_amount_is_refused(
    as_role: Any, world: World
) -> None:
    admin = as_role("administrator")
    granted = post_form(
        admin, f"/clients/{world.member.id}/points", {"points": "120", "reason": "Акция"}
    )
    assert granted.status_code == 302
    refused = post_form(
        admin, f"/clients/{world.member.id}/points", {"points": "-500", "reason": "Ошибка"}
    )
    assert refused.status_code == 409  # more than the client has: a conflict with the balance
    assert "только 120 баллов" in refused.get_data(as_text=True)
    bad = post_form(admin, f"/clients/{world.member.id}/points", {"points": "1.5", "reason": "x"})
    assert bad.status_code == 400
    assert fresh(world).points_balance == 120


def test_an_operator_may_not_grant_points(as_role: Any, world: World) -> None:
    response = post_form(
        as_role("operator"), f"/clients/{world.member.id}/points", {"points": "10", "reason": "x"}
    )
    assert response.status_code == 403
    assert fresh(world).points_balance == 0


# --- the bonus history -----------------------------------------------------------------------


def test_the_history_across_clients_filters_by_operation_method_and_period(
    as_role: Any, world: World
) -> None:
    history_rows(world)
    operator = as_role("operator")

    def shown(query: str) -> str:
        return operator.get(f"/bonuses?{query}").get_data(as_text=True)

    everything = shown("")
    assert "Иван Петров" in everything and "Ольга Гагарина" in everything
    assert "Начислено: 372, списано и сгорело: 50, операций: 4" in everything
    assert "операций: 3" in shown("operation=accrual")
    by_staff = shown("method=staff")
    assert "операций: 1" in by_staff and "Ошибка" in by_staff
    assert "операций: 3" in shown("method=auto")
    assert "операций: 1" in shown(f"staff_id={world.users['administrator'].id}")
    recent = (NOW - timedelta(days=5)).date().isoformat()
    assert "операций: 3" in shown(f"from={recent}")
    by_phone = shown("phone=8 (916) 123-45-67")
    assert "операций: 3" in by_phone and "Ольга" not in by_phone
    assert operator.get("/bonuses?phone=12").status_code == 400
    bad = operator.get("/bonuses?operation=refund")
    assert bad.status_code == 400 and "Неизвестная операция" in bad.get_data(as_text=True)


def test_a_clients_history_and_its_csv_hold_only_that_client(as_role: Any, world: World) -> None:
    history_rows(world)
    operator = as_role("operator")
    page = operator.get(f"/clients/{world.member.id}/bonuses").get_data(as_text=True)
    assert "операций: 3" in page and "Ольга" not in page

    response = operator.get(f"/clients/{world.member.id}/bonuses.csv?operation=manual")
    text = response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 2
    assert rows[1][1:] == [
        str(world.member.id),
        "Иван Петров",
        "Вручную",
        "-50",
        world.users["administrator"].full_name,
        "Ошибка",
    ]


def test_the_csv_across_clients_follows_the_filter(as_role: Any, world: World) -> None:
    history_rows(world)
    text = as_role("owner").get("/bonuses.csv?operation=accrual").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert sorted(row[4] for row in rows[1:]) == ["15", "350", "7"]


# --- the API ---------------------------------------------------------------------------------


def test_the_api_reads_and_changes_a_clients_terms(client: FlaskClient, world: World) -> None:
    url = f"/api/v1/clients/{world.member.id}"
    data = client.get(url, headers=world.bearer("attendant")).get_json()
    assert (data["points_balance"], data["points_spending"], data["discount_percent"]) == (
        0,
        "points_first",
        0,
    )
    changed = client.patch(
        url, headers=world.bearer("operator"), json={"discount_percent": 12, "note": "VIP"}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["discount_percent"] == 12 and changed.get_json()["note"] == "VIP"
    bad = client.patch(url, headers=world.bearer("operator"), json={"discount_kopecks": 100})
    assert bad.status_code == 422  # each value fine, but not both a percentage and a sum
    assert bad.get_json()["error"]["code"] == "bad_discount"
    assert fresh(world).discount_kopecks == 0


def test_the_api_grants_points_and_lists_the_history(client: FlaskClient, world: World) -> None:
    url = f"/api/v1/clients/{world.member.id}/points"
    made = client.post(url, headers=world.bearer("owner"), json={"points": 40, "reason": "Акция"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["operation"] == "manual" and made.get_json()["points"] == 40
    refused = client.post(url, headers=world.bearer("owner"), json={"points": 0, "reason": "x"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_points"
    forbidden = client.post(
        url, headers=world.bearer("operator"), json={"points": 5, "reason": "x"}
    )
    assert forbidden.status_code == 403

    listed = client.get(f"{url}?method=staff", headers=world.bearer("attendant")).get_json()
    assert listed["total"] == 1 and listed["accrued"] == 40
    across = client.get("/api/v1/bonuses?operation=manual", headers=world.bearer("operator"))
    assert [item["client_id"] for item in across.get_json()["items"]] == [world.member.id]


# --- the welcome bonus and the command ---------------------------------------------------------


def test_a_member_registered_on_the_page_gets_the_welcome_bonus(
    app: Flask, as_role: Any, world: World
) -> None:
    app.config["AQ"].points_welcome = 350
    response = post_form(
        as_role("operator"),
        "/clients/new",
        {
            "name": "Мария Сидорова",
            "phones": "",
            "plates": "",
            "cards": "",
            "site_id": str(world.site_a.id),
        },
    )
    assert response.status_code == 302
    member = Client.get(Client.name == "Мария Сидорова")
    assert member.points_balance == 350
    assert [e.kind for e in LedgerEntry.select().where(LedgerEntry.client == member.id)] == [
        "bonus_welcome"
    ]


def test_a_guest_promoted_over_the_api_gets_the_welcome_bonus(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["AQ"].points_welcome = 200
    response = client.post(
        f"/api/v1/clients/{world.guest.id}/promote",
        headers=world.bearer("operator"),
        json={"name": "Гость Бывший"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["points_balance"] == 200


def test_expire_points_command_expires_old_points(
    app: Flask, world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_entry(
        world.member, "bonus_accrual", 0, amount_points=80, created_at=NOW - timedelta(days=400)
    )
    post_entry(
        world.member, "bonus_accrual", 0, amount_points=20, created_at=NOW - timedelta(days=3)
    )
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        result = CliRunner().invoke(cli.main, ["expire-points"])
        again = CliRunner().invoke(cli.main, ["expire-points"])
    finally:
        db_proxy.initialize(previous)
    assert result.exit_code == 0, result.output
    assert "expired 80 points of 1 clients" in result.output
    assert "expired 0 points of 0 clients" in again.output
    assert fresh(world).points_balance == 20
