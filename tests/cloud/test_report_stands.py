"""The stand health report: time offline per stand from the heartbeat log's silences, outbox
peaks and re-priced sessions over a period; and the heartbeat that ends a silence is logged
with its length. Expected figures are worked out here from the rows made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud.db import utcnow
from cloud.models import Stand, StandHeartbeat, StandHeartbeatLog
from cloud.standsync.heartbeat import ONLINE_WITHIN, parse_heartbeat, record_heartbeat
from tests.cloud.charthelp import assert_chart_agrees
from tests.cloud.sessionrows import add_session
from tests.cloud.test_heartbeat import beat
from tests.cloud.test_reports import hours_minutes, money, page_table, read_csv

MOSCOW = ZoneInfo("Europe/Moscow")
START = datetime(2024, 3, 1, tzinfo=MOSCOW).astimezone(UTC)
END = datetime(2024, 4, 1, tzinfo=MOSCOW).astimezone(UTC)
MARCH = "from=2024-03-01&to=2024-03-31"


def log(stand, when, *, silence=None, outbox=0):
    StandHeartbeatLog.create(
        stand=stand,
        received_at=when,
        version="1",
        uptime_s=1,
        outbox=outbox,
        cursor=1,
        silence_s=silence,
    )


def latest(stand, when):
    StandHeartbeat.create(
        stand=stand, received_at=when, version="1", uptime_s=1, outbox=0, cursor=1
    )


def offline_within(silences, last_beat, start, stop):
    """Seconds offline in [start, stop): each silence ending at ``t`` after ``s`` seconds is
    offline from ONLINE_WITHIN after the previous beat; the latest beat's silence goes on."""
    grace = ONLINE_WITHIN.total_seconds()
    stretches = [(t - timedelta(seconds=s - grace), t) for t, s in silences]
    stretches.append((last_beat + ONLINE_WITHIN, stop))
    total = outages = 0
    for begin, end in stretches:
        seconds = (min(end, stop) - max(begin, start)).total_seconds()
        if seconds > 0:
            total, outages = total + int(seconds), outages + 1
    return total, outages


@pytest.fixture
def health(world):
    stand_a, stand_b = world.stand_a, world.stand_b
    new_stand = Stand.create(site=world.site_a, name="Пост 3")  # never heard from
    a_silences = [
        (START + timedelta(seconds=600), 1200),  # began before March
        (datetime(2024, 3, 10, 12, tzinfo=UTC), 3600),
        (END + timedelta(seconds=100), 400),  # ends after March
        (END + timedelta(days=3), 7200),  # wholly after
        (START - timedelta(days=2), 7200),  # wholly before
    ]
    for when, silence in a_silences:
        log(stand_a, when, silence=silence)
    outbox = [
        (datetime(2024, 3, 3, tzinfo=UTC), 5),
        (datetime(2024, 3, 4, tzinfo=UTC), 9),
        (datetime(2024, 3, 5, tzinfo=UTC), 9),
        (START - timedelta(seconds=1), 50),
        (END, 60),
    ]
    for when, depth in outbox:
        log(stand_a, when, outbox=depth)
    latest(stand_a, END + timedelta(days=3))
    b_last = datetime(2024, 3, 31, 12, tzinfo=UTC)
    log(stand_b, b_last, outbox=2)
    latest(stand_b, b_last)  # silent ever since

    version = world.tariff_version
    sessions = [
        # stand, ended, cost, repriced, mismatch
        (stand_a, datetime(2024, 3, 6, tzinfo=UTC), 10000, 9000, True),
        (stand_a, datetime(2024, 3, 7, tzinfo=UTC), 5000, 5500, True),
        (stand_b, datetime(2024, 3, 8, tzinfo=UTC), 7000, 6000, True),
        (stand_a, datetime(2024, 3, 9, tzinfo=UTC), 4000, 4000, False),
        (stand_a, END, 3000, 1000, True),  # April
    ]
    made = []
    for stand, ended, cost, repriced, mismatch in sessions:
        session = add_session(
            world.member,
            stand,
            version,
            started_at=ended - timedelta(minutes=5),
            ended_at=ended,
            cost_kopecks=cost,
        )
        session.repriced_cost_kopecks, session.price_mismatch = repriced, mismatch
        session.save()
        made.append(session)
    expected = {}
    for stand, silences, last_beat, depths in (
        (stand_a, a_silences, END + timedelta(days=3), outbox),
        (stand_b, [], b_last, [(b_last, 2)]),
    ):
        seconds, outages = offline_within(silences, last_beat, START, END)
        march = [(d, w) for w, d in depths if START <= w < END]
        peak = max(march)[0] if march else 0
        peak_at = min(w for d, w in march if d == peak) if march else None
        mine = [
            s
            for s in made
            if s.stand_id == stand.id and s.price_mismatch and START <= s.ended_at < END
        ]
        expected[stand.id] = {
            "offline_s": seconds,
            "outages": outages,
            "outbox_peak": peak,
            "outbox_peak_at": peak_at.isoformat().replace("+00:00", "Z") if peak_at else None,
            "repriced": len(mine),
            "repriced_difference_kopecks": sum(
                s.cost_kopecks - s.repriced_cost_kopecks for s in mine
            ),
        }
    expected[new_stand.id] = {
        "offline_s": None,
        "outages": 0,
        "outbox_peak": 0,
        "outbox_peak_at": None,
        "repriced": 0,
        "repriced_difference_kopecks": 0,
    }
    return expected, made


def test_stand_figures_match_the_heartbeat_log_and_sessions(health, world, client):
    expected, made = health
    assert expected[world.stand_a.id]["offline_s"] == 600 + 3570 + 270  # by hand, too
    report = client.get(
        f"/api/v1/reports/stands?{MARCH}", headers=world.bearer("operator")
    ).get_json()
    got = {
        row["stand_id"]: {key: row[key] for key in expected[world.stand_a.id]}
        for row in report["rows"]
    }
    assert got == expected
    repriced = [s for s in made if s.price_mismatch and START <= s.ended_at < END]
    repriced.sort(key=lambda s: s.ended_at, reverse=True)
    assert [r["session_id"] for r in report["repriced_sessions"]] == [s.id for s in repriced]


def test_stand_page_and_csv(health, world, as_role):
    expected, _made = health
    browser = as_role("owner")
    html = browser.get(f"/reports/stands?{MARCH}").get_data(as_text=True)
    table = page_table(html)
    names = {
        world.stand_a.id: "Мойка на Ленина · Пост 1",
        world.stand_b.id: "Мойка на Гагарина · Пост 1",
    }
    rows = {row[0]: row for row in table}
    for stand_id, name in names.items():
        figures = expected[stand_id]
        assert rows[name][1] == hours_minutes(figures["offline_s"])
        assert rows[name][3] == str(figures["outbox_peak"])
        assert rows[name][6] == money(figures["repriced_difference_kopecks"])
    assert rows["Мойка на Ленина · Пост 3"][1] == "нет сигналов"
    assert 'id="offline-chart"' in html and 'id="repriced"' in html
    chart = assert_chart_agrees(html, "offline-chart")
    assert chart["unit"] == "duration"
    drawn = dict(zip(chart["labels"], chart["values"], strict=True))
    for stand_id, name in names.items():
        assert drawn[name] == (expected[stand_id]["offline_s"] or 0)

    exported = read_csv(browser.get(f"/reports/stands.csv?{MARCH}"))
    by_name = {f"{r[0]} · {r[1]}": r for r in exported[1:]}
    for stand_id, name in names.items():
        figures = expected[stand_id]
        assert int(by_name[name][3]) == figures["offline_s"]
        assert int(by_name[name][4]) == figures["outages"]
        assert int(by_name[name][9]) == figures["repriced_difference_kopecks"]


def test_the_heartbeat_that_ends_a_silence_is_logged_with_its_length(world):
    stand = Stand.get_by_id(world.stand_a.id)
    body = parse_heartbeat(beat())
    now = utcnow()
    record_heartbeat(stand, body, now)
    record_heartbeat(stand, body, now + timedelta(seconds=10))  # within a minute: not logged
    record_heartbeat(stand, body, now + timedelta(seconds=55))  # 45 s silent: logged
    record_heartbeat(stand, body, now + timedelta(seconds=58))
    rows = StandHeartbeatLog.select().order_by(StandHeartbeatLog.received_at)
    assert [(row.received_at - now, row.silence_s) for row in rows] == [
        (timedelta(0), None),
        (timedelta(seconds=55), 45),
    ]
