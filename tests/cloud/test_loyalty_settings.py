"""The bonus programme's settings page (cloud/loyalty/settings.py): the owner's values over the
configuration file's, audited, and used everywhere the rules are: the welcome bonus, the
accrual on a stand's top-up, the expiry job and the point value sent to the stands. Both
databases (the fixtures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from cloud import cli
from cloud.clock import app_now
from cloud.db import db_proxy, utcnow
from cloud.ledger.service import post_entry
from cloud.loyalty import settings as loyalty_settings
from cloud.models import AuditEntry, Client, LoyaltySetting, Stand
from cloud.standsync.feed import directory_page
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream
from tests.cloud.test_syncapi import SYNC, enrolled, headers

PATH = "/loyalty/settings"
FORM = {
    "welcome": "150",
    "accrual_percent": "5",
    "accrual_on": "topup",
    "expiry_days": "30",
    "value_kopecks": "50",
}


def _audit_rows() -> list[AuditEntry]:
    return list(
        AuditEntry.select().where(AuditEntry.action == "loyalty.settings").order_by(AuditEntry.id)
    )


@pytest.mark.parametrize("role", ["attendant", "operator", "administrator"])
def test_only_the_owner_opens_the_settings(as_role: Any, world: World, role: str) -> None:
    browser = as_role(role)
    assert browser.get(PATH).status_code == 403
    assert post_form(browser, PATH, FORM).status_code == 403
    assert LoyaltySetting.select().count() == 0


def test_the_file_is_the_default_until_the_owner_saves(
    app: Flask, as_role: Any, world: World
) -> None:
    config = app.config["AQ"]
    config.points_welcome, config.points_accrual_percent = 100, 3
    browser = as_role("owner")
    page = browser.get(PATH).get_data(as_text=True)
    assert 'name="welcome" inputmode="numeric" value="100"' in page
    assert "Из файла конфигурации" in page
    saved = post_form(browser, PATH, FORM)
    assert saved.status_code == 302
    rules = loyalty_settings.effective_rules(config)
    assert (rules.welcome, rules.accrual_percent, rules.expiry_days, rules.value_kopecks) == (
        150,
        5,
        30,
        50,
    )
    # The file changing later no longer moves what the owner saved.
    config.points_welcome = 999
    assert loyalty_settings.effective_rules(config).welcome == 150
    page = browser.get(PATH).get_data(as_text=True)
    assert 'value="150"' in page and "в файле: 999" in page
    # One audit row, before and after of what changed.
    (row,) = _audit_rows()
    assert row.actor_id == world.users["owner"].id and row.target_kind == "settings"
    before, after = json.loads(row.before), json.loads(row.after)
    assert before["points_welcome"] == 100 and after["points_welcome"] == 150
    assert before["points_accrual_percent"] == 3 and after["points_accrual_percent"] == 5
    # Saving the same values again records nothing.
    assert post_form(browser, PATH, FORM).status_code == 302
    assert len(_audit_rows()) == 1
    # Back to the file: audited too.
    assert post_form(browser, PATH, {"reset": "yes"}).status_code == 302
    assert LoyaltySetting.select().count() == 0
    assert loyalty_settings.effective_rules(config).welcome == 999
    assert len(_audit_rows()) == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("welcome", "-1", "Приветственный бонус"),
        ("welcome", "много", "Приветственный бонус"),
        ("accrual_percent", "101", "Процент начисления"),
        ("accrual_on", "visit", "Начислять"),
        ("expiry_days", "99999", "Срок жизни"),
        ("value_kopecks", "0", "Стоимость балла"),
    ],
)
def test_a_bad_value_says_which_and_changes_nothing(
    as_role: Any, world: World, field: str, value: str, message: str
) -> None:
    response = post_form(as_role("owner"), PATH, {**FORM, field: value})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert LoyaltySetting.select().count() == 0 and _audit_rows() == []


def test_the_saved_welcome_bonus_is_given_to_a_new_member(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["AQ"].points_welcome = 10
    loyalty_settings.save(None, app.config["AQ"], loyalty_settings.parse(FORM))
    response = client.post(
        "/api/v1/clients",
        headers=world.bearer("operator"),
        json={"kind": "member", "name": "Новый Участник"},
    )
    assert response.status_code == 201
    assert Client.get_by_id(response.get_json()["id"]).points_balance == 150


def test_a_stands_top_up_accrues_by_the_saved_percent(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["AQ"].points_accrual_percent = 0
    loyalty_settings.save(None, app.config["AQ"], loyalty_settings.parse(FORM))
    token = enrolled(client, world)
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=5))
    topup = stream.topup(world.member.id, 100_000, str(world.users["attendant"].id))
    answer = client.post(f"{SYNC}/events", headers=headers(token), json={"events": [topup]})
    assert answer.status_code == 200, answer.get_json()
    # 5 % of 1 000 ₽ is 50 ₽, at 50 kopecks a point: 100 points.
    assert Client.get_by_id(world.member.id).points_balance == 100


def test_the_stands_get_the_saved_point_value(app: Flask, world: World) -> None:
    config = app.config["AQ"]
    config.points_value_kopecks = 100
    stand = Stand.get_by_id(world.stand_a.id)
    assert (
        json.loads(directory_page(stand, 0, 5000, config, app_now()))["points_value_kopecks"] == 100
    )
    loyalty_settings.save(None, config, loyalty_settings.parse(FORM))
    page = json.loads(directory_page(stand, 0, 5000, config, app_now()))
    assert page["points_value_kopecks"] == 50


def test_the_expiry_job_uses_the_saved_lifetime(
    app: Flask, world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    post_entry(
        world.member, "bonus_accrual", 0, amount_points=80, created_at=now - timedelta(days=40)
    )
    post_entry(world.member, "bonus_accrual", 0, amount_points=20, created_at=now)
    # The file keeps points a year; the owner's 30 days expire the 40-day-old ones.
    loyalty_settings.save(None, app.config["AQ"], loyalty_settings.parse(FORM))
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        result = CliRunner().invoke(cli.main, ["expire-points"])
    finally:
        db_proxy.initialize(previous)
    assert result.exit_code == 0, result.output
    assert "expired 80 points of 1 clients" in result.output
    assert Client.get_by_id(world.member.id).points_balance == 20
