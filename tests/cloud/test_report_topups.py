"""The top-ups report (totals by day, week, month, payment method, site, staff member) and the
top-up history of any client: pages, CSV and API checked against sums worked out here."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud.ledger.service import post_entry
from cloud.models import Client
from tests.cloud.charthelp import assert_chart_agrees
from tests.cloud.test_reports import NBSP, money, page_table, read_csv, roubles

MOSCOW = ZoneInfo("Europe/Moscow")
MARCH = "from=2024-03-01&to=2024-03-31"
START = datetime(2024, 3, 1, tzinfo=MOSCOW)
END = datetime(2024, 4, 1, tzinfo=MOSCOW)
METHODS = {"cash": "Наличные", "card": "Карта", "transfer": "Перевод"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def topups(world):
    """Top-ups (and a charge, which is not one) in and around March, Moscow time; returns
    (entry, site label, staff label) of each top-up."""
    operator, attendant = world.users["operator"], world.users["attendant"]
    rows = [
        # client, amount, method, site, staff, when
        (world.member, 100000, "cash", world.site_a, attendant, utc(2024, 3, 1, 6)),
        (world.member, 50000, "card", world.site_a, attendant, utc(2024, 3, 4, 10)),
        (world.guest, 25050, "cash", world.site_b, None, utc(2024, 3, 4, 21, 30)),  # 5 Mar
        (world.other_site_client, 70000, "transfer", None, operator, utc(2024, 3, 18, 12)),
        (world.guest, 33300, "card", world.site_b, attendant, START.astimezone(UTC)),
        (
            world.member,
            11100,
            "cash",
            world.site_a,
            operator,
            END.astimezone(UTC) - timedelta(seconds=1),
        ),
        # outside March, Moscow time
        (world.member, 99900, "cash", world.site_a, operator, END.astimezone(UTC)),
        (
            world.member,
            88800,
            "cash",
            world.site_a,
            operator,
            START.astimezone(UTC) - timedelta(seconds=1),
        ),
    ]
    made = []
    for client, amount, method, site, staff, when in rows:
        entry = post_entry(
            client, "topup", amount, method=method, site=site, created_by=staff, created_at=when
        )
        site_label = site.name if site else "Без площадки (центральное приложение)"
        made.append((entry, site_label, staff.full_name if staff else "Без сотрудника"))
    post_entry(world.member, "charge", -12000, site=world.site_a, created_at=utc(2024, 3, 5))
    return made


def in_march(entry) -> bool:
    return START <= entry.created_at < END


def expected(topups, group_by):
    groups = defaultdict(lambda: [0, 0])
    for entry, site, staff in topups:
        if not in_march(entry):
            continue
        day = entry.created_at.astimezone(MOSCOW).date()
        key = {
            "method": METHODS[entry.method],
            "site": site,
            "staff": staff,
            "day": day,
            "week": day - timedelta(days=day.weekday()),
            "month": day.replace(day=1),
        }[group_by]
        groups[key][0] += 1
        groups[key][1] += entry.amount_kopecks
    if group_by in ("method", "site", "staff"):
        rows = [(label, *values) for label, values in sorted(groups.items())]
    else:
        days = [date(2024, 3, 1) + timedelta(days=n) for n in range(31)]
        if group_by == "day":
            keys = [(d, d.strftime("%d.%m.%Y")) for d in days]
        elif group_by == "week":
            mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
            keys = [(m, "неделя с " + m.strftime("%d.%m.%Y")) for m in mondays]
        else:
            keys = [(date(2024, 3, 1), "март 2024")]
        rows = [(label, *groups.get(key, [0, 0])) for key, label in keys]
    return [*rows, ("Итого", sum(r[1] for r in rows), sum(r[2] for r in rows))]


@pytest.mark.parametrize("group_by", ["day", "week", "month", "method", "site", "staff"])
def test_topup_totals_match_the_topups_of_the_period(topups, as_role, world, client, group_by):
    rows = expected(topups, group_by)
    assert rows[-1][1:] == (6, 289450)  # six top-ups in March, worked out by hand too
    browser = as_role("operator")
    html = browser.get(f"/reports/topups?{MARCH}&group_by={group_by}").get_data(as_text=True)
    assert page_table(html) == [[label, str(n), money(k)] for label, n, k in rows]
    chart = assert_chart_agrees(html, "topups-chart")
    assert [(label, amount, money(amount)) for label, _n, amount in rows[:-1]] == list(
        zip(chart["labels"], chart["values"], chart["texts"], strict=True)
    )

    exported = read_csv(browser.get(f"/reports/topups.csv?{MARCH}&group_by={group_by}"))
    assert exported[1:] == [[label, str(n), roubles(k), str(k)] for label, n, k in rows]

    api = client.get(
        f"/api/v1/reports/topups?{MARCH}&group_by={group_by}", headers=world.bearer("owner")
    ).get_json()
    assert [(r["label"], r["topups"], r["amount_kopecks"]) for r in api["rows"]] == [
        tuple(row) for row in rows[:-1]
    ]
    assert (api["total"]["topups"], api["total"]["amount_kopecks"]) == rows[-1][1:]


def test_topup_history_of_one_client_newest_first_with_filters(topups, as_role, world, client):
    mine = sorted(
        (entry for entry, _s, _t in topups if entry.client_id == world.member.id),
        key=lambda e: (e.created_at, e.id),
        reverse=True,
    )
    headers = world.bearer("operator")
    every = client.get(
        f"/api/v1/reports/topups/history?client_id={world.member.id}", headers=headers
    ).get_json()
    assert [item["id"] for item in every["items"]] == [entry.id for entry in mine]
    assert every["count"] == len(mine) and every["amount_kopecks"] == sum(
        e.amount_kopecks for e in mine
    )
    march_cash = [e for e in mine if in_march(e) and e.method == "cash"]
    assert len(march_cash) == 2
    filtered = client.get(
        f"/api/v1/reports/topups/history?client_id={world.member.id}&method=cash&{MARCH}",
        headers=headers,
    ).get_json()
    assert [item["id"] for item in filtered["items"]] == [e.id for e in march_cash]
    assert filtered["amount_kopecks"] == sum(e.amount_kopecks for e in march_cash)
    by_site = client.get(
        f"/api/v1/reports/topups/history?site_id={world.site_b.id}", headers=headers
    ).get_json()
    assert {item["client_id"] for item in by_site["items"]} == {world.guest.id}
    assert by_site["count"] == 2

    browser = as_role("operator")
    page = browser.get(f"/reports/topups/history?client_id={world.member.id}&method=cash")
    table = page_table(page.get_data(as_text=True))
    cash = [e for e in mine if e.method == "cash"]
    assert [row[2] for row in table] == [money(e.amount_kopecks) for e in cash]
    assert {row[1] for row in table} == {"Иван Петров"}
    exported = read_csv(
        browser.get(f"/reports/topups/history.csv?client_id={world.member.id}&method=cash")
    )
    assert [row[4] for row in exported[1:]] == [str(e.amount_kopecks) for e in cash]
    assert exported[1][0] == cash[0].created_at.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


def test_the_client_page_links_to_the_clients_topup_history(world, as_role):
    html = as_role("operator").get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert f"/reports/topups/history?client_id={world.member.id}" in html
    attendant = as_role("attendant").get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert "/reports/topups/history" not in attendant


@pytest.mark.parametrize(
    ("query", "status", "api_status", "message"),
    [
        ("client_id=abc", 400, 400, "client_id"),
        ("method=bitcoin", 400, 400, "method"),
        # The API says 422 for a rule between two values its document cannot state.
        ("from=2024-03-31&to=2024-03-01", 400, 422, "Начало периода позже его конца"),
        ("from=31.03.2024", 400, 400, "ГГГГ-ММ-ДД"),
        ("client_id=999999", 404, 404, "Клиент не найден"),
    ],
)
def test_bad_history_filters_are_refused(
    world, as_role, client, query, status, api_status, message
):
    page = as_role("operator").get(f"/reports/topups/history?{query}")
    assert page.status_code == status
    assert message in page.get_data(as_text=True)
    api = client.get(f"/api/v1/reports/topups/history?{query}", headers=world.bearer("owner"))
    assert api.status_code == api_status
    assert message in api.get_json()["error"]["message"]


def test_a_guest_known_by_plate_is_named_by_it(world, as_role):
    post_entry(world.guest, "topup", 5000, method="cash", created_at=utc(2024, 3, 2))
    html = as_role("owner").get(f"/reports/topups/history?{MARCH}").get_data(as_text=True)
    assert page_table(html)[0][1] == "О777ОО99"
    assert Client.get_by_id(world.guest.id).name == ""
    assert NBSP  # shared helper imported for money()
