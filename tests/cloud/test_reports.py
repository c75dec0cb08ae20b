"""The sessions report: count, total and average time and revenue for a period, by day, week,
month, site, stand, tariff, client kind or who started them, with a chart and a CSV export;
figures checked against sums worked out here from the rows created."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from cloud.db import utcnow
from cloud.models import Stand, Tariff, TariffVersion
from sync.money import NBSP
from tests.cloud.charthelp import assert_chart_agrees, chart_table
from tests.cloud.sessionrows import add_session

MOSCOW = ZoneInfo("Europe/Moscow")  # the service's default time zone
# March 2024 in Moscow time, as UTC instants: [start, end).
PERIOD_START = datetime(2024, 3, 1, tzinfo=MOSCOW).astimezone(UTC)
PERIOD_END = datetime(2024, 4, 1, tzinfo=MOSCOW).astimezone(UTC)
MARCH = "from=2024-03-01&to=2024-03-31"


def roubles(kopecks: int) -> str:
    """Roubles as the CSV gives them: decimal comma, no grouping."""
    return f"{kopecks // 100},{kopecks % 100:02d}"


def money(kopecks: int) -> str:
    """Roubles as the page shows them: "1 555,00 ₽" with no-break spaces."""
    grouped = f"{kopecks // 100:,}".replace(",", NBSP)
    return f"{grouped},{kopecks % 100:02d}{NBSP}₽"


def hours_minutes(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def sessions(world):
    """Sessions over two sites, three stands and two tariffs, some just inside March (Moscow
    time) and some just outside; returns (session, site label, stand label, tariff label)."""
    stand_a2 = Stand.create(site=world.site_a, name="Пост 2")
    express = Tariff.create(name="Экспресс")
    express_v = TariffVersion.create(
        tariff=express,
        effective_from=utc(2020, 1, 1),
        member_per_minute=2000,
        guest_per_minute=2500,
    )
    standard = world.tariff_version
    rows = [
        # client, stand, tariff version, started, ended, cost
        (world.member, world.stand_a, standard, utc(2024, 3, 5, 9), utc(2024, 3, 5, 9, 12), 12000),
        (world.guest, world.stand_a, express_v, utc(2024, 3, 6, 10), utc(2024, 3, 6, 10, 7), 17500),
        (world.member, stand_a2, standard, utc(2024, 3, 10, 8), utc(2024, 3, 10, 9, 15, 30), 76000),
        (
            world.other_site_client,
            world.stand_b,
            standard,
            utc(2024, 3, 20),
            utc(2024, 3, 20, 0, 9),
            9000,
        ),
        (
            world.other_site_client,
            world.stand_b,
            express_v,
            utc(2024, 3, 21),
            utc(2024, 3, 21, 0, 3),
            6000,
        ),
        # Started in February, ended on the first moment of March in Moscow: counts (ended_at).
        (world.member, world.stand_a, standard, utc(2024, 2, 29, 20, 50), PERIOD_START, 10000),
        # The last second of March in Moscow: counts.
        (
            world.guest,
            stand_a2,
            express_v,
            utc(2024, 3, 31, 20, 50),
            PERIOD_END - timedelta(seconds=1),
            25000,
        ),
        # Just outside, on either side: excluded.
        (
            world.member,
            world.stand_a,
            standard,
            utc(2024, 2, 29, 20),
            PERIOD_START - timedelta(seconds=1),
            99900,
        ),
        (world.guest, world.stand_b, express_v, utc(2024, 3, 31, 20, 55), PERIOD_END, 88800),
    ]
    # Who started each: a staff member on the screen, or the client by card or QR.
    starters = [
        ("card", None),
        ("screen", world.users["attendant"]),
        ("qr", None),
        ("screen", world.users["operator"]),
        ("card", None),
        ("screen", world.users["attendant"]),
        ("qr", None),
        ("card", None),
        ("card", None),
    ]
    made = []
    for (client, stand, version, started, ended, cost), (method, staff) in zip(
        rows, starters, strict=True
    ):
        session = add_session(
            client,
            stand,
            version,
            started_at=started,
            ended_at=ended,
            cost_kopecks=cost,
            start_method=method,
        )
        session.started_by = staff
        session.save()
        starter = staff.full_name if staff else STARTER_LABELS[method]
        kind = KIND_LABELS[client.kind]
        made.append(
            (
                session,
                stand.site.name,
                f"{stand.site.name} · {stand.name}",
                version.tariff.name,
                kind,
                starter,
            )
        )
    # Still open in March: not counted.
    add_session(world.member, stand_a2, standard, started_at=utc(2024, 3, 15, 12))
    return made


STARTER_LABELS = {"card": "Карта (самообслуживание)", "qr": "QR-код (самообслуживание)"}
KIND_LABELS = {"member": "Участник клуба", "guest": "Гость"}
GROUPINGS = ["site", "stand", "tariff", "client_kind", "started_by", "day", "week", "month"]


def march_buckets(unit):
    """The first day and label of every day, week (from Monday) or month touching March 2024."""
    days = [date(2024, 3, 1) + timedelta(days=n) for n in range(31)]
    if unit == "day":
        return [(day, day.strftime("%d.%m.%Y")) for day in days]
    if unit == "week":
        mondays = sorted({day - timedelta(days=day.weekday()) for day in days})
        return [(monday, "неделя с " + monday.strftime("%d.%m.%Y")) for monday in mondays]
    return [(date(2024, 3, 1), "март 2024")]


def bucket_key(ended, unit):
    day = ended.astimezone(MOSCOW).date()
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if unit == "month" else day


def expected_rows(sessions, group_by):
    """(label, count, seconds, kopecks) per group, sorted by label (in time order for days,
    weeks and months, every one of them), then the totals."""
    column = {"site": 1, "stand": 2, "tariff": 3, "client_kind": 4, "started_by": 5}
    groups = defaultdict(lambda: [0, 0, 0])
    for entry in sessions:
        session = entry[0]
        if PERIOD_START <= session.ended_at < PERIOD_END:
            if group_by in column:
                key = entry[column[group_by]]
            else:
                key = bucket_key(session.ended_at, group_by)
            group = groups[key]
            group[0] += 1
            group[1] += session.duration_s
            group[2] += session.cost_kopecks
    if group_by in column:
        rows = [(label, *values) for label, values in sorted(groups.items())]
    else:
        rows = [(label, *groups.get(day, [0, 0, 0])) for day, label in march_buckets(group_by)]
    total = ("Итого", *(sum(row[i] for row in rows) for i in (1, 2, 3)))
    return [*rows, total]


def average(seconds, count):
    """The average time as the page shows it (m:ss, or h:mm:ss from an hour)."""
    mean = seconds // count if count else 0
    hours, rest = divmod(mean, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TableParser(HTMLParser):
    """The text of each row of the page's report table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_table = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "report-table") in attrs:
            self.in_table = True
        elif self.in_table and tag == "tr":
            self.rows.append([])
        elif self.in_table and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_table = False
        elif self.in_table and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_table(html: str) -> list[list[str]]:
    parser = TableParser()
    parser.feed(html)
    return parser.rows[1:]  # without the header row


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_report_figures_match_the_sessions_of_the_period(sessions, as_role, group_by):
    expected = expected_rows(sessions, group_by)
    assert len(expected) >= 2
    browser = as_role("operator")

    response = browser.get(f"/reports/sessions?{MARCH}&group_by={group_by}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    table = page_table(html)
    assert table == [
        [label, str(n), hours_minutes(d), average(d, n), money(r)] for label, n, d, r in expected
    ]

    exported = read_csv(browser.get(f"/reports/sessions.csv?{MARCH}&group_by={group_by}"))
    assert exported[1:] == [
        [label, str(n), hours_minutes(d), str(d), roubles(r), str(r), str(d // n if n else 0)]
        for label, n, d, r in expected
    ]
    # The CSV says what the page's table says.
    assert [[row[0], row[1], row[2], money(int(row[5]))] for row in exported[1:]] == [
        [row[0], row[1], row[2], row[4]] for row in table
    ]

    chart = assert_chart_agrees(html, "revenue-chart")  # the table view says what is drawn
    assert chart["kind"] == ("columns" if group_by in ("day", "week", "month") else "bars")
    assert chart["unit"] == "money"
    assert [(label, revenue, money(revenue)) for label, _n, _d, revenue in expected[:-1]] == list(
        zip(chart["labels"], chart["values"], chart["texts"], strict=True)
    )  # one bar per group, its value in kopecks and its tooltip's text
    assert 'role="img"' in html and 'aria-label="Выручка' in html
    assert "charts.js" in html and "vendor/chartjs/chart.umd.min.js" in html


def test_days_weeks_and_months_are_a_time_series_with_the_quiet_days_in_it(sessions, as_role):
    html = as_role("owner").get(f"/reports/sessions?{MARCH}&group_by=day").get_data(as_text=True)
    chart = assert_chart_agrees(html, "revenue-chart")
    assert chart["kind"] == "columns"
    assert chart["labels"] == [label for _day, label in march_buckets("day")]
    # left to right in time order, quiet days included
    assert ("02.03.2024", "0,00 ₽") in [
        (label, text.replace(NBSP, " ")) for label, text in chart_table(html, "revenue-chart")
    ]


def test_days_follow_the_configured_time_zone_across_a_clock_change(world, as_role, app):
    """Berlin moves its clocks on 31 March 2024 at 01:00 UTC: a day there is 23 hours."""
    app.config["AQ"] = replace(app.config["AQ"], timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    ends = [
        utc(2024, 3, 29, 22, 59, 59),  # 23:59:59 on the 29th (UTC+1): outside
        utc(2024, 3, 29, 23, 0),  # midnight, the 30th
        utc(2024, 3, 30, 22, 59, 59),  # the 30th, last second
        utc(2024, 3, 30, 23, 0),  # midnight, the 31st (still UTC+1)
        utc(2024, 3, 31, 21, 59, 59),  # 23:59:59 on the 31st (now UTC+2)
        utc(2024, 3, 31, 22, 0),  # midnight, 1 April
        utc(2024, 4, 1, 21, 59, 59),  # the last second of 1 April
        utc(2024, 4, 1, 22, 0),  # 2 April: outside
    ]
    for number, ended in enumerate(ends, start=1):
        add_session(
            world.member,
            world.stand_a,
            world.tariff_version,
            started_at=ended - timedelta(minutes=number),
            ended_at=ended,
            cost_kopecks=100 * number,
        )
    first, last = date(2024, 3, 30), date(2024, 4, 1)
    expected = defaultdict(lambda: [0, 0])
    for number, ended in enumerate(ends, start=1):
        day = ended.astimezone(berlin).date()
        if first <= day <= last:
            expected[day][0] += 1
            expected[day][1] += 100 * number
    response = as_role("operator").get(
        "/reports/sessions.csv?from=2024-03-30&to=2024-04-01&group_by=day"
    )
    rows = read_csv(response)[1:-1]
    assert [(row[0], int(row[1]), int(row[5])) for row in rows] == [
        (day.strftime("%d.%m.%Y"), *expected[day]) for day in (first, first.replace(day=31), last)
    ]
    assert [int(row[1]) for row in rows] == [2, 2, 2]


def test_report_counts_sessions_by_when_they_ended(sessions, as_role):
    total = expected_rows(sessions, "site")[-1]
    # Seven of the nine ended sessions end within March, Moscow time; the open one never counts.
    assert total[1] == 7
    html = as_role("owner").get(f"/reports/sessions?{MARCH}").get_data(as_text=True)
    assert page_table(html)[-1] == [
        "Итого",
        "7",
        hours_minutes(total[2]),
        average(total[2], 7),
        money(total[3]),
    ]
    assert "время окончания" in html  # the page says which sessions count


def test_report_of_a_quiet_period_says_so(sessions, as_role):
    html = (
        as_role("operator")
        .get("/reports/sessions?from=2023-01-01&to=2023-01-31")
        .get_data(as_text=True)
    )
    assert "За этот период завершённых сессий нет." in html
    assert "chart-box" not in html


def test_report_defaults_to_this_month(world, as_role):
    add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(minutes=10),
        ended_at=utcnow() - timedelta(seconds=1),
        cost_kopecks=10000,
    )
    today = utcnow().astimezone(MOSCOW).date()
    html = as_role("operator").get("/reports/sessions").get_data(as_text=True)
    assert f'name="from" value="{today.replace(day=1).isoformat()}"' in html
    assert page_table(html)[-1] == ["Итого", "1", "0:09", "9:59", money(10000)]


def test_csv_is_ready_for_excel(sessions, as_role):
    response = as_role("operator").get(f"/reports/sessions.csv?{MARCH}&group_by=tariff")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "sessions_2024-03-01_2024-03-31_tariff.csv" in response.headers["Content-Disposition"]
    header = read_csv(response)[0]
    assert header == [
        "Тариф",
        "Сессий",
        "Время, ч:мм",
        "Время, с",
        "Выручка, ₽",
        "Выручка, коп.",
        "Среднее время, с",
    ]


def test_csv_does_not_let_a_name_become_a_formula(world, as_role):
    world.site_a.name = "=HYPERLINK(1)"
    world.site_a.save()
    add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utc(2024, 3, 5, 9),
        ended_at=utc(2024, 3, 5, 9, 5),
        cost_kopecks=5000,
    )
    rows = read_csv(as_role("operator").get(f"/reports/sessions.csv?{MARCH}"))
    assert rows[1][0] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("path", ["/reports/sessions", "/reports/sessions.csv"])
@pytest.mark.parametrize(
    ("role", "status"),
    [("attendant", 403), ("operator", 200), ("administrator", 200), ("owner", 200)],
)
def test_reports_are_for_operators_and_above(world, as_role, path, role, status):
    assert as_role(role).get(path).status_code == status


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2024-13-01&to=2024-03-31", "ГГГГ-ММ-ДД"),
        ("from=вчера", "ГГГГ-ММ-ДД"),
        ("from=2024-03-31&to=2024-03-01", "Начало периода позже его конца"),
        ("group_by=client", "group_by"),
    ],
)
def test_bad_report_parameters_are_refused_with_a_message(world, as_role, query, message):
    browser = as_role("operator")
    page = browser.get(f"/reports/sessions?{query}")
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)
    assert "chart-box" not in page.get_data(as_text=True)
    exported = browser.get(f"/reports/sessions.csv?{query}")
    # The file, like the API, says 422 for a rule between two values (from after to).
    assert exported.status_code == (422 if "позже" in message else 400)
    assert message in exported.get_data(as_text=True)
