"""A client's money for washing centrally (issue 15, item 4): the client's own overdraft limit,
set by an administrator or the owner on the client page and in the API, sent to the stands in
the directory; "Доступно для мойки" and whether a start is possible, computed by the stands' rule
(sync/funds.py); and where a client's session is open, sent to the stands (item 3)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.catalog import tariffs
from cloud.db import utcnow
from cloud.ledger import service as ledger
from cloud.models import Client, Site, Stand
from cloud.standsync.directory import build_directory
from cloud.standsync.ingest import StandClock, apply_batch
from sync.money import format_kopecks
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream
from tests.cloud.test_directory_feed import RATES


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _directory_client(app: Flask, world: World, client_id: int) -> dict[str, Any]:
    document = build_directory(world.site_a.id, app.config["AQ"], utcnow())
    return next(c for c in document["clients"] if c["id"] == client_id)


# --- the page -----------------------------------------------------------------------------------


def test_the_client_page_shows_what_is_available_and_whether_a_start_is_possible(
    as_role: Any, world: World
) -> None:
    browser = as_role("attendant")
    page = _text(browser.get(f"/clients/{world.member.id}"))
    assert "Доступно для мойки" in page
    assert "нельзя: тариф «Стандарт», нужно не меньше " + format_kopecks(5000) in page

    ledger.record_topup(None, world.member, 5000, "cash")
    page = _text(browser.get(f"/clients/{world.member.id}"))
    assert "можно: тариф «Стандарт», нужно не меньше " + format_kopecks(5000) in page
    assert "Сохранить лимит" not in page  # an attendant does not set credit


def test_an_administrator_sets_the_overdraft_on_the_page_and_an_operator_may_not(
    as_role: Any, world: World
) -> None:
    path = f"/clients/{world.member.id}/overdraft"
    assert post_form(as_role("operator"), path, {"overdraft": "300"}).status_code == 403
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks is None
    administrator = as_role("administrator")
    assert "Сохранить лимит" in _text(administrator.get(f"/clients/{world.member.id}"))

    assert post_form(administrator, path, {"overdraft": "300,00"}).status_code == 302

    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks == 30_000
    page = _text(administrator.get(f"/clients/{world.member.id}"))
    assert "Кредитный лимит сохранён" in page and format_kopecks(30_000) in page
    assert "можно: тариф «Стандарт»" in page  # 300 ₽ of credit covers the minimum charge
    assert post_form(administrator, path, {"overdraft": ""}).status_code == 302  # the default
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks is None


@pytest.mark.parametrize(("typed", "message"), [("-5", "отрицательной"), ("100001", "100 000")])
def test_a_bad_overdraft_on_the_page_is_refused_and_changes_nothing(
    as_role: Any, world: World, typed: str, message: str
) -> None:
    response = post_form(
        as_role("owner"), f"/clients/{world.member.id}/overdraft", {"overdraft": typed}
    )
    assert response.status_code == 400 and message in _text(response)
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks is None


# --- the API ------------------------------------------------------------------------------------


def test_the_api_gives_the_funds_and_the_overdraft(client: FlaskClient, world: World) -> None:
    ledger.record_topup(None, world.member, 1000, "cash")
    data = client.get(f"/api/v1/clients/{world.member.id}", headers=world.bearer("operator"))
    body = data.get_json()
    assert body["overdraft_limit_kopecks"] is None
    assert body["funds"] == {
        "available_kopecks": 1000,
        "overdraft_kopecks": 0,
        "overdraft_own": False,
        "tariff_id": world.tariff.id,
        "tariff_name": "Стандарт",
        "start_minimum_kopecks": 5000,
        "can_start": False,
    }


def test_only_an_administrator_or_the_owner_sets_the_overdraft_in_the_api(
    client: FlaskClient, world: World
) -> None:
    path = f"/api/v1/clients/{world.member.id}"
    refused = client.patch(
        path, headers=world.bearer("operator"), json={"overdraft_limit_kopecks": 20_000}
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "overdraft_not_allowed"
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks is None

    done = client.patch(
        path, headers=world.bearer("administrator"), json={"overdraft_limit_kopecks": 20_000}
    )

    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["overdraft_limit_kopecks"] == 20_000
    assert (body["funds"]["available_kopecks"], body["funds"]["can_start"]) == (20_000, True)
    # Another change leaves it; null gives the stand's default back.
    client.patch(path, headers=world.bearer("administrator"), json={"note": "постоянный"})
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks == 20_000
    reset = client.patch(
        path, headers=world.bearer("owner"), json={"overdraft_limit_kopecks": None}
    )
    assert reset.get_json()["overdraft_limit_kopecks"] is None


@pytest.mark.parametrize("value", [-1, 10_000_001, 1.5, "100", True])
def test_a_bad_overdraft_in_the_api_is_a_400_and_changes_nothing(
    client: FlaskClient, world: World, value: object
) -> None:
    response = client.patch(
        f"/api/v1/clients/{world.member.id}",
        headers=world.bearer("owner"),
        json={"overdraft_limit_kopecks": value},
    )
    assert response.status_code == 400
    assert Client.get_by_id(world.member.id).overdraft_limit_kopecks is None


# --- the directory ------------------------------------------------------------------------------


def test_the_directory_sends_the_overdraft_and_where_a_session_is_open(
    app: Flask, client: FlaskClient, world: World
) -> None:
    client.patch(
        f"/api/v1/clients/{world.member.id}",
        headers=world.bearer("owner"),
        json={"overdraft_limit_kopecks": 15_000},
    )
    entry = _directory_client(app, world, world.member.id)
    assert (entry["overdraft_limit_kopecks"], entry["open_session_stand_id"]) == (15_000, None)

    stream = Stream(world.stand_b.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stand = Stand.get_by_id(world.stand_b.id)
    apply_batch(stand, [started], StandClock(utcnow(), utcnow()))
    assert _directory_client(app, world, world.member.id)["open_session_stand_id"] == stand.id

    stream.wait(120)
    apply_batch(stand, [stream.ended(session_uuid, 120, 2000)], StandClock(utcnow(), utcnow()))
    assert _directory_client(app, world, world.member.id)["open_session_stand_id"] is None


def test_a_start_is_judged_at_the_home_sites_default_tariff(
    client: FlaskClient, world: World
) -> None:
    """A client without a tariff of their own starts at their site's stands with the site's
    default tariff, not the oldest one: the funds say so."""
    owner = world.users["owner"]
    cheap = tariffs.create_tariff(owner, name="Эконом", rates=RATES, now=utcnow())
    Site.update(default_tariff=cheap.id).where(Site.id == world.site_a.id).execute()
    ledger.record_topup(None, world.member, 5000, "cash")  # home site: A

    funds = client.get(f"/api/v1/clients/{world.member.id}", headers=world.bearer("operator"))
    assert funds.get_json()["funds"]["tariff_id"] == cheap.id
    assert funds.get_json()["funds"]["tariff_name"] == "Эконом"

    Client.update(default_tariff=world.tariff.id).where(Client.id == world.member.id).execute()
    funds = client.get(f"/api/v1/clients/{world.member.id}", headers=world.bearer("operator"))
    assert funds.get_json()["funds"]["tariff_id"] == world.tariff.id  # their own comes first
