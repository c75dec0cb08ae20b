"""Corporate accounts: the flag, drivers, card daily limits (down to the stands, and flagged
centrally when a card went over), sessions per card and plate, the monthly statement, and the
client card's counters, phones and default tariff. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import current_app

from cloud.clients import corporate
from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.clock import Clock, FixedClock, app_now
from cloud.ledger.service import post_entry
from cloud.models import (
    Client,
    ClientDriver,
    Comment,
    Credential,
    LedgerEntry,
    Session,
    Stand,
    StandEvent,
)
from cloud.standsync.directory import client_entries
from cloud.standsync.feed import directory_page
from cloud.standsync.ingest import StandClock, apply_batch
from sync.directorypage import validate_directory_page
from sync.money import format_kopecks
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import T0, Stream

CARD = "04A1B2C3D4E5F6"  # the member's card in World
PLATE = "А123ВС77"  # the member's plate in World
SECOND_CARD = "0A0B0C0D"
LIMIT = 15_000
MIDDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
AFTER_MIDNIGHT = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)  # 00:30 in Moscow, still 1 March in UTC
# "Today" is the service's (Moscow) day of the app's clock: tests that look at today's spend
# pin the clock, also just after midnight, where the day in Moscow and in UTC differ.
PINNED_CLOCK = pytest.mark.parametrize(
    "clock", [MIDDAY, AFTER_MIDNIGHT], ids=["midday", "00:30 Moscow"], indirect=True
)


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _card(value: str = CARD) -> Credential:
    return Credential.get((Credential.value == value) & Credential.unlinked_at.is_null())


@pytest.fixture
def account(world: World) -> Client:
    """The member as a corporate account with a second card and a 150 ₽ limit on the first."""
    clientbook.update_client(None, world.member, corporate=True)
    client_credentials.link_card(None, world.member, SECOND_CARD)
    corporate.set_card_limit(None, world.member, _card().id, LIMIT)
    return Client.get_by_id(world.member.id)


# --- the corporate flag, phones, default tariff -------------------------------------------------


def test_an_operator_marks_a_client_corporate_on_the_edit_form(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    path = f"/clients/{world.member.id}/edit"
    form = {"name": "ООО Ромашка", "phones": "+79161234567", "corporate": "yes"}

    assert post_form(browser, path, form).status_code == 302

    assert Client.get_by_id(world.member.id).corporate is True
    page = _text(browser.get(f"/clients/{world.member.id}"))
    assert "Корпоративный" in page
    unmarked = {"name": "ООО Ромашка", "phones": "+79161234567"}
    assert post_form(browser, path, unmarked).status_code == 302
    assert Client.get_by_id(world.member.id).corporate is False


def test_the_api_sets_the_corporate_flag_and_an_attendant_may_not(
    world: World, client: Any
) -> None:
    path = f"/api/v1/clients/{world.member.id}"

    changed = client.patch(path, json={"corporate": True}, headers=world.bearer("operator"))
    refused = client.patch(path, json={"corporate": False}, headers=world.bearer("attendant"))
    bad = client.patch(path, json={"corporate": "yes"}, headers=world.bearer("operator"))

    assert changed.status_code == 200 and changed.get_json()["corporate"] is True
    assert refused.status_code == 403 and bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid"
    assert Client.get_by_id(world.member.id).corporate is True


def test_several_phones_are_added_and_removed_on_the_form(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    path = f"/clients/{world.member.id}/edit"
    three = "+79161234567\n8 903 111-22-33, +7 (905) 444-55-66"

    post_form(browser, path, {"name": "Иван Петров", "phones": three})
    assert clientbook.phones_of(world.member) == ["+79161234567", "+79031112233", "+79054445566"]
    post_form(browser, path, {"name": "Иван Петров", "phones": "+79054445566"})

    assert clientbook.phones_of(world.member) == ["+79054445566"]
    assert "+79054445566" in _text(browser.get(f"/clients/{world.member.id}"))


def test_several_phones_are_added_and_removed_over_the_api(world: World, client: Any) -> None:
    path = f"/api/v1/clients/{world.member.id}"
    headers = world.bearer("operator")
    phones = ["+79161234567", "89031112233", "+79054445566"]

    added = client.patch(path, json={"phones": phones}, headers=headers).get_json()
    removed = client.patch(path, json={"phones": ["+79031112233"]}, headers=headers).get_json()
    refused = client.patch(path, json={"phones": ["12"]}, headers=headers)

    assert added["phones"] == ["+79161234567", "+79031112233", "+79054445566"]
    assert removed["phones"] == ["+79031112233"]
    assert refused.status_code == 400
    assert clientbook.phones_of(world.member) == ["+79031112233"]


def test_a_default_tariff_set_on_the_client_travels_to_the_stands(
    as_role: Any, world: World
) -> None:
    browser = as_role("operator")
    form = {"name": "Иван Петров", "default_tariff_id": str(world.tariff.id)}

    assert post_form(browser, f"/clients/{world.member.id}/edit", form).status_code == 302

    (entry,) = client_entries([world.member.id])
    assert entry.default_tariff_id == world.tariff.id
    assert "Стандарт" in _text(browser.get(f"/clients/{world.member.id}"))


# --- drivers ----------------------------------------------------------------------------------


def test_drivers_are_added_with_and_without_a_card_and_removed(
    as_role: Any, world: World, account: Client
) -> None:
    browser = as_role("operator")
    base = f"/clients/{account.id}"

    with_card = {"name": "Сергей Водителев", "card_id": str(_card().id)}
    assert post_form(browser, f"{base}/drivers", with_card).status_code == 302
    assert post_form(browser, f"{base}/drivers", {"name": "Ольга Рулева"}).status_code == 302

    drivers = {d.name: d.card_id for d in corporate.drivers_of(account)}
    assert drivers == {"Сергей Водителев": _card().id, "Ольга Рулева": None}
    page = _text(browser.get(f"{base}/account"))
    assert "Сергей Водителев" in page and "Ольга Рулева" in page
    olga = ClientDriver.get(ClientDriver.name == "Ольга Рулева")
    assert post_form(browser, f"{base}/drivers/{olga.id}/remove", {}).status_code == 302
    assert [d.name for d in corporate.drivers_of(account)] == ["Сергей Водителев"]


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"name": "  "}, 400, "Укажите имя водителя"),
        ({"name": "Х" * 201}, 400, "не длиннее 200"),
        ({"name": "Чужой", "card_id": "other"}, 404, "Карта не найдена"),
        ({"name": "Чужой", "card_id": "abc"}, 400, "Карта не найдена"),
    ],
)
def test_a_bad_driver_is_refused_and_nothing_is_stored(
    as_role: Any, world: World, account: Client, form: dict[str, str], status: int, message: str
) -> None:
    if form.get("card_id") == "other":
        other = Credential.get(Credential.client == world.other_site_client.id)
        form = {**form, "card_id": str(other.id)}

    response = post_form(as_role("operator"), f"/clients/{account.id}/drivers", form)

    assert response.status_code == status and message in _text(response)
    assert ClientDriver.select().count() == 0


def test_a_private_client_has_no_drivers(as_role: Any, world: World) -> None:
    response = post_form(as_role("operator"), f"/clients/{world.member.id}/drivers", {"name": "Я"})

    assert response.status_code == 409 and "корпоративного" in _text(response)
    assert ClientDriver.select().count() == 0


def test_drivers_over_the_api(world: World, client: Any, account: Client) -> None:
    path = f"/api/v1/clients/{account.id}/drivers"
    headers = world.bearer("operator")

    made = client.post(path, json={"name": "Сергей", "card_id": _card().id}, headers=headers)
    refused = client.post(path, json={"name": "Сергей"}, headers=world.bearer("attendant"))
    gone = client.delete(f"{path}/{made.get_json()['id']}", headers=headers)
    missing = client.delete(f"{path}/{made.get_json()['id']}", headers=headers)

    assert made.status_code == 201 and made.get_json()["card"] == CARD
    assert refused.status_code == 403
    assert gone.status_code == 204 and missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "driver_not_found"


# --- card limits --------------------------------------------------------------------------------


def test_a_card_limit_is_set_in_roubles_and_cleared_on_the_account_page(
    as_role: Any, world: World, account: Client
) -> None:
    browser = as_role("operator")
    path = f"/clients/{account.id}/cards/{_card(SECOND_CARD).id}/limit"

    assert post_form(browser, path, {"limit": "1 200,50"}).status_code == 302
    assert _card(SECOND_CARD).daily_limit_kopecks == 120_050
    bad = post_form(browser, path, {"limit": "много"})
    assert bad.status_code == 400 and "Некорректная сумма" in _text(bad)
    assert _card(SECOND_CARD).daily_limit_kopecks == 120_050
    assert post_form(browser, path, {"limit": ""}).status_code == 302
    assert _card(SECOND_CARD).daily_limit_kopecks is None
    assert as_role("attendant").post(path, data={"limit": "1"}).status_code in (400, 403)


def test_a_card_limit_over_the_api_refuses_plates_and_bad_amounts(
    world: World, client: Any, account: Client
) -> None:
    headers = world.bearer("operator")
    base = f"/api/v1/clients/{account.id}/cards"
    plate = Credential.get(Credential.value == PLATE)

    done = client.put(
        f"{base}/{_card().id}/limit", json={"daily_limit_kopecks": 900}, headers=headers
    )
    zero = client.put(
        f"{base}/{_card().id}/limit", json={"daily_limit_kopecks": 0}, headers=headers
    )
    on_plate = client.put(
        f"{base}/{plate.id}/limit", json={"daily_limit_kopecks": 9}, headers=headers
    )

    assert done.status_code == 200 and done.get_json()["daily_limit_kopecks"] == 900
    assert zero.status_code == 400 and zero.get_json()["error"]["code"] == "bad_limit"
    assert on_plate.status_code == 404
    assert _card().daily_limit_kopecks == 900


def test_a_new_card_limit_reaches_the_stands_in_the_next_directory_page(
    world: World, account: Client
) -> None:
    stand = Stand.get_by_id(world.stand_a.id)
    config = current_app.config["AQ"]
    walk = validate_directory_page(json.loads(directory_page(stand, 0, 5000, config, app_now())))
    limits = {c.value: c.daily_limit_kopecks for c in walk.credentials}
    assert limits[CARD] == LIMIT and limits[SECOND_CARD] is None

    corporate.set_card_limit(None, account, _card(SECOND_CARD).id, 70_000)

    page = validate_directory_page(
        json.loads(directory_page(stand, walk.cursor, 5000, config, app_now()))
    )
    assert [(c.value, c.daily_limit_kopecks) for c in page.credentials] == [(SECOND_CARD, 70_000)]


# --- sessions from the stands: the credential, and the central flag ------------------------------


def _started(stream: Stream, world: World, kind: str, value: str) -> tuple[str, dict[str, Any]]:
    session_uuid, event = stream.started(world.member.id, world.tariff_version.id)
    event["payload"].update(credential_kind=kind, credential_value=value)
    return session_uuid, event


def _push(stand_id: int, stream: Stream, events: list[dict[str, Any]]) -> None:
    at = StandClock(
        now=stream.clock, stand_time=stream.clock, boot_id=stream.boot_id, mono_ms=stream.mono_ms
    )
    result = apply_batch(Stand.get_by_id(stand_id), events, at)
    assert result.refused is None, result.refused


def _wash(stream: Stream, world: World, kind: str, value: str, minutes: int) -> list[Any]:
    """A session's start and end events (10 ₽ a minute), ``minutes`` long."""
    session_uuid, started = _started(stream, world, kind, value)
    stream.wait(minutes * 60)
    ended = stream.ended(session_uuid, minutes * 60, minutes * 1000)
    stream.wait(60)
    return [started, ended]


def test_a_session_keeps_the_card_or_plate_it_was_started_with(world: World) -> None:
    stream = Stream(world.stand_a.id)

    _push(world.stand_a.id, stream, _wash(stream, world, "plate", PLATE, 5))

    session = Session.get()
    assert (session.credential_kind, session.credential_value) == ("plate", PLATE)
    assert session.over_daily_limit is False


def test_the_central_service_flags_the_session_that_took_a_card_over_its_limit_across_stands(
    world: World, account: Client
) -> None:
    stream_a, stream_b = Stream(world.stand_a.id), Stream(world.stand_b.id, T0 + timedelta(hours=2))
    next_day = Stream(world.stand_a.id)

    _push(world.stand_a.id, stream_a, _wash(stream_a, world, "card", CARD, 10))  # 100 ₽
    _push(world.stand_b.id, stream_b, _wash(stream_b, world, "card", CARD, 6))  # +60 ₽: 160 ₽
    next_day.seq = stream_a.seq
    next_day.clock = T0 + timedelta(days=1)
    _push(world.stand_a.id, next_day, _wash(next_day, world, "card", CARD, 10))

    flags = [
        (s.stand_id, s.cost_kopecks, s.over_daily_limit)
        for s in Session.select().order_by(Session.ended_at)
    ]
    assert flags == [
        (world.stand_a.id, 10_000, False),
        (world.stand_b.id, 6_000, True),
        (world.stand_a.id, 10_000, False),
    ]
    flagged = StandEvent.get(StandEvent.flag == corporate.OVER_LIMIT_FLAG)
    assert flagged.type == "session.ended" and flagged.stand_id == world.stand_b.id
    assert "16000" in flagged.flag_note and "15000" in flagged.flag_note
    assert Client.get_by_id(account.id).balance_kopecks == -26_000  # charged in full


def test_a_session_that_arrives_late_flags_the_later_one_it_pushed_over(
    world: World, account: Client
) -> None:
    early, late = Stream(world.stand_a.id), Stream(world.stand_b.id, T0 + timedelta(hours=1))
    early_events = _wash(early, world, "card", CARD, 10)  # ended first, offline until later

    _push(world.stand_b.id, late, _wash(late, world, "card", CARD, 6))
    assert Session.get().over_daily_limit is False
    _push(world.stand_a.id, early, early_events)

    flags = {s.stand_id: s.over_daily_limit for s in Session.select()}
    assert flags == {world.stand_a.id: False, world.stand_b.id: True}


# --- the account page ---------------------------------------------------------------------------


@PINNED_CLOCK
def test_the_account_page_lists_cards_with_limits_and_today_and_sessions_per_card_and_plate(
    as_role: Any, world: World, account: Client, clock: Clock
) -> None:
    # The three washes take 22 minutes and end before the clock's moment, all on its day.
    stream = Stream(world.stand_a.id, clock.now() - timedelta(minutes=25))
    _push(world.stand_a.id, stream, _wash(stream, world, "card", CARD, 12))
    _push(world.stand_a.id, stream, _wash(stream, world, "plate", PLATE, 3))
    _push(world.stand_a.id, stream, _wash(stream, world, "plate", PLATE, 4))
    ClientDriver.create(client=account, name="Сергей Водителев", card=_card())

    response = as_role("attendant").get(f"/clients/{account.id}/account")

    assert response.status_code == 200
    page = _text(response)
    groups = re.findall(r'data-kind="(\w*)" data-value="([^"]*)"', page)
    assert groups == [("card", CARD), ("plate", PLATE)]
    card_row = page.split(f'data-card="{CARD}"')[1].split("</tr>")[0]
    assert "150,00" in card_row and "120,00" in card_row and "Сергей Водителев" in card_row
    plate_part = page.split(f'data-value="{PLATE}"')[1].split("</article>")[0]
    assert "Сессий: 2" in plate_part and "70,00" in plate_part
    api = as_role("operator")
    data = api.get(f"/api/v1/clients/{account.id}/account", headers=world.bearer("operator"))
    body = data.get_json()
    assert {(g["credential_kind"], g["sessions"], g["cost_kopecks"]) for g in body["groups"]} == {
        ("card", 1, 12_000),
        ("plate", 2, 7_000),
    }
    cards = {c["uid"]: c for c in body["cards"]}
    assert cards[CARD]["spent_today_kopecks"] == 12_000 and not cards[CARD]["limit_reached"]
    assert cards[CARD]["drivers"] == ["Сергей Водителев"]
    assert cards[SECOND_CARD]["daily_limit_kopecks"] is None


@pytest.mark.parametrize(
    "clock", [AFTER_MIDNIGHT - timedelta(minutes=40)], ids=["23:50 Moscow"], indirect=True
)
def test_todays_spend_on_the_account_starts_afresh_at_midnight_in_moscow(
    world: World, client: Any, account: Client, clock: FixedClock
) -> None:
    stream = Stream(world.stand_a.id, clock.now() - timedelta(minutes=20))  # 23:50 − 20 min
    _push(world.stand_a.id, stream, _wash(stream, world, "card", CARD, 12))
    path = f"/api/v1/clients/{account.id}/account"

    def spent_today() -> int:
        body = client.get(path, headers=world.bearer("operator")).get_json()
        return int({c["uid"]: c for c in body["cards"]}[CARD]["spent_today_kopecks"])

    before_midnight = spent_today()
    clock.set(AFTER_MIDNIGHT)  # 00:30 in Moscow: a new day there, the same one in UTC
    after_midnight = spent_today()

    assert (before_midnight, after_midnight) == (12_000, 0)


# --- the monthly statement ----------------------------------------------------------------------


def _session_charge(
    world: World, kind: str | None, value: str | None, at: datetime, cost: int
) -> None:
    session = Session.create(
        client=world.member,
        stand=world.stand_a,
        site=world.site_a,
        tariff_version=world.tariff_version,
        client_kind="member",
        started_at=at - timedelta(minutes=cost // 1000),
        ended_at=at,
        duration_s=cost // 1000 * 60,
        cost_kopecks=cost,
        start_method="card" if kind else "screen",
        credential_kind=kind,
        credential_value=value,
    )
    post_entry(world.member, "charge", -cost, session=session, created_at=at)


def test_the_monthly_statement_adds_up_page_csv_and_api(
    as_role: Any, world: World, client: Any, account: Client
) -> None:
    # March 2026 in Moscow runs from 28 Feb 21:00 UTC to 31 Mar 21:00 UTC.
    before = datetime(2026, 2, 28, 20, 59, tzinfo=UTC)  # still February in Moscow
    inside = datetime(2026, 2, 28, 21, 1, tzinfo=UTC)  # 1 March, 00:01 in Moscow
    after = datetime(2026, 3, 31, 21, 0, tzinfo=UTC)  # 1 April, 00:00 in Moscow
    post_entry(world.member, "topup", 50_000, method="cash", created_at=before)
    _session_charge(world, "card", CARD, before, 3_000)
    post_entry(world.member, "topup", 100_000, method="transfer", created_at=inside)
    post_entry(world.member, "topup", 20_000, method="card", created_at=inside + timedelta(days=9))
    _session_charge(world, "card", CARD, inside + timedelta(days=1), 12_000)
    _session_charge(world, "card", CARD, inside + timedelta(days=2), 8_000)
    _session_charge(world, "card", SECOND_CARD, inside + timedelta(days=3), 5_000)
    _session_charge(world, "plate", PLATE, inside + timedelta(days=4), 7_000)
    _session_charge(world, None, None, inside + timedelta(days=5), 6_000)
    post_entry(world.member, "adjustment", -1_500, reason="мойка ковриков", created_at=inside)
    _session_charge(world, "card", CARD, after, 9_000)
    entries = list(LedgerEntry.select())
    opening = sum(e.amount_kopecks for e in entries if e.created_at < inside)
    closing = sum(e.amount_kopecks for e in entries if e.created_at < after)
    topups = sum(
        e.amount_kopecks for e in entries if e.kind == "topup" and inside <= e.created_at < after
    )

    api = client.get(
        f"/api/v1/clients/{account.id}/statement?month=2026-03", headers=world.bearer("operator")
    ).get_json()

    assert (api["opening_balance_kopecks"], api["closing_balance_kopecks"]) == (opening, closing)
    assert (opening, topups, closing) == (47_000, 120_000, 120_000 + 47_000 - 38_000 - 1_500)
    assert api["topups_kopecks"] == topups and api["other_kopecks"] == -1_500
    lines = {(s["credential_kind"], s["credential_value"]): s for s in api["sessions"]}
    assert {key: (s["sessions"], s["charged_kopecks"]) for key, s in lines.items()} == {
        ("card", CARD): (2, 20_000),
        ("card", SECOND_CARD): (1, 5_000),
        ("plate", PLATE): (1, 7_000),
        (None, None): (1, 6_000),
    }
    assert opening + api["topups_kopecks"] - api["charged_kopecks"] - 1_500 == closing

    browser = as_role("operator")
    page = _text(browser.get(f"/clients/{account.id}/statement?month=2026-03"))
    for row_id, amount in (("opening", opening), ("topups", topups), ("closing", closing)):
        assert format_kopecks(amount) in page.split(f'id="{row_id}"')[1].split("</tr>")[0]
    download = browser.get(f"/clients/{account.id}/statement.csv?month=2026-03")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(
        csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    kopecks = [int(row[-1]) for row in rows[1:]]
    assert kopecks[0] == opening and kopecks[-1] == closing
    assert sum(kopecks[1:-1]) == closing - opening
    assert [row[1] for row in rows[3:7]] == ["2", "1", "1", "1"]


def test_a_bad_month_is_refused_and_an_attendant_gets_no_statement(
    as_role: Any, world: World, account: Client
) -> None:
    browser = as_role("operator")

    bad = browser.get(f"/clients/{account.id}/statement?month=2026-13")

    assert bad.status_code == 400 and "2024-03" in _text(bad)
    assert browser.get(f"/clients/{account.id}/statement.csv?month=март").status_code == 400
    assert as_role("attendant").get(f"/clients/{account.id}/statement").status_code == 403


# --- counters on the client card ----------------------------------------------------------------


def test_the_client_card_counts_sessions_time_money_visits_and_comments(
    as_role: Any, world: World, client: Any
) -> None:
    stream = Stream(world.stand_a.id)
    _push(world.stand_a.id, stream, _wash(stream, world, "card", CARD, 10))
    _push(world.stand_a.id, stream, _wash(stream, world, "plate", PLATE, 5))
    last_start = stream.clock
    _started_uuid, started = _started(stream, world, "card", CARD)
    _push(world.stand_a.id, stream, [started])  # still running: a visit, no money yet
    Comment.create(client=world.member, text="Жалоба: плохо смыта пена")
    Comment.create(client=world.member, text="Просит чек")

    data = client.get(f"/api/v1/clients/{world.member.id}", headers=world.bearer("operator"))

    counters = data.get_json()["counters"]
    assert counters == {
        "sessions": 3,
        "total_duration_s": 15 * 60,
        "total_spent_kopecks": 15_000,
        "last_visit_at": last_start.isoformat().replace("+00:00", "Z"),
        "registered_at": counters["registered_at"],
        "comments": 2,
    }
    assert counters["registered_at"].startswith(str(world.member.created_at.year))
    page = _text(as_role("attendant").get(f"/clients/{world.member.id}"))
    assert 'data-counter="sessions">3<' in page and 'data-counter="comments">2<' in page
    assert "150,00" in page.split('data-counter="total_spent_kopecks">')[1][:40]
    listed = client.get("/api/v1/clients?q=Иван", headers=world.bearer("operator")).get_json()
    assert listed["items"][0]["counters"]["sessions"] == 3


@PINNED_CLOCK
def test_a_card_passed_on_to_another_client_starts_its_day_afresh_for_them(
    world: World, account: Client, clock: Clock
) -> None:
    stream = Stream(world.stand_a.id, clock.now() - timedelta(minutes=20))
    _push(world.stand_a.id, stream, _wash(stream, world, "card", CARD, 16))  # 160 ₽, over
    assert Session.get().over_daily_limit is True
    client_credentials.unlink_credential(None, account, _card().id)
    newcomer = world.other_site_client
    clientbook.update_client(None, newcomer, corporate=True)
    card = client_credentials.link_card(None, newcomer, CARD)
    corporate.set_card_limit(None, newcomer, card.id, LIMIT)

    rows = corporate.card_rows(newcomer, clock.now(), "Europe/Moscow")

    assert [(r.credential.value, r.spent_today_kopecks, r.limit_reached) for r in rows] == [
        (CARD, 0, False)
    ]


def test_the_account_and_statement_pages_speak_english_when_chosen(
    as_role: Any, world: World, account: Client
) -> None:
    browser = as_role("operator")
    browser.get("/lang/en")

    account_page = _text(browser.get(f"/clients/{account.id}/account"))
    statement_page = _text(browser.get(f"/clients/{account.id}/statement"))

    assert "Drivers" in account_page and "Cards and daily limits" in account_page
    assert "Водители" not in account_page
    assert "Balance at the start of the month" in statement_page
