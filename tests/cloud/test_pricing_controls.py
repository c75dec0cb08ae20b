"""The owner's price controls (issue 20): default tariffs per site and stand sent to the stands,
schedules of rates, scheduled versions corrected or cancelled, doubtful rates confirmed; API
and pages, audited; on SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.models import AuditEntry, Session, Site, Stand, Tariff, TariffVersion
from cloud.sessions.service import running_cost
from sync.directory import TariffEntry
from sync.schedule import Window
from tests.cloud.conftest import World, post_form
from tests.cloud.sessionrows import add_session
from tests.cloud.test_directory_feed import StandCopy, enrolled, enrolled_stand

MOSCOW = ZoneInfo("Europe/Moscow")
NIGHT = {
    "days": [0, 1, 2, 3, 4, 5, 6],
    "start": "22:00",
    "end": "07:00",
    "member_per_minute_kopecks": 500,
    "guest_per_minute_kopecks": 700,
}
RATES = {
    "member_per_minute_kopecks": 1200,
    "guest_per_minute_kopecks": 1800,
    "step_s": 60,
    "min_charge_kopecks": 6000,
    "grace_s": 10,
}


def in_days(days: int) -> str:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat()


def versions() -> list[tuple[int, int]]:
    rows = TariffVersion.select().order_by(TariffVersion.id)
    return [(row.id, row.member_per_minute) for row in rows]


def audit_actions() -> list[str]:
    return [row.action for row in AuditEntry.select().order_by(AuditEntry.id)]


def page_default(client: FlaskClient, token: str) -> tuple[int | None, dict[int, TariffEntry]]:
    """The default tariff a stand's walk of the directory from 0 ends with, and its tariffs."""
    copy = StandCopy(client, token)
    pages = copy.sync()
    return pages[-1].default_tariff_id, copy.tariffs


# --- schedules -----------------------------------------------------------------------------


def test_a_version_with_a_night_rate_is_stored_shown_and_sent_to_stands(
    client: FlaskClient, world: World
) -> None:
    admin = world.bearer("administrator")
    body = {**RATES, "effective_from": in_days(1), "schedule": [NIGHT]}
    response = client.post(f"/api/v1/tariffs/{world.tariff.id}/versions", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["schedule"] == [NIGHT]
    version = TariffVersion.get_by_id(response.get_json()["id"])
    assert version.rates().schedule == (Window((0, 1, 2, 3, 4, 5, 6), 1320, 420, 500, 700),)

    _default, tariffs = page_default(client, enrolled(client, world))
    sent = [v.rates.schedule for v in tariffs[world.tariff.id].versions]
    assert sent == [(), version.rates().schedule]


@pytest.mark.parametrize(
    ("schedule", "status"),
    [
        ([{**NIGHT, "start": "25:00"}], 400),
        ([{**NIGHT, "end": "7:00"}], 400),
        ([{**NIGHT, "days": []}], 400),
        ([{**NIGHT, "days": [7]}], 400),
        ([{**NIGHT, "start": "07:00"}], 400),  # empty window
        ([NIGHT, {**NIGHT, "start": "23:00", "end": "23:30", "days": [2]}], 400),  # overlap
    ],
)
def test_a_bad_schedule_is_refused_and_nothing_changes(
    client: FlaskClient, world: World, schedule: list[dict[str, Any]], status: int
) -> None:
    before = versions()
    body = {**RATES, "effective_from": in_days(1), "schedule": schedule}
    response = client.post(
        f"/api/v1/tariffs/{world.tariff.id}/versions", json=body, headers=world.bearer("owner")
    )
    assert response.status_code in (status, 422), response.get_json()
    assert response.get_json()["error"]["message"]
    assert versions() == before


# --- confirmation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"member_per_minute_kopecks": 0},
        {"guest_per_minute_kopecks": 1000},  # guests below members
        {"schedule": [{**NIGHT, "guest_per_minute_kopecks": 400}]},
        {"schedule": [{**NIGHT, "member_per_minute_kopecks": 0, "guest_per_minute_kopecks": 0}]},
    ],
)
def test_doubtful_rates_need_the_confirmation(
    client: FlaskClient, world: World, change: dict[str, Any]
) -> None:
    owner = world.bearer("owner")
    body = {**RATES, **change, "effective_from": in_days(1)}
    before = versions()
    response = client.post(f"/api/v1/tariffs/{world.tariff.id}/versions", json=body, headers=owner)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "confirm_rates"
    assert "подтвердите" in response.get_json()["error"]["message"]
    assert versions() == before
    confirmed = {**body, "confirmed": True}
    response = client.post(
        f"/api/v1/tariffs/{world.tariff.id}/versions", json=confirmed, headers=owner
    )
    assert response.status_code == 201
    new_tariff = {**body, "name": "Бесплатный", "confirmed": False}
    del new_tariff["effective_from"]
    assert client.post("/api/v1/tariffs", json=new_tariff, headers=owner).status_code == 422
    assert not Tariff.select().where(Tariff.name == "Бесплатный").exists()


# --- scheduled versions: correct, cancel ---------------------------------------------------


def _scheduled(client: FlaskClient, world: World, days: int = 1) -> int:
    body = {**RATES, "effective_from": in_days(days)}
    response = client.post(
        f"/api/v1/tariffs/{world.tariff.id}/versions", json=body, headers=world.bearer("owner")
    )
    assert response.status_code == 201
    return int(response.get_json()["id"])


def test_a_scheduled_version_is_corrected_until_it_takes_effect(
    client: FlaskClient, world: World
) -> None:
    version_id = _scheduled(client, world)
    url = f"/api/v1/tariffs/{world.tariff.id}/versions/{version_id}"
    fixed = {**RATES, "member_per_minute_kopecks": 1100, "effective_from": in_days(2)}
    fixed["schedule"] = [NIGHT]
    response = client.put(url, json=fixed, headers=world.bearer("administrator"))
    assert response.status_code == 200, response.get_json()
    version = TariffVersion.get_by_id(version_id)
    assert version.member_per_minute == 1100
    assert version.rates().schedule
    assert audit_actions()[-1] == "tariff.version_changed"
    # The version in force cannot be changed or cancelled.
    current = f"/api/v1/tariffs/{world.tariff.id}/versions/{world.tariff_version.id}"
    before = versions()
    response = client.put(current, json=fixed, headers=world.bearer("owner"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "version_in_effect"
    assert client.delete(current, headers=world.bearer("owner")).status_code == 409
    assert versions() == before


def test_a_correction_keeps_the_rules_of_a_new_version(client: FlaskClient, world: World) -> None:
    first, second = _scheduled(client, world, 1), _scheduled(client, world, 3)
    taken = TariffVersion.get_by_id(second).effective_from.isoformat()
    url = f"/api/v1/tariffs/{world.tariff.id}/versions/{first}"
    owner = world.bearer("owner")
    clash = client.put(url, json={**RATES, "effective_from": taken}, headers=owner)
    assert clash.status_code == 409
    past = client.put(url, json={**RATES, "effective_from": in_days(-1)}, headers=owner)
    assert past.status_code == 422
    free = client.put(
        url,
        json={**RATES, "member_per_minute_kopecks": 0, "effective_from": in_days(2)},
        headers=owner,
    )
    assert free.status_code == 422
    assert TariffVersion.get_by_id(first).member_per_minute == 1200
    other = client.put(
        f"/api/v1/tariffs/{world.tariff.id}/versions/99999",
        json={**RATES, "effective_from": in_days(2)},
        headers=owner,
    )
    assert other.status_code == 404


def test_a_scheduled_version_is_cancelled(client: FlaskClient, world: World) -> None:
    version_id = _scheduled(client, world)
    url = f"/api/v1/tariffs/{world.tariff.id}/versions/{version_id}"
    assert client.delete(url, headers=world.bearer("operator")).status_code == 403
    assert TariffVersion.get_or_none(TariffVersion.id == version_id) is not None
    assert client.delete(url, headers=world.bearer("owner")).status_code == 204
    assert TariffVersion.get_or_none(TariffVersion.id == version_id) is None
    assert audit_actions()[-1] == "tariff.version_cancelled"
    # The stands lose it with the tariff's next entry.
    _default, tariffs = page_default(client, enrolled(client, world))
    assert [v.id for v in tariffs[world.tariff.id].versions] == [world.tariff_version.id]


# --- default tariffs -----------------------------------------------------------------------


def _tariff(name: str, days_ago: int = 10) -> Tariff:
    tariff = Tariff.create(name=name)
    TariffVersion.create(
        tariff=tariff,
        effective_from=utcnow() - timedelta(days=days_ago),
        member_per_minute=2000,
        guest_per_minute=2500,
    )
    return tariff


def test_the_stand_gets_its_own_default_else_its_sites_else_the_oldest(
    client: FlaskClient, world: World
) -> None:
    express, night = _tariff("Экспресс"), _tariff("Ночной")
    token = enrolled(client, world)
    other = enrolled_stand(client, world, "Пост 2")
    owner = world.bearer("owner")
    assert page_default(client, token)[0] == world.tariff.id  # the oldest active

    site_url = f"/api/v1/sites/{world.site_a.id}/default_tariff"
    response = client.put(site_url, json={"tariff_id": express.id}, headers=owner)
    assert response.status_code == 200
    assert response.get_json()["default_tariff_id"] == express.id
    assert page_default(client, token)[0] == express.id
    assert page_default(client, other)[0] == express.id

    stand = Stand.get((Stand.site == world.site_a) & (Stand.name == "Пост 2"))
    response = client.put(
        f"/api/v1/stands/{stand.id}/default_tariff", json={"tariff_id": night.id}, headers=owner
    )
    assert response.status_code == 200
    assert response.get_json()["default_tariff_id"] == night.id
    assert page_default(client, token)[0] == express.id
    default, tariffs = page_default(client, other)
    assert default == night.id
    assert night.id in tariffs
    # A default switched off later is passed over; back to the site's.
    Tariff.update(active=False).where(Tariff.id == night.id).execute()
    assert page_default(client, other)[0] == express.id
    # Another site's stands are untouched.
    assert Site.get_by_id(world.site_b.id).default_tariff_id is None
    assert audit_actions()[-2:] == ["site.default_tariff_set", "stand.default_tariff_set"]
    # Back to none of its own.
    response = client.put(site_url, json={"tariff_id": None}, headers=owner)
    assert response.status_code == 200
    assert page_default(client, token)[0] == world.tariff.id


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("operator", {"tariff_id": 1}, 403),
        ("attendant", {"tariff_id": 1}, 403),
        ("owner", {"tariff_id": 99999}, 404),
        ("owner", {"tariff_id": "1"}, 400),
        ("owner", {}, 400),
        ("owner", {"tariff_id": 0}, 400),
    ],
)
def test_bad_default_tariffs_are_refused(
    client: FlaskClient, world: World, role: str, body: dict[str, Any], status: int
) -> None:
    url = f"/api/v1/sites/{world.site_a.id}/default_tariff"
    assert client.put(url, json=body, headers=world.bearer(role)).status_code == status
    assert Site.get_by_id(world.site_a.id).default_tariff_id is None


def test_an_inactive_tariff_cannot_be_a_default(client: FlaskClient, world: World) -> None:
    off = _tariff("Старый")
    Tariff.update(active=False).where(Tariff.id == off.id).execute()
    response = client.put(
        f"/api/v1/stands/{world.stand_a.id}/default_tariff",
        json={"tariff_id": off.id},
        headers=world.bearer("owner"),
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "tariff_inactive"
    assert Stand.get_by_id(world.stand_a.id).default_tariff_id is None


# --- pages ---------------------------------------------------------------------------------

FORM = {
    "member_per_minute": "12",
    "guest_per_minute": "18",
    "step_s": "60",
    "grace_s": "0",
    "min_charge": "0",
    "cap": "",
}


def tomorrow() -> str:
    return (utcnow().astimezone(MOSCOW).date() + timedelta(days=1)).isoformat()


def test_the_tariff_page_saves_a_schedule(as_role: Any, world: World) -> None:
    browser = as_role("owner")
    page = browser.get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    assert "Цены по времени суток и дням недели" in page
    form = {
        **FORM,
        "effective_day": tomorrow(),
        "w0_days": ["0", "1", "2", "3", "4"],
        "w0_start": "22:00",
        "w0_end": "07:00",
        "w0_member": "5",
        "w0_guest": "7,50",
    }
    response = post_form(browser, f"/tariffs/{world.tariff.id}/versions", form)
    assert response.status_code == 302
    version = TariffVersion.select().order_by(TariffVersion.id.desc()).get()
    assert version.rates().schedule == (Window((0, 1, 2, 3, 4), 1320, 420, 500, 750),)
    page = browser.get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    assert "пн–пт 22:00–07:00" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"w0_start": "22:00", "w0_end": "07:00", "w0_member": "5", "w0_guest": "7"}, "дни недели"),
        (
            {
                "w0_days": ["1"],
                "w0_start": "2200",
                "w0_end": "07:00",
                "w0_member": "5",
                "w0_guest": "7",
            },
            "ЧЧ:ММ",
        ),
        (
            {
                "w0_days": ["1"],
                "w0_start": "22:00",
                "w0_end": "07:00",
                "w0_member": "x",
                "w0_guest": "7",
            },
            "строка 1",
        ),
        ({"guest_per_minute": "10"}, "подтвердите"),
    ],
)
def test_a_bad_schedule_form_says_why_and_keeps_what_was_typed(
    as_role: Any, world: World, change: dict[str, Any], message: str
) -> None:
    before = versions()
    form = {**FORM, "effective_day": tomorrow(), **change}
    response = post_form(as_role("administrator"), f"/tariffs/{world.tariff.id}/versions", form)
    assert response.status_code in (400, 422)
    page = response.get_data(as_text=True)
    assert message in page
    assert 'value="07:00"' in page or "w0_end" not in change
    assert versions() == before


def test_a_confirmed_free_minute_is_saved_from_the_page(as_role: Any, world: World) -> None:
    form = {**FORM, "member_per_minute": "0", "effective_day": tomorrow(), "confirm_rates": "yes"}
    response = post_form(as_role("owner"), f"/tariffs/{world.tariff.id}/versions", form)
    assert response.status_code == 302
    assert versions()[-1][1] == 0


def test_a_scheduled_version_is_corrected_and_cancelled_on_the_pages(
    as_role: Any, world: World
) -> None:
    browser = as_role("owner")
    post_form(
        browser, f"/tariffs/{world.tariff.id}/versions", {**FORM, "effective_day": tomorrow()}
    )
    version = TariffVersion.select().order_by(TariffVersion.id.desc()).get()
    page = browser.get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    edit = f"/tariffs/{world.tariff.id}/versions/{version.id}/edit"
    assert edit in page
    assert f'value="{tomorrow()}"' in browser.get(edit).get_data(as_text=True)
    response = post_form(
        browser, edit, {**FORM, "member_per_minute": "11", "effective_day": tomorrow()}
    )
    assert response.status_code == 302
    assert TariffVersion.get_by_id(version.id).member_per_minute == 1100
    # The version in force has no such links and refuses both.
    current = f"/tariffs/{world.tariff.id}/versions/{world.tariff_version.id}"
    assert f"{current}/edit" not in page
    response = post_form(browser, f"{current}/edit", {**FORM, "effective_day": tomorrow()})
    assert response.status_code == 409
    post_form(browser, f"{current}/cancel", {})
    assert TariffVersion.get_or_none(TariffVersion.id == world.tariff_version.id) is not None
    response = post_form(browser, f"/tariffs/{world.tariff.id}/versions/{version.id}/cancel", {})
    assert response.status_code == 302
    assert TariffVersion.get_or_none(TariffVersion.id == version.id) is None
    assert audit_actions()[-2:] == ["tariff.version_changed", "tariff.version_cancelled"]


def test_the_site_page_sets_the_default_tariffs(as_role: Any, world: World) -> None:
    express = _tariff("Экспресс")
    browser = as_role("administrator")
    page = browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert "Тарифы по умолчанию" in page
    form = {
        "site_tariff": str(express.id),
        f"stand_{world.stand_a.id}_tariff": str(world.tariff.id),
    }
    response = post_form(browser, f"/sites/{world.site_a.id}/default_tariffs", form)
    assert response.status_code == 302
    assert Site.get_by_id(world.site_a.id).default_tariff_id == express.id
    assert Stand.get_by_id(world.stand_a.id).default_tariff_id == world.tariff.id
    bad = post_form(browser, f"/sites/{world.site_a.id}/default_tariffs", {"site_tariff": "x"})
    assert bad.status_code == 400
    assert Site.get_by_id(world.site_a.id).default_tariff_id == express.id
    readonly = as_role("operator").get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert "Экспресс" in readonly
    assert "default_tariffs" not in readonly


def test_the_dashboards_running_cost_reads_the_schedule(app: Any, world: World) -> None:
    night = Window((0, 1, 2, 3, 4, 5, 6), 22 * 60, 7 * 60, 500, 700)
    TariffVersion.update(schedule=(night,)).where(
        TariffVersion.id == world.tariff_version.id
    ).execute()
    started = datetime(2026, 12, 7, 21, 50, tzinfo=MOSCOW).astimezone(UTC)
    added = add_session(world.member, world.stand_a, world.tariff_version, started_at=started)
    session = Session.get_by_id(added.id)  # as the dashboard reads it
    with app.test_request_context():
        # Ten minutes at 10 ₽ and ten at 5 ₽ (Moscow, the service's time zone).
        assert running_cost(session, started + timedelta(minutes=20)) == 10 * 1000 + 10 * 500
