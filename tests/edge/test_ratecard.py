"""What a tariff costs when, on the attendant's screen (edge/ratecard.py, _rate_cards.html):
the rows of each window and of the rest of the time, the one in force at the stand's clock
marked (the site's local time, as pricing reads it), on the client's and the guest's pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.ratecard import offered_rate_cards, rate_card
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import Store
from sync.directory import validate_directory
from sync.pricing import Discount, Rates, price
from sync.schedule import ALL_DAYS, Start, Window, schedule_to_json
from tests.edge.conftest import (
    ATTENDANT_ID,
    EXPRESS,
    IVAN,
    SITE_ID,
    STAND_ID,
    STANDARD,
    VERSION,
    FakeClock,
    directory_doc,
    rates,
)
from tests.edge.test_screen import IDLE_LOCK_S, STAFF, devices, log_in

MSK = "Europe/Moscow"
NIGHT = Window(ALL_DAYS, 22 * 60, 7 * 60, 800, 1200)
WEEKEND = Window((5, 6), 10 * 60, 14 * 60, 1200, 1800)
FRIDAY_NIGHT = Window((4,), 22 * 60, 7 * 60, 500, 700)
SUNDAY_NIGHT = Window((6,), 23 * 60, 6 * 60, 400, 600)
WORKDAY_EVENING = Window((0, 1, 2, 3, 4), 18 * 60, 24 * 60, 1500, 2000)
STANDARD_RATES = Rates(1000, 1500, schedule=(NIGHT, WEEKEND))


def msk(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of the week of Monday 10 June 2024 (``day`` 0..6, 7 the next Monday) on the
    Moscow wall clock (UTC+3 all year), as the stand's clock gives it: in UTC."""
    local = datetime(2024, 6, 10, hour, minute, second, tzinfo=UTC) + timedelta(days=day)
    return local - timedelta(hours=3)


def marked(rates: Rates, moment: datetime, timezone: str = MSK) -> list[str]:
    """The rows marked "now" on the card of ``rates`` at ``moment``."""
    card = rate_card(STANDARD, "Стандарт", rates, moment, timezone)
    return [row.when for row in card.rows if row.now]


# --- the helper -------------------------------------------------------------------------------


def test_a_tariff_without_a_schedule_is_one_row_in_force_at_any_time() -> None:
    card = rate_card(EXPRESS, "Экспресс", Rates(2000, 3000), msk(0, 13), MSK)
    assert card.name == "Экспресс" and card.tariff_id == EXPRESS
    assert [(r.when, r.member_per_minute, r.guest_per_minute, r.now) for r in card.rows] == [
        ("в любое время", 2000, 3000, True)
    ]


def test_each_window_is_a_row_with_its_days_hours_and_rates_then_the_rest_of_the_time() -> None:
    card = rate_card(STANDARD, "Стандарт", STANDARD_RATES, msk(0, 13), MSK)
    assert [(r.when, r.member_per_minute, r.guest_per_minute, r.now) for r in card.rows] == [
        ("ежедневно 22:00–07:00", 800, 1200, False),
        ("сб, вс 10:00–14:00", 1200, 1800, False),
        ("в остальное время", 1000, 1500, True),
    ]


@pytest.mark.parametrize(
    ("moment", "in_force"),
    [
        (msk(0, 21, 59, 59), "в остальное время"),
        (msk(0, 22), "ежедневно 22:00–07:00"),  # a window starts at its first minute
        (msk(1, 6, 59, 59), "ежедневно 22:00–07:00"),
        (msk(1, 7), "в остальное время"),  # and ends before its last
        (msk(5, 9, 59), "в остальное время"),
        (msk(5, 10), "сб, вс 10:00–14:00"),  # Saturday
        (msk(6, 13, 59, 59), "сб, вс 10:00–14:00"),  # Sunday
        (msk(6, 14), "в остальное время"),
        (msk(2, 12), "в остальное время"),  # a Wednesday is no weekend
    ],
)
def test_the_row_in_force_changes_at_the_windows_edges_and_days(
    moment: datetime, in_force: str
) -> None:
    assert marked(STANDARD_RATES, moment) == [in_force]


@pytest.mark.parametrize(
    ("moment", "in_force"),
    [
        (msk(3, 23), False),  # Thursday night: the window starts on Fridays only
        (msk(4, 3), False),  # Friday small hours: they belong to Thursday's night
        (msk(4, 21, 59), False),
        (msk(4, 22), True),
        (msk(5, 3), True),  # Saturday small hours: Friday's window runs on
        (msk(5, 6, 59), True),
        (msk(5, 7), False),
        (msk(5, 23), False),
    ],
)
def test_a_window_past_midnight_runs_into_the_next_day_from_its_own_days_only(
    moment: datetime, in_force: bool
) -> None:
    rates = Rates(1000, 1500, schedule=(FRIDAY_NIGHT,))
    assert marked(rates, moment) == ["пт 22:00–07:00" if in_force else "в остальное время"]


def test_sunday_night_runs_into_monday_and_an_evening_ends_at_midnight() -> None:
    rates = Rates(1000, 1500, schedule=(SUNDAY_NIGHT, WORKDAY_EVENING))
    assert marked(rates, msk(7, 5, 59)) == ["вс 23:00–06:00"]  # Monday morning, the next week
    assert marked(rates, msk(0, 5, 59)) == ["вс 23:00–06:00"]  # and this week's Monday
    assert marked(rates, msk(0, 6)) == ["в остальное время"]
    assert marked(rates, msk(4, 23, 59, 59)) == ["пн–пт 18:00–24:00"]
    assert marked(rates, msk(5, 0)) == ["в остальное время"]  # Saturday: no evening rate


def test_now_is_the_sites_wall_clock_not_utc() -> None:
    moment = datetime(2024, 6, 10, 20, 30, tzinfo=UTC)  # 23:30 in Moscow, 06:30 in Vladivostok
    assert marked(STANDARD_RATES, moment) == ["ежедневно 22:00–07:00"]
    assert marked(STANDARD_RATES, moment, "Asia/Vladivostok") == ["ежедневно 22:00–07:00"]
    moment = datetime(2024, 6, 10, 21, 30, tzinfo=UTC)  # 00:30 in Moscow, 07:30 in Vladivostok
    assert marked(STANDARD_RATES, moment, "Asia/Vladivostok") == ["в остальное время"]
    assert marked(STANDARD_RATES, moment, "UTC") == ["в остальное время"]  # 21:30, a Monday
    assert marked(STANDARD_RATES, moment) == ["ежедневно 22:00–07:00"]


def test_the_row_marked_now_is_the_rate_a_minute_started_then_is_priced_at() -> None:
    """Checked against the pricing code (sync.pricing.price), every 20 minutes of a week and
    a second either side of each edge: exactly one row is marked, and the first second of a
    session started then is priced at its rate (billed by the second, so no step reaches over
    the edge; the rates differ in kopecks a second)."""
    evening = Window((0, 1, 2, 3), 18 * 60, 24 * 60, 1500, 2000)  # Friday has its night
    rates = Rates(1000, 1500, step_s=1, schedule=(FRIDAY_NIGHT, WEEKEND, SUNDAY_NIGHT, evening))
    rates.validate()
    moments = [msk(0, 0) + timedelta(minutes=20 * n) for n in range(7 * 72)]
    for window in rates.schedule:
        for day in window.days:
            for minute in (window.start_min, window.end_min):
                edge = msk(day, 0) + timedelta(minutes=minute)
                moments += [edge - timedelta(seconds=1), edge]
    for moment in moments:
        card = rate_card(STANDARD, "Стандарт", rates, moment, MSK)
        (now,) = [row for row in card.rows if row.now]
        for kind, rate in (("member", now.member_per_minute), ("guest", now.guest_per_minute)):
            first_second = price(rates, kind, 1, Discount(), Start(moment, MSK))
            assert first_second == -(-rate // 60), (moment, kind)


def test_the_words_are_in_the_screens_language() -> None:
    english = {
        "пн": "Mon",
        "пт": "Fri",
        "сб": "Sat",
        "вс": "Sun",
        "ежедневно": "daily",
        "в остальное время": "other times",
    }
    rates = Rates(1000, 1500, schedule=(NIGHT, WEEKEND, WORKDAY_EVENING))
    card = rate_card(STANDARD, "Стандарт", rates, msk(0, 13), MSK, lambda w: english.get(w, w))
    assert [row.when for row in card.rows] == [
        "daily 22:00–07:00",
        "Sat, Sun 10:00–14:00",
        "Mon–Fri 18:00–24:00",
        "other times",
    ]


# --- the tariffs on offer at the stand --------------------------------------------------------


def scheduled_directory(**changes: Any) -> dict[str, Any]:
    """The test directory with «Стандарт» (10/15 ₽ a minute) cheaper at night and dearer at
    weekends; «Экспресс» (20/30 ₽) has no schedule, «Старый» is not active."""
    doc = directory_doc(**{"staff": STAFF, **changes})
    standard = next(t for t in doc["tariffs"] if t["id"] == STANDARD)
    standard["versions"][0]["rates"]["schedule"] = schedule_to_json((NIGHT, WEEKEND))
    return doc


def test_the_cards_on_offer_are_the_active_tariffs_at_their_rates_in_force(
    store: Store, clock: FakeClock
) -> None:
    store.load_directory(validate_directory(scheduled_directory(version=VERSION + 1)), clock.now())
    cards = offered_rate_cards(store, msk(0, 23), MSK)
    assert [(c.name, [(r.when, r.member_per_minute, r.now) for r in c.rows]) for c in cards] == [
        (
            "Стандарт",  # not the version of 2100 at 99,99 ₽
            [
                ("ежедневно 22:00–07:00", 800, True),
                ("сб, вс 10:00–14:00", 1200, False),
                ("в остальное время", 1000, False),
            ],
        ),
        ("Экспресс", [("в любое время", 2000, True)]),  # «Старый» is not active
    ]


# --- the pages --------------------------------------------------------------------------------

RATES = re.compile(r'<div class="scroll rate-cards" id="rates">(.*?)</div>', re.S)
TARIFF = re.compile(
    r'<tbody[^>]*>\s*<tr class="tariff-name"><th[^>]*>([^<]*)</th>(.*?)</tbody>', re.S
)
ROW = re.compile(
    r'<tr( class="now" aria-current="time")?><td>([^<]*)(?: <strong class="now-mark">([^<]*)'
    r'</strong>)?</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td></tr>'
)


def rate_table(page: str) -> dict[str, list[tuple[str, str, str, str]]]:
    """The rate table of a page: per tariff name, its rows as (when, member, guest, mark),
    the mark being the "now" word on the row in force and "" elsewhere."""
    found = RATES.search(page)
    assert found, "no rate table on the page"
    table = {}
    for name, body in TARIFF.findall(found.group(1)):
        rows = []
        for now, when, mark, member, guest in ROW.findall(body):
            assert bool(now) == bool(mark)
            rows.append((when, member.replace("\xa0", " "), guest.replace("\xa0", " "), mark))
        table[name] = rows
    return table


@pytest.fixture
def app(store: Store, engine: Engine, clock: FakeClock, tmp_path: Path) -> Flask:
    store.load_directory(validate_directory(scheduled_directory(version=VERSION + 1)), clock.now())
    config = EdgeConfig(
        data_dir=tmp_path / "stand",
        stand_id=STAND_ID,
        site_id=SITE_ID,
        screen_idle_lock_s=IDLE_LOCK_S,
    )
    assert config.timezone == MSK
    return create_state_app(StandParts(config, store, engine, devices))


@pytest.fixture
def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert log_in(client).status_code == 302
    return client


AT_NIGHT = {
    "Стандарт": [
        ("ежедневно 22:00–07:00", "8,00 ₽", "12,00 ₽", "сейчас"),
        ("сб, вс 10:00–14:00", "12,00 ₽", "18,00 ₽", ""),
        ("в остальное время", "10,00 ₽", "15,00 ₽", ""),
    ],
    "Экспресс": [("в любое время", "20,00 ₽", "30,00 ₽", "сейчас")],
}


@pytest.mark.parametrize("path", [f"/clients/{IVAN}", "/guests/new"])
def test_the_client_and_guest_pages_show_the_rates_with_the_one_in_force_marked(
    signed_in: FlaskClient, clock: FakeClock, path: str
) -> None:
    clock.wall = msk(5, 12)  # Saturday noon
    page = signed_in.get(path).get_data(as_text=True)
    assert rate_table(page)["Стандарт"] == [
        ("ежедневно 22:00–07:00", "8,00 ₽", "12,00 ₽", ""),
        ("сб, вс 10:00–14:00", "12,00 ₽", "18,00 ₽", "сейчас"),
        ("в остальное время", "10,00 ₽", "15,00 ₽", ""),
    ]

    clock.wall = msk(5, 23, 30)  # the same Saturday, at night: the page follows the clock
    page = signed_in.get(path).get_data(as_text=True)
    assert rate_table(page) == AT_NIGHT


def test_a_refused_guest_form_still_shows_the_rates(
    signed_in: FlaskClient, clock: FakeClock
) -> None:
    clock.wall = msk(5, 23, 30)
    page = signed_in.get("/guests/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = signed_in.post("/guests/new", data={"csrf_token": token.group(1), "plate": "12"})
    assert response.status_code == 400
    assert rate_table(response.get_data(as_text=True)) == AT_NIGHT


def test_the_rates_are_in_english_when_chosen(signed_in: FlaskClient, clock: FakeClock) -> None:
    clock.wall = msk(0, 13)
    signed_in.get("/lang/en")
    page = signed_in.get(f"/clients/{IVAN}").get_data(as_text=True)
    assert rate_table(page)["Стандарт"] == [
        ("daily 22:00–07:00", "8,00 ₽", "12,00 ₽", ""),
        ("Sat, Sun 10:00–14:00", "12,00 ₽", "18,00 ₽", ""),
        ("other times", "10,00 ₽", "15,00 ₽", "now"),
    ]


def test_a_running_sessions_end_page_shows_the_rates_it_started_with_and_the_one_it_pays_now(
    signed_in: FlaskClient, engine: Engine, store: Store, clock: FakeClock
) -> None:
    clock.wall = msk(0, 21, 50)
    session = engine.start_session(IVAN, None, ATTENDANT_ID)  # «Стандарт», the stand's
    doc = scheduled_directory(version=VERSION + 2)
    standard = next(t for t in doc["tariffs"] if t["id"] == STANDARD)
    standard["versions"].append(  # new prices from 22:00: not for a session already running
        {"id": 15, "effective_from": "2024-06-10T19:00:00Z", "rates": rates(1200, 1800)}
    )
    store.load_directory(validate_directory(doc), clock.now())
    clock.advance(20 * 60)  # 22:10

    end_page = signed_in.get(f"/sessions/{session.uuid}/end").get_data(as_text=True)
    assert rate_table(end_page) == {"Стандарт": AT_NIGHT["Стандарт"]}
    guest_page = signed_in.get("/guests/new").get_data(as_text=True)
    assert rate_table(guest_page)["Стандарт"] == [("в любое время", "12,00 ₽", "18,00 ₽", "сейчас")]
