"""Segments: every filter condition against the members worked out here in Python from the
clients created, on SQLite and PostgreSQL; the pages (create, edit, delete, list, CSV), the
JSON API, and the upgrade of a version-4 database."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import peewee
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import migrations
from cloud.db import utcnow
from cloud.marketing import segments as segmentbook
from cloud.migrations import current_version, latest_version, upgrade
from cloud.models import (
    Client,
    ClientPhone,
    Credential,
    LedgerEntry,
    Mailing,
    Segment,
    Session,
)
from tests.cloud import schema_v1
from tests.cloud.conftest import World, post_form
from tests.cloud.freshdb import bound, empty_database_url

MOSCOW = ZoneInfo("Europe/Moscow")  # the service's default time zone
# Visit times, local (Moscow). 01:00 on 1 June is still 31 May in UTC: a day cut in UTC
# instead of the service's time zone puts it on the wrong side of "from 1 June".
VISIT_TIMES = [
    datetime(2026, 5, 1, 12, 0, tzinfo=MOSCOW),
    datetime(2026, 5, 20, 18, 30, tzinfo=MOSCOW),
    datetime(2026, 6, 1, 1, 0, tzinfo=MOSCOW),
    datetime(2026, 6, 15, 9, 0, tzinfo=MOSCOW),
    datetime(2026, 7, 1, 23, 30, tzinfo=MOSCOW),
]


@dataclass
class Person:
    """What the test knows of a client it created, to compute the expected members."""

    client: Client
    kind: str
    home_site_id: int | None
    email: str
    has_phone: bool
    has_card: bool
    blocked: bool
    balance: int
    deleted: bool = False
    visits: list[tuple[int, datetime]] = field(default_factory=list)  # (site id, start)
    charges: list[tuple[int, datetime]] = field(default_factory=list)  # (kopecks spent, when)


def _visit(world: World, person: Person, site: Any, at: datetime, cost: int) -> None:
    stand = world.stand_a if site.id == world.site_a.id else world.stand_b
    session = Session.create(
        client=person.client,
        stand=stand,
        site=site,
        tariff_version=world.tariff_version,
        client_kind=person.kind,
        started_at=at,
        ended_at=at + timedelta(minutes=5),
        duration_s=300,
        cost_kopecks=cost,
        start_method="card",
    )
    LedgerEntry.create(
        client=person.client,
        kind="charge",
        amount_kopecks=-cost,
        session=session,
        site=site,
        created_at=at,
    )
    person.visits.append((site.id, at))
    person.charges.append((cost, at))


def _person(world: World, number: int, *, deleted: bool = False) -> Person:
    kind = "guest" if number % 3 == 0 else "member"
    home = [world.site_b, world.site_a, None, world.site_a][number % 4]
    email = "" if number % 3 == 1 else f"client{number}@example.ru"
    person = Person(
        client=Client.create(
            kind=kind,
            name=f"Клиент {number}",
            email=email,
            home_site=home,
            blocked=number % 7 == 0,
            balance_kopecks=(number - 8) * 1000,
            deleted_at=utcnow() if deleted else None,
        ),
        kind=kind,
        home_site_id=home.id if home else None,
        email=email,
        has_phone=number % 4 in (0, 1),
        has_card=number % 5 in (0, 2),
        blocked=number % 7 == 0,
        balance=(number - 8) * 1000,
        deleted=deleted,
    )
    if person.has_phone:
        ClientPhone.create(client=person.client, phone=f"+7916000{number:04d}")
    if number % 5 in (0, 2, 3):  # 3: a card marked lost, which is no usable card
        Credential.create(
            client=person.client, kind="card", value=f"04AA{number:04d}", lost=number % 5 == 3
        )
    for visit in range(number % 5):
        place = world.site_b if (number + visit) % 3 == 0 else world.site_a
        at = VISIT_TIMES[(number + visit) % len(VISIT_TIMES)]
        _visit(world, person, place, at, (number + 1) * 100 * (visit + 1))
    return person


@pytest.fixture
def people(world: World) -> list[Person]:
    """Sixteen varied clients besides the world's, and one deleted that matches anything."""
    crowd = [_person(world, number) for number in range(1, 17)]
    crowd.append(_person(world, 14, deleted=True))
    for client in (world.member, world.guest, world.other_site_client):
        crowd.append(
            Person(
                client=client,
                kind=client.kind,
                home_site_id=client.home_site_id,
                email=client.email,
                has_phone=ClientPhone.select().where(ClientPhone.client == client).exists(),
                has_card=client.id == world.member.id,
                blocked=False,
                balance=0,
            )
        )
    return crowd


# --- what each condition means, in Python ---------------------------------------------------


def _local_start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), MOSCOW)


def _in_period(at: datetime, conditions: dict[str, Any]) -> bool:
    if "period_from" in conditions and at < _local_start(conditions["period_from"]):
        return False
    if "period_to" in conditions:
        end = _local_start(conditions["period_to"]) + timedelta(days=1)
        if at >= end:
            return False
    return True


def _matches(person: Person, c: dict[str, Any]) -> bool:
    visits = [at for _site, at in person.visits if _in_period(at, c)]
    spent = sum(cost for cost, at in person.charges if _in_period(at, c))
    last = max((at for _site, at in person.visits), default=None)
    sites = {person.home_site_id} | {site for site, _at in person.visits}
    checks = [
        "kind" not in c or person.kind == c["kind"],
        "site_id" not in c or c["site_id"] in sites,
        "last_visit_from" not in c
        or (last is not None and last >= _local_start(c["last_visit_from"])),
        "last_visit_before" not in c
        or (last is not None and last < _local_start(c["last_visit_before"])),
        "visits_min" not in c or len(visits) >= c["visits_min"],
        "visits_max" not in c or len(visits) <= c["visits_max"],
        "spent_min_kopecks" not in c or spent >= c["spent_min_kopecks"],
        "spent_max_kopecks" not in c or spent <= c["spent_max_kopecks"],
        "balance_below_kopecks" not in c or person.balance < c["balance_below_kopecks"],
        "balance_above_kopecks" not in c or person.balance > c["balance_above_kopecks"],
        "blocked" not in c or person.blocked == c["blocked"],
        "has_card" not in c or person.has_card == c["has_card"],
        "has_email" not in c or bool(person.email) == c["has_email"],
        "has_phone" not in c or person.has_phone == c["has_phone"],
    ]
    return not person.deleted and all(checks)


def expected(people: list[Person], conditions: dict[str, Any]) -> set[int]:
    return {p.client.id for p in people if _matches(p, conditions)}


FILTERS: dict[str, dict[str, Any]] = {
    "everyone": {},
    "members": {"kind": "member"},
    "guests": {"kind": "guest"},
    "last visit from 1 June": {"last_visit_from": "2026-06-01"},
    "last visit before 1 June": {"last_visit_before": "2026-06-01"},
    "last visit before 2 June": {"last_visit_before": "2026-06-02"},
    "two visits or more": {"visits_min": 2},
    "at most one visit": {"visits_max": 1},
    "no visits": {"visits_max": 0},
    "two or three visits in June": {
        "period_from": "2026-06-01",
        "period_to": "2026-06-30",
        "visits_min": 1,
        "visits_max": 3,
    },
    "visits up to 20 May": {"period_to": "2026-05-20", "visits_min": 1},
    "spent 10 roubles or more": {"spent_min_kopecks": 1000},
    "spent at most 15 roubles": {"spent_max_kopecks": 1500},
    "spent 5..20 roubles in June": {
        "period_from": "2026-06-01",
        "period_to": "2026-06-30",
        "spent_min_kopecks": 500,
        "spent_max_kopecks": 2000,
    },
    "negative balance": {"balance_below_kopecks": 0},
    "balance above 20 roubles": {"balance_above_kopecks": 2000},
    "blocked": {"blocked": True},
    "not blocked": {"blocked": False},
    "with a card": {"has_card": True},
    "without a card": {"has_card": False},
    "with e-mail": {"has_email": True},
    "without e-mail": {"has_email": False},
    "with a phone": {"has_phone": True},
    "without a phone": {"has_phone": False},
    "members with e-mail who came in June and are not blocked": {
        "kind": "member",
        "has_email": True,
        "blocked": False,
        "period_from": "2026-06-01",
        "period_to": "2026-06-30",
        "visits_min": 1,
    },
}


@pytest.mark.parametrize("conditions", FILTERS.values(), ids=FILTERS.keys())
def test_a_filter_selects_exactly_the_clients_it_describes(
    people: list[Person], conditions: dict[str, Any]
) -> None:
    query = segmentbook.members_query(segmentbook.parse_filter(conditions), "Europe/Moscow")

    found = [client.id for client in query]

    assert set(found) == expected(people, conditions)
    assert found == sorted(found)


@pytest.mark.parametrize("site", ["site_a", "site_b"])
def test_the_site_filter_takes_the_home_site_or_a_visit_there(
    world: World, people: list[Person], site: str
) -> None:
    conditions = {"site_id": getattr(world, site).id}
    query = segmentbook.members_query(segmentbook.parse_filter(conditions), "Europe/Moscow")

    found = {client.id for client in query}

    assert found == expected(people, conditions)
    visitors_only = {
        p.client.id
        for p in people
        if not p.deleted
        and p.home_site_id != conditions["site_id"]
        and any(s == conditions["site_id"] for s, _at in p.visits)
    }
    assert visitors_only and visitors_only <= found  # the population covers that case


def test_the_population_makes_each_filter_meaningful(people: list[Person]) -> None:
    """Each filter keeps some clients and drops others, so a filter ignored is caught."""
    for name, conditions in FILTERS.items():
        if conditions:
            chosen = expected(people, conditions)
            assert 0 < len(chosen) < len([p for p in people if not p.deleted]), name


@pytest.mark.parametrize(
    ("conditions", "code"),
    [
        ({"kind": "vip"}, "bad_filter"),
        ({"visits_min": -1}, "bad_filter"),
        ({"period_from": "2026-07-01", "period_to": "2026-06-01"}, "bad_period"),  # 422
        ({"site_id": 999_999}, "bad_site"),  # 404
        ({"colour": "red"}, "bad_filter"),
        ({"blocked": "yes"}, "bad_filter"),
    ],
)
def test_a_bad_filter_is_refused_and_nothing_is_stored(
    client: FlaskClient, world: World, conditions: dict[str, Any], code: str
) -> None:
    response = client.post(
        "/api/v1/segments",
        json={"name": "Плохой", "filters": conditions},
        headers=world.bearer("operator"),
    )

    status = {"bad_period": 422, "bad_site": 404}.get(code, 400)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] in {code, "invalid"}
    assert Segment.select().count() == 0


# --- the JSON API ----------------------------------------------------------------------------


def test_api_creates_reads_counts_and_lists_members(
    client: FlaskClient, world: World, people: list[Person]
) -> None:
    conditions = FILTERS["two or three visits in June"]
    headers = world.bearer("operator")

    created = client.post(
        "/api/v1/segments", json={"name": "Июньские", "filters": conditions}, headers=headers
    )
    segment_id = created.get_json()["id"]
    read = client.get(f"/api/v1/segments/{segment_id}", headers=headers).get_json()
    first = client.get(f"/api/v1/segments/{segment_id}/members?limit=2", headers=headers).get_json()
    rest = client.get(
        f"/api/v1/segments/{segment_id}/members?limit=100&offset=2", headers=headers
    ).get_json()
    listed = client.get("/api/v1/segments", headers=headers).get_json()

    want = expected(people, conditions)
    assert created.status_code == 201
    assert read["count"] == len(want) and read["filters"] == conditions
    assert first["total"] == len(want) and len(first["items"]) == 2
    assert {c["id"] for c in first["items"] + rest["items"]} == want
    assert [s["name"] for s in listed["items"]] == ["Июньские"]


def test_api_changes_and_deletes_a_segment(client: FlaskClient, world: World) -> None:
    headers = world.bearer("administrator")
    segment_id = client.post("/api/v1/segments", json={"name": "Все"}, headers=headers).get_json()[
        "id"
    ]

    renamed = client.patch(
        f"/api/v1/segments/{segment_id}",
        json={"name": "Гости", "filters": {"kind": "guest"}},
        headers=headers,
    )
    gone = client.delete(f"/api/v1/segments/{segment_id}", headers=headers)
    missing = client.get(f"/api/v1/segments/{segment_id}", headers=headers)

    assert renamed.status_code == 200
    assert renamed.get_json()["count"] == 1  # the world's one guest
    assert gone.status_code == 204 and missing.status_code == 404


def test_two_segments_may_not_share_a_name(client: FlaskClient, world: World) -> None:
    headers = world.bearer("owner")
    client.post("/api/v1/segments", json={"name": "Все"}, headers=headers)

    again = client.post("/api/v1/segments", json={"name": " Все "}, headers=headers)

    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "segment_exists"
    assert Segment.select().count() == 1


def test_an_attendant_may_not_use_segments(client: FlaskClient, world: World) -> None:
    response = client.get("/api/v1/segments", headers=world.bearer("attendant"))

    assert response.status_code == 403


# --- pages -----------------------------------------------------------------------------------


def _form(conditions: dict[str, str]) -> dict[str, str]:
    return {"name": "Должники с почтой", **conditions}


def test_a_segment_made_on_the_page_stores_money_in_kopecks_and_shows_its_clients(
    as_role: Any, people: list[Person]
) -> None:
    browser = as_role("operator")

    response = post_form(
        browser,
        "/segments/new",
        _form({"balance_below_kopecks": "-2,50", "has_email": "1", "kind": ""}),
    )
    segment = Segment.get()
    page = browser.get(f"/segments/{segment.id}").get_data(as_text=True)

    want = expected(people, {"balance_below_kopecks": -250, "has_email": True})
    assert response.status_code == 302
    assert segmentbook.filter_of(segment).balance_below_kopecks == -250
    assert f"Клиентов в сегменте: {len(want)}" in page
    for person in people:
        link = f'href="/clients/{person.client.id}"'
        assert (link in page) == (person.client.id in want), person.client.name


def test_the_page_lists_members_in_pages(app: Flask, as_role: Any, people: list[Person]) -> None:
    app.config["AQ"].page_size = 5
    segment = segmentbook.create_segment(None, "Все", segmentbook.SegmentFilter())
    browser = as_role("owner")

    first = browser.get(f"/segments/{segment.id}").get_data(as_text=True)
    second = browser.get(f"/segments/{segment.id}?offset=5").get_data(as_text=True)

    ids = sorted(expected(people, {}))
    assert f'href="/clients/{ids[0]}"' in first and f'href="/clients/{ids[5]}"' not in first
    assert f'href="/clients/{ids[5]}"' in second and f'href="/clients/{ids[0]}"' not in second
    assert "?offset=10" in second


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": ""}, "Укажите название сегмента"),
        ({"visits_min": "много"}, "целое число"),
        ({"spent_min_kopecks": "-5"}, "не может быть отрицательной"),
        ({"last_visit_from": "01.06.2026"}, "ГГГГ-ММ-ДД"),
        ({"period_from": "2026-07-01", "period_to": "2026-06-01"}, "Начало периода позже"),
    ],
)
def test_a_bad_segment_form_shows_a_russian_message_and_stores_nothing(
    as_role: Any, world: World, form: dict[str, str], message: str
) -> None:
    response = post_form(as_role("operator"), "/segments/new", {"name": "Сегмент", **form})

    assert response.status_code == (422 if message == "Начало периода позже" else 400)
    assert message in response.get_data(as_text=True)
    assert Segment.select().count() == 0


def test_editing_on_the_page_keeps_the_form_values_and_changes_the_filter(
    as_role: Any, world: World
) -> None:
    browser = as_role("administrator")
    segment = segmentbook.create_segment(
        None, "Богатые", segmentbook.parse_filter({"balance_above_kopecks": 123456})
    )

    form = browser.get(f"/segments/{segment.id}/edit").get_data(as_text=True)
    saved = post_form(
        browser,
        f"/segments/{segment.id}/edit",
        {"name": "Очень богатые", "balance_above_kopecks": "5 000", "blocked": "0"},
    )

    stored = Segment.get_by_id(segment.id)
    assert 'value="1234,56"' in form
    assert saved.status_code == 302
    assert stored.name == "Очень богатые"
    assert segmentbook.filter_of(stored).model_dump(exclude_none=True) == {
        "balance_above_kopecks": 500000,
        "blocked": False,
    }


def test_deleting_a_segment_keeps_its_mailings(as_role: Any, world: World) -> None:
    segment = segmentbook.create_segment(None, "Все", segmentbook.SegmentFilter())
    mailing = Mailing.create(segment=segment, segment_name="Все", subject="Тема", body="Текст")

    response = post_form(as_role("operator"), f"/segments/{segment.id}/delete", {})

    assert response.status_code == 302
    assert Segment.select().count() == 0
    kept = Mailing.get_by_id(mailing.id)
    assert kept.segment_id is None and kept.segment_name == "Все"


def test_csv_export_has_the_bom_semicolons_and_every_member(
    as_role: Any, world: World, people: list[Person]
) -> None:
    Client.update(name="=HYPERLINK(1)", search_name="=hyperlink(1)").where(
        Client.id == world.member.id
    ).execute()
    segment = segmentbook.create_segment(
        None, "Участники", segmentbook.parse_filter({"kind": "member"})
    )

    response = as_role("operator").get(f"/segments/{segment.id}/members.csv")

    raw = response.get_data()
    assert response.mimetype == "text/csv"
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["№", "Тип", "Имя"]
    assert {int(row[0]) for row in rows[1:]} == expected(people, {"kind": "member"})
    member_row = next(row for row in rows[1:] if int(row[0]) == world.member.id)
    assert member_row[2] == "'=HYPERLINK(1)"  # never a formula in the spreadsheet
    assert member_row[4] == "ivan@example.ru"


def test_the_navigation_shows_segments_to_operators_not_attendants(
    as_role: Any, world: World
) -> None:
    assert 'href="/segments"' in as_role("operator").get("/clients").get_data(as_text=True)
    assert 'href="/segments"' not in as_role("attendant").get("/clients").get_data(as_text=True)


# --- schema version 5 ------------------------------------------------------------------------


@pytest.fixture
def v4_database(database_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """A database as version 4 of the program left it, with a client and a ledger entry of
    theirs (SQLite may not rebuild a table others refer to)."""
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        database.create_tables(schema_v1.ALL_MODELS)
        schema_v1.SchemaVersion.create(version=1)
        upgrade(database, [step for step in migrations.MIGRATIONS if step[0] <= 4])
        assert current_version(database) == 4
        client = schema_v1.Client.create(kind="member", name="Иван", email="ivan@example.ru")
        schema_v1.LedgerEntry.create(client=client, kind="topup", amount_kopecks=100)
        yield database


def test_version_5_upgrades_a_version_4_database_in_place(v4_database: peewee.Database) -> None:
    assert "unsubscribed" not in {c.name for c in v4_database.get_columns("client")}

    assert upgrade(v4_database) == (4, latest_version())

    client = Client.get()
    assert client.name == "Иван" and client.unsubscribed is False
    segment = segmentbook.create_segment(None, "С почтой", segmentbook.parse_filter({}))
    assert [c.id for c in segmentbook.members(segment, "Europe/Moscow")] == [client.id]
    Mailing.create(segment=segment, segment_name=segment.name, subject="Тема", body="Текст")
    assert Mailing.select().count() == 1


def test_the_segment_pages_speak_english_when_chosen(as_role: Any, world: World) -> None:
    segment = segmentbook.create_segment(None, "Гости", segmentbook.parse_filter({"kind": "guest"}))
    browser = as_role("operator")
    browser.get("/lang/en")

    listing = browser.get("/segments").get_data(as_text=True)
    page = browser.get(f"/segments/{segment.id}").get_data(as_text=True)
    form = browser.get(f"/segments/{segment.id}/edit").get_data(as_text=True)

    assert "New segment" in listing and "Client type: Guest" in listing
    assert "Clients in the segment: 1" in page and "Download CSV" in page
    assert "Visits in the period, at least" in form and "Сегмент" not in form
