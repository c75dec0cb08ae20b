"""Attendants' shifts centrally (cloud/shifts/): stored from the stands' shift events, each
shift's report computed from the ledger; the Shifts page with its filters and CSV, the API,
a shift open for more than a day flagged (page, API, Diagnostics), bad shift events refused
with nothing stored. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.integrity.checks import run_checks
from cloud.models import LedgerEntry, Shift, Stand, StandEvent
from cloud.shifts import service
from cloud.standsync.ingest import StandClock, apply_batch
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream, new_uuid


def push(world: World, stream: Stream, events: list[dict[str, Any]]) -> Any:
    now = utcnow()
    at = StandClock(now=now, stand_time=now, boot_id=new_uuid(), mono_ms=1)
    return apply_batch(Stand.get_by_id(stream.stand_id), events, at)


def topup(stream: Stream, world: World, amount: int, method: str, actor: str) -> dict[str, Any]:
    payload = {
        "topup_uuid": new_uuid(),
        "client_id": world.member.id,
        "client_uuid": None,
        "amount_kopecks": amount,
        "method": method,
    }
    stream.wait(60)
    return stream.event("topup.recorded", payload, actor)


def opened(stream: Stream, cash: Any, actor: str, shift_uuid: str | None = None) -> dict[str, Any]:
    payload = {"shift_uuid": shift_uuid or new_uuid(), "cash_kopecks": cash}
    stream.wait(60)
    return stream.event("shift.opened", payload, actor)


def closed(stream: Stream, shift_uuid: str, counted: Any, actor: str) -> dict[str, Any]:
    stream.wait(60)
    return stream.event(
        "shift.closed", {"shift_uuid": shift_uuid, "counted_kopecks": counted}, actor
    )


def ledger_of(shift: Shift) -> dict[str, int]:
    """What the ledger says the shift took, by another road: the attendant's top-up entries
    whose stand event lies between the shift's two events, summed per method here."""
    sums: dict[str, int] = {}
    entries = (
        LedgerEntry.select(LedgerEntry.method, LedgerEntry.amount_kopecks)
        .join(StandEvent, on=(LedgerEntry.event == StandEvent.id))
        .where(
            (LedgerEntry.kind == "topup")
            & (LedgerEntry.created_by == shift.user_id)
            & (StandEvent.stand == shift.stand_id)
            & (StandEvent.seq > shift.opened_seq)
            & (StandEvent.seq < (shift.closed_seq or 2**62))
        )
        .tuples()
    )
    for method, amount in entries:
        sums[method] = sums.get(method, 0) + amount
    return sums


@pytest.fixture
def stream(world: World) -> Stream:
    return Stream(world.stand_a.id, start=utcnow() - timedelta(hours=3))


def recent() -> Any:
    """The last five weeks (the tests' events are hours or days old, whatever the month)."""
    today = utcnow().date()
    days = {"from": str(today - timedelta(days=35)), "to": str(today + timedelta(days=1))}
    return service.filter_from(days, "Europe/Moscow", utcnow()).period


def report(world: World, **filters: Any) -> list[service.ShiftReport]:
    wanted = service.ShiftFilter(period=recent(), **filters)
    return service.shifts_for(world.users["owner"], wanted, utcnow())


def test_shift_totals_equal_the_ledger(world: World, stream: Stream) -> None:
    anna, oleg = str(world.users["attendant"].id), str(world.users["operator"].id)
    shift_uuid = new_uuid()
    amounts = [("cash", 50_000), ("card", 30_000), ("cash", 12_345), ("transfer", 7_000)]
    amounts += [("card", 1_50), ("cash", 99_900)]
    events = [topup(stream, world, 11_111, "cash", anna)]  # before the shift: outside it
    events.append(opened(stream, 200_000, anna, shift_uuid))
    for method, amount in amounts:
        events.append(topup(stream, world, amount, method, anna))
        events.append(topup(stream, world, 5_000, "cash", oleg))  # another's: not this shift
    events.append(closed(stream, shift_uuid, 360_000, anna))
    events.append(topup(stream, world, 22_222, "cash", anna))  # after it: outside

    assert push(world, stream, events).acked_seq == len(events)

    (row,) = report(world)
    shift = Shift.get(Shift.uuid == shift_uuid)
    ledger = ledger_of(shift)
    t = row.totals
    assert (t.cash_kopecks, t.card_kopecks, t.transfer_kopecks) == (
        ledger["cash"],
        ledger["card"],
        ledger["transfer"],
    )
    assert (t.cash_kopecks, t.card_kopecks, t.transfer_kopecks) == (162_245, 30_150, 7_000)
    assert t.topups == len(amounts)
    assert t.expected_kopecks == 200_000 + 162_245
    assert (t.counted_kopecks, t.difference_kopecks) == (360_000, 360_000 - 362_245)
    assert row.attendant == world.users["attendant"].full_name
    outside = service.outside_shifts(world.users["owner"], service.ShiftFilter(period=recent()))
    assert outside.amount_kopecks == 11_111 + 22_222 + 6 * 5_000


def test_a_shift_synced_in_two_batches_later_reports_the_same(world: World, stream: Stream) -> None:
    anna = str(world.users["attendant"].id)
    shift_uuid = new_uuid()
    first = [opened(stream, 10_000, anna, shift_uuid), topup(stream, world, 40_000, "cash", anna)]
    second = [topup(stream, world, 25_000, "card", anna), closed(stream, shift_uuid, 50_000, anna)]

    push(world, stream, first)
    (open_row,) = report(world)
    assert open_row.closed_at is None and open_row.totals.cash_kopecks == 40_000
    assert not open_row.stale
    push(world, stream, second)
    push(world, stream, first + second)  # a resend: acknowledged again, nothing twice

    (row,) = report(world)
    assert row.totals.to_dict() == {
        "opening_kopecks": 10_000,
        "cash_kopecks": 40_000,
        "card_kopecks": 25_000,
        "transfer_kopecks": 0,
        "topups": 2,
        "expected_kopecks": 50_000,
        "counted_kopecks": 50_000,
        "difference_kopecks": 0,
    }
    assert Shift.select().count() == 1


def test_a_shift_open_for_more_than_a_day_is_flagged(
    world: World, as_role: Any, client: FlaskClient
) -> None:
    anna = str(world.users["attendant"].id)
    old = Stream(world.stand_a.id, start=utcnow() - timedelta(days=2))
    push(world, old, [opened(old, 0, anna)])
    (shift,) = Shift.select()

    (row,) = report(world, status="stale")
    assert row.stale and row.id == shift.id
    results = {r.code: r for r in run_checks(utcnow())}
    assert not results["stale_shifts"].ok
    assert results["stale_shifts"].violations[0].objects["shift"] == [shift.id]

    page = as_role("operator").get("/shifts?status=stale").get_data(as_text=True)
    assert f'data-shift="{shift.id}" data-stale="1"' in page
    answer = client.get("/api/v1/shifts?status=stale", headers=world.bearer("operator"))
    assert answer.status_code == 200
    assert [item["stale"] for item in answer.get_json()["items"]] == [True]


@pytest.mark.parametrize(
    ("cash", "words"), [(-100, "не меньше 0"), ("100", "целое число"), (10**9, "не больше")]
)
def test_a_bad_shift_event_is_refused_and_nothing_is_stored(
    world: World, stream: Stream, cash: Any, words: str
) -> None:
    result = push(world, stream, [opened(stream, cash, str(world.users["attendant"].id))])

    assert result.acked_seq == 0
    assert result.refused is not None and result.refused.code == "bad_event"
    assert words in result.refused.message
    assert Shift.select().count() == StandEvent.select().count() == 0


def test_a_closing_of_an_unknown_shift_is_stored_and_flagged_not_refused(
    world: World, stream: Stream
) -> None:
    result = push(
        world, stream, [closed(stream, new_uuid(), 100, str(world.users["attendant"].id))]
    )
    assert result.acked_seq == 1
    assert StandEvent.get().flag == "unknown_shift"
    assert Shift.select().count() == 0


def test_the_shifts_page_filters_and_exports_csv(
    world: World, stream: Stream, as_role: Any
) -> None:
    anna = str(world.users["attendant"].id)
    shift_uuid = new_uuid()
    push(
        world,
        stream,
        [
            opened(stream, 100_000, anna, shift_uuid),
            topup(stream, world, 50_000, "cash", anna),
            closed(stream, shift_uuid, 149_000, anna),
        ],
    )
    browser = as_role("operator")
    days = f"from={recent().first}&to={recent().last}"

    page = browser.get(f"/shifts?{days}").get_data(as_text=True)
    assert "1\xa0500,00\xa0₽" in page and "-10,00\xa0₽" in page  # expected, difference
    other_site = browser.get(f"/shifts?{days}&site_id={world.site_b.id}").get_data(as_text=True)
    assert "data-shift=" not in other_site
    by_staff = browser.get(f"/shifts?{days}&staff_id={world.users['operator'].id}")
    assert "data-shift=" not in by_staff.get_data(as_text=True)
    csv = browser.get(f"/shifts/export.csv?{days}&stand_id={world.stand_a.id}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 2
    assert lines[1].split(";")[6:11] == ["1000,00", "500,00", "1500,00", "1490,00", "-10,00"]


@pytest.mark.parametrize(
    "query", ["site_id=abc", "stand_id=-1", "from=2026-13-01", "status=lost", "staff_id=1.5"]
)
def test_bad_filters_are_refused_with_a_message(world: World, as_role: Any, query: str) -> None:
    before = Shift.select().count()
    page = as_role("operator").get(f"/shifts?{query}")
    assert page.status_code == 400
    assert 'class="flash flash-error"' in page.get_data(as_text=True)
    api = as_role("operator").get(f"/shifts/export.csv?{query}")
    assert api.status_code == 400
    assert Shift.select().count() == before


def test_a_period_ending_before_it_starts_is_422_in_the_api(
    world: World, client: FlaskClient
) -> None:
    answer = client.get(
        "/api/v1/shifts?from=2026-03-10&to=2026-03-01", headers=world.bearer("owner")
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["message"]


def test_attendants_may_not_see_the_shifts_page(world: World, as_role: Any) -> None:
    assert as_role("attendant").get("/shifts").status_code == 403


def test_the_shift_join_uses_the_ledger_not_a_copy(world: World, stream: Stream) -> None:
    """A top-up held over a ceiling is not in the ledger, so not in the shift, until released."""
    anna = str(world.users["attendant"].id)
    shift_uuid = new_uuid()
    push(
        world,
        stream,
        [opened(stream, 0, anna, shift_uuid), topup(stream, world, 1_000, "cash", anna)],
    )
    LedgerEntry.delete().where(LedgerEntry.kind == "topup").execute()  # as if held
    (row,) = report(world)
    assert row.totals.cash_kopecks == 0
