"""What every report page shares: the reports' navigation, a clear refusal of bad parameters on
the page, its CSV and its API call, and no reports for attendants."""

from __future__ import annotations

import pytest

PAGES = [
    "/reports/sessions",
    "/reports/topups",
    "/reports/topups/history",
    "/reports/debts",
    "/reports/stands",
]
WITH_PERIOD = [
    ("/reports/sessions", "/api/v1/reports/summary"),
    ("/reports/topups", "/api/v1/reports/topups"),
    ("/reports/stands", "/api/v1/reports/stands"),
]


@pytest.mark.parametrize("path", PAGES)
def test_every_report_page_links_to_every_other(world, as_role, path):
    html = as_role("operator").get(path).get_data(as_text=True)
    for other in PAGES:
        assert f'href="{other}"' in html
    assert 'aria-current="page"' in html


@pytest.mark.parametrize(("page", "api"), WITH_PERIOD)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2024-02-30", "ГГГГ-ММ-ДД"),
        ("from=2024-03-31&to=2024-03-01", "Начало периода позже его конца"),
    ],
)
def test_a_bad_period_is_refused_everywhere(world, as_role, client, page, api, query, message):
    browser = as_role("owner")
    status = 422 if "позже" in message else 400  # well-formed days in the wrong order: 422
    for path in (f"{page}?{query}", f"{page}.csv?{query}"):
        response = browser.get(path)
        assert response.status_code in {400, status}, path  # the page shows the form again
        assert message in response.get_data(as_text=True)
    answer = client.get(f"{api}?{query}", headers=world.bearer("owner"))
    assert answer.status_code == status
    assert message in answer.get_json()["error"]["message"]


@pytest.mark.parametrize(("page", "api"), WITH_PERIOD[:2])
def test_an_unknown_grouping_is_refused(world, as_role, client, page, api):
    response = as_role("operator").get(f"{page}?group_by=planet")
    assert response.status_code == 400
    assert "group_by: одно из" in response.get_data(as_text=True)
    answer = client.get(f"{api}?group_by=planet", headers=world.bearer("operator"))
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_group_by"


@pytest.mark.parametrize(
    "path",
    [
        *PAGES,
        *(f"{page}.csv" for page in PAGES),
        "/api/v1/reports/topups",
        "/api/v1/reports/topups/history",
        "/api/v1/reports/debts",
        "/api/v1/reports/stands",
        "/api/v1/reports/summary",
    ],
)
def test_attendants_see_no_reports(world, as_role, client, path):
    if path.startswith("/api/"):
        assert client.get(path, headers=world.bearer("attendant")).status_code == 403
        assert client.get(path, headers=world.bearer("operator")).status_code == 200
    else:
        assert as_role("attendant").get(path).status_code == 403
        assert as_role("administrator").get(path).status_code == 200


def test_the_main_navigation_leads_to_the_reports_for_those_who_may_see_them(world, as_role):
    assert 'href="/reports/sessions"' in as_role("operator").get("/").get_data(as_text=True)
    assert 'href="/reports/sessions"' not in as_role("attendant").get("/").get_data(as_text=True)
