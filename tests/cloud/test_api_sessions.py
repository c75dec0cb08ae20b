"""API: sessions (list, one, open with live cost) and the summary report."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cloud.db import utcnow
from cloud.models import Stand
from tests.cloud.sessionrows import add_session

SESSION_FIELDS = {
    "id",
    "client_id",
    "stand_id",
    "site_id",
    "tariff_id",
    "tariff_version_id",
    "client_kind",
    "started_at",
    "ended_at",
    "duration_s",
    "cost_kopecks",
    "start_method",
    "end_method",
    "comment",
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def rows(world):
    """An open and an ended session at site A, and an open one at site B."""
    open_a = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(seconds=330),
    )
    ended_a = add_session(
        world.guest,
        world.stand_a,
        world.tariff_version,
        started_at=utc(2024, 3, 5, 9),
        ended_at=utc(2024, 3, 5, 9, 12, 30),
        cost_kopecks=19500,
    )
    open_b = add_session(world.other_site_client, world.stand_b, world.tariff_version)
    return {"open_a": open_a, "ended_a": ended_a, "open_b": open_b}


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()["items"]]


def test_list_sessions_with_filters(client, world, rows):
    headers = world.bearer("operator")
    everything = client.get("/api/v1/sessions", headers=headers)
    assert everything.status_code == 200
    assert everything.get_json()["total"] == 3
    # Newest first: the ended one started in 2024, long before the two open ones.
    assert ids(everything)[-1] == rows["ended_a"].id

    by_client = client.get(f"/api/v1/sessions?client_id={world.guest.id}", headers=headers)
    assert ids(by_client) == [rows["ended_a"].id]
    assert set(ids(client.get("/api/v1/sessions?status=open", headers=headers))) == {
        rows["open_a"].id,
        rows["open_b"].id,
    }
    assert ids(client.get("/api/v1/sessions?status=ended", headers=headers)) == [rows["ended_a"].id]
    assert ids(client.get(f"/api/v1/sessions?site_id={world.site_b.id}", headers=headers)) == [
        rows["open_b"].id
    ]
    assert ids(client.get(f"/api/v1/sessions?stand_id={world.stand_b.id}", headers=headers)) == [
        rows["open_b"].id
    ]
    page = client.get("/api/v1/sessions?limit=1&offset=2", headers=headers).get_json()
    assert page["total"] == 3 and [item["id"] for item in page["items"]] == [rows["ended_a"].id]


def test_session_fields(client, world, rows):
    headers = world.bearer("operator")
    ended = client.get(f"/api/v1/sessions/{rows['ended_a'].id}", headers=headers).get_json()
    assert set(ended) >= SESSION_FIELDS
    assert ended["client_id"] == world.guest.id
    assert ended["stand_id"] == world.stand_a.id
    assert ended["site_id"] == world.site_a.id
    assert ended["tariff_id"] == world.tariff.id
    assert ended["tariff_version_id"] == world.tariff_version.id
    assert ended["client_kind"] == "guest"
    assert ended["started_at"] == "2024-03-05T09:00:00Z"
    assert ended["ended_at"] == "2024-03-05T09:12:30Z"
    assert ended["duration_s"] == 750
    assert ended["cost_kopecks"] == 19500
    assert ended["start_method"] == "card" and ended["end_method"] == "card"

    opened = client.get(f"/api/v1/sessions/{rows['open_a'].id}", headers=headers).get_json()
    assert opened["ended_at"] is None
    assert opened["duration_s"] is None
    assert opened["cost_kopecks"] is None
    assert opened["end_method"] is None


def test_open_sessions_carry_live_time_and_cost(client, world, rows):
    data = client.get("/api/v1/sessions/open", headers=world.bearer("owner")).get_json()
    assert data["total"] == 2
    mine = next(item for item in data["items"] if item["id"] == rows["open_a"].id)
    assert 330 <= mine["elapsed_s"] <= 335
    # A member at 10 ₽ a minute, each started minute billed in full.
    assert mine["running_cost_kopecks"] == math.ceil(mine["elapsed_s"] / 60) * 1000
    assert mine["client_name"] == "Иван Петров"
    assert mine["plate"] == "А123ВС77"
    assert mine["stand_name"] == "Пост 1"


def test_attendant_sees_only_their_sites_sessions(client, world, rows):
    headers = world.bearer("attendant")
    assert set(ids(client.get("/api/v1/sessions", headers=headers))) == {
        rows["open_a"].id,
        rows["ended_a"].id,
    }
    assert ids(client.get(f"/api/v1/sessions?site_id={world.site_b.id}", headers=headers)) == []
    assert ids(client.get("/api/v1/sessions/open", headers=headers)) == [rows["open_a"].id]
    response = client.get(f"/api/v1/sessions/{rows['open_b'].id}", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_missing_session_is_404(client, world, rows):
    response = client.get("/api/v1/sessions/999999", headers=world.bearer("owner"))
    assert response.status_code == 404


def test_sessions_need_a_token(client, world, rows):
    for path in ("/api/v1/sessions", "/api/v1/sessions/open", "/api/v1/reports/summary"):
        assert client.get(path).status_code == 401


def test_summary_report(client, world):
    stand_a2 = Stand.create(site=world.site_a, name="Пост 2")
    version = world.tariff_version
    add_session(
        world.member,
        world.stand_a,
        version,
        started_at=utc(2024, 3, 1),
        ended_at=utc(2024, 3, 1, 0, 10),
        cost_kopecks=10000,
    )
    add_session(
        world.guest,
        stand_a2,
        version,
        started_at=utc(2024, 3, 2),
        ended_at=utc(2024, 3, 2, 0, 20),
        cost_kopecks=30000,
    )
    add_session(
        world.other_site_client,
        world.stand_b,
        version,
        started_at=utc(2024, 3, 3),
        ended_at=utc(2024, 3, 3, 0, 5),
        cost_kopecks=5000,
    )
    # Ends on 1 April, Moscow time (UTC+3): outside March.
    add_session(
        world.member,
        world.stand_a,
        version,
        started_at=utc(2024, 3, 31, 20, 30),
        ended_at=utc(2024, 3, 31, 21, 0),
        cost_kopecks=7000,
    )
    headers = world.bearer("operator")

    by_site = client.get(
        "/api/v1/reports/summary?from=2024-03-01&to=2024-03-31&group_by=site", headers=headers
    )
    assert by_site.status_code == 200
    assert by_site.get_json() == {
        "from": "2024-03-01",
        "to": "2024-03-31",
        "group_by": "site",
        "rows": [
            {
                "key": world.site_b.id,
                "label": "Мойка на Гагарина",
                "sessions": 1,
                "duration_s": 300,
                "average_duration_s": 300,
                "revenue_kopecks": 5000,
            },
            {
                "key": world.site_a.id,
                "label": "Мойка на Ленина",
                "sessions": 2,
                "duration_s": 1800,
                "average_duration_s": 900,
                "revenue_kopecks": 40000,
            },
        ],
        "total": {
            "key": None,
            "label": "Итого",
            "sessions": 3,
            "duration_s": 2100,
            "average_duration_s": 700,
            "revenue_kopecks": 45000,
        },
    }
    by_stand = client.get(
        "/api/v1/reports/summary?from=2024-03-01&to=2024-03-31&group_by=stand", headers=headers
    ).get_json()
    assert [(row["key"], row["sessions"], row["revenue_kopecks"]) for row in by_stand["rows"]] == [
        (world.stand_b.id, 1, 5000),
        (world.stand_a.id, 1, 10000),
        (stand_a2.id, 1, 30000),
    ]
    by_tariff = client.get(
        "/api/v1/reports/summary?from=2024-03-01&to=2024-03-31&group_by=tariff", headers=headers
    ).get_json()
    assert by_tariff["rows"] == [
        {
            "key": world.tariff.id,
            "label": "Стандарт",
            "sessions": 3,
            "duration_s": 2100,
            "average_duration_s": 700,
            "revenue_kopecks": 45000,
        }
    ]
    # April holds the one that ended after midnight in Moscow.
    april = client.get(
        "/api/v1/reports/summary?from=2024-04-01&to=2024-04-30", headers=headers
    ).get_json()
    assert april["group_by"] == "site"
    assert april["total"]["sessions"] == 1 and april["total"]["revenue_kopecks"] == 7000


def test_summary_agrees_with_the_report_page(client, world, as_role):
    add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utc(2024, 3, 1),
        ended_at=utc(2024, 3, 1, 1, 30),
        cost_kopecks=123456,
    )
    api = client.get(
        "/api/v1/reports/summary?from=2024-03-01&to=2024-03-31", headers=world.bearer("owner")
    ).get_json()
    page = (
        as_role("owner")
        .get("/reports/sessions?from=2024-03-01&to=2024-03-31")
        .get_data(as_text=True)
    )
    assert api["total"]["duration_s"] == 5400
    assert "1:30" in page  # 5400 s as h:mm
    assert "1\u00a0234,56\u00a0₽" in page


def test_summary_is_for_operators_and_above(client, world):
    assert (
        client.get("/api/v1/reports/summary", headers=world.bearer("attendant")).status_code == 403
    )
    for role in ("operator", "administrator", "owner"):
        assert client.get("/api/v1/reports/summary", headers=world.bearer(role)).status_code == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/reports/summary?from=2024-02-30", "bad_date"),
        ("/api/v1/reports/summary?to=31.03.2024", "bad_date"),
        ("/api/v1/reports/summary?group_by=client", "bad_group_by"),
        ("/api/v1/sessions?status=closed", "bad_status"),
        ("/api/v1/sessions?client_id=abc", "bad_parameter"),
        ("/api/v1/sessions?site_id=-1", "bad_parameter"),
        ("/api/v1/sessions?limit=0", "bad_paging"),
        ("/api/v1/sessions/open?site_id=x", "bad_parameter"),
        ("/api/v1/sessions?site_id=0", "bad_parameter"),  # ids start at 1, as documented
        ("/api/v1/stands/health?site_id=2147483648", "bad_parameter"),  # past PostgreSQL's int
        ("/api/v1/clients?site_id=0", "bad_parameter"),
        ("/api/v1/sessions?offset=1000000001", "bad_paging"),
    ],
)
def test_bad_parameters_are_400_with_a_message(client, world, path, code):
    response = client.get(path, headers=world.bearer("owner"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_openapi_documents_the_session_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/sessions",
        "/api/v1/sessions/open",
        "/api/v1/sessions/{session_id}",
        "/api/v1/reports/summary",
    ):
        assert "get" in paths[path]
    summary = paths["/api/v1/reports/summary"]["get"]
    assert {param["name"] for param in summary["parameters"]} == {"from", "to", "group_by"}


def test_a_method_the_route_lacks_is_405_naming_the_ones_it_has(client, world):
    response = client.open("/api/v1/sessions/open", method="TRACE", headers=world.bearer("owner"))

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_openapi_types_the_query_parameters_as_the_code_reads_them(client):
    document = client.get("/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/sessions"]["get"]
    schemas = {p["name"]: p["schema"] for p in listing["parameters"] if p["in"] == "query"}

    assert schemas["limit"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert schemas["status"]["enum"] == ["", "open", "ended"]  # empty: no filter
    assert {"type": "integer", "minimum": 1, "maximum": 2**31 - 1} in schemas["site_id"]["anyOf"]
    summary = document["paths"]["/api/v1/reports/summary"]["get"]["parameters"]
    assert "week" in next(p for p in summary if p["name"] == "group_by")["schema"]["enum"]
    assert "409" in document["paths"]["/api/v1/clients"]["post"]["responses"]
    assert "422" in document["paths"]["/api/v1/reports/summary"]["get"]["responses"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=2024-04-01&to=2024-03-01", 422, "bad_period"),  # each day fine, not together
        ("from=2001-01-01&to=2024-03-01", 422, "period_too_long"),  # more than ten years
        ("to=2100-12-31", 422, "period_too_long"),  # from: this month
        ("from=1999-12-31&to=2000-01-31", 400, "bad_date"),  # before the service's calendar
        ("from=2024-02-30", 400, "bad_date"),
        ("from=%202024-03-01", 400, "bad_date"),  # as documented: no spaces
        ("from=20240301", 400, "bad_date"),  # ISO's basic form is not the documented one
    ],
)
def test_report_periods_are_checked_as_documented(client, world, query, status, code):
    for path in ("/api/v1/reports/summary", "/api/v1/reports/topups", "/api/v1/reports/stands"):
        response = client.get(f"{path}?{query}", headers=world.bearer("owner"))
        assert response.status_code == status, path
        assert response.get_json()["error"]["code"] == code
