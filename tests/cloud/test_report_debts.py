"""The balances report: who owes, since when, the sessions since the balance was last
non-negative, and debts made by overlapping sessions at two stands (offline use) marked;
checked against running balances and overlaps worked out here from the entries created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.db import utcnow
from cloud.ledger.service import post_entry
from cloud.models import Client, Session, Stand
from cloud.standsync.standauth import provision_stand
from tests.cloud.charthelp import assert_chart_agrees
from tests.cloud.eventstream import T0, Stream
from tests.cloud.sessionrows import add_session
from tests.cloud.test_reports import money, page_table, read_csv
from tests.cloud.test_syncapi import headers


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, 5, hour, minute, tzinfo=UTC)


class Book:
    """Entries and sessions as they are made, to work the expected report out from."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, int | None, datetime]] = []  # client, amount, session
        self.sessions: dict[int, tuple[int, int, datetime, datetime]] = {}  # client, stand, times

    def topup(self, client, amount, when):
        post_entry(client, "topup", amount, method="cash", created_at=when)
        self.entries.append((client.id, amount, None, when))

    def session(self, client, stand, version, start, end, cost):
        session = add_session(
            client, stand, version, started_at=start, ended_at=end, cost_kopecks=cost
        )
        post_entry(client, "charge", -cost, session=session, site=stand.site, created_at=end)
        self.entries.append((client.id, -cost, session.id, end))
        self.sessions[session.id] = (client.id, stand.id, start, end)
        return session

    def expected(self):
        """{client: (balance, since, [session ids of the debt, newest first], {id: partner})}"""
        found = {}
        for client_id in {entry[0] for entry in self.entries}:
            balance, run = 0, []
            for cid, amount, session_id, when in self.entries:  # made in time order
                if cid != client_id:
                    continue
                balance += amount
                run = [] if balance >= 0 else [*run, (session_id, when)]
            if balance >= 0:
                continue
            ids = [sid for sid, _when in run if sid is not None]
            partners = {}
            for sid in ids:
                _c, stand, start, end = self.sessions[sid]
                for other, (c2, stand2, start2, end2) in sorted(self.sessions.items()):
                    if c2 == client_id and stand2 != stand and start2 < end and start < end2:
                        partners.setdefault(sid, other)
            found[client_id] = (balance, run[0][1], ids[::-1], partners)
        return found


@pytest.fixture
def book(world):
    version = world.tariff_version
    stand_a, stand_b = world.stand_a, world.stand_b
    stand_a2 = Stand.create(site=world.site_a, name="Пост 2")
    peter = Client.create(kind="member", name="Пётр Сидоров", home_site=world.site_a)
    book = Book()
    # Ivan: two stands at once, each allowed on 100 ₽; the second charge takes him below zero.
    book.topup(world.member, 10000, at(9))
    book.session(world.member, stand_a, version, at(10), at(10, 30), 8000)
    book.session(world.member, stand_b, version, at(10, 10), at(10, 40), 6000)
    # The guest pays at the end and has not yet: below zero from the start, a top-up short.
    book.session(world.guest, stand_a, version, at(9), at(9, 20), 3000)
    book.topup(world.guest, 1000, at(9, 30))
    book.session(world.guest, stand_a2, version, at(11), at(11, 10), 1500)
    # Peter was in debt, paid it off, and owes again: the old debt is not this one.
    book.session(peter, stand_a, version, at(8), at(8, 20), 2000)
    book.topup(peter, 5000, at(9))
    book.session(peter, stand_a, version, at(12), at(12, 40), 4000)
    book.session(peter, stand_a2, version, at(13), at(13, 10), 500)
    # Olga is in credit: not listed.
    book.topup(world.other_site_client, 5000, at(9))
    book.session(world.other_site_client, stand_b, version, at(14), at(14, 10), 3000)
    return book


def test_debts_and_their_sessions_match_the_ledger(book, world, client):
    expected = book.expected()
    assert set(expected) == {world.member.id, world.guest.id, Client.get(name="Пётр Сидоров").id}
    report = client.get("/api/v1/reports/debts", headers=world.bearer("operator")).get_json()
    assert report["debtors"] == len(expected)
    assert report["owed_kopecks"] == -sum(balance for balance, *_rest in expected.values())
    order = sorted(expected, key=lambda cid: (expected[cid][0], cid))
    assert [item["client_id"] for item in report["items"]] == order
    for item in report["items"]:
        balance, since, ids, partners = expected[item["client_id"]]
        assert item["balance_kopecks"] == balance
        assert item["since"] == since.isoformat().replace("+00:00", "Z")
        assert [s["session_id"] for s in item["sessions"]] == ids
        assert item["sessions_count"] == len(ids)
        assert {s["session_id"]: s["overlaps_with"] for s in item["sessions"]} == {
            sid: partners.get(sid) for sid in ids
        }
        assert item["two_stands"] == bool(partners)
    marked = [item["client_id"] for item in report["items"] if item["two_stands"]]
    assert marked == [world.member.id]  # Ivan's two stands, and only his


def test_debts_page_marks_two_stands_and_its_csv_lists_the_sessions(book, world, as_role):
    expected = book.expected()
    browser = as_role("administrator")
    html = browser.get("/reports/debts").get_data(as_text=True)
    table = page_table(html)
    order = sorted(expected, key=lambda cid: (expected[cid][0], cid))
    assert [row[1] for row in table] == [money(expected[cid][0]) for cid in order]
    assert "два поста офлайн" in table[0][0] and all("два поста" not in r[0] for r in table[1:])
    chart = assert_chart_agrees(html, "debts-chart")
    assert chart["values"] == [-expected[cid][0] for cid in order]  # what is owed, drawn
    assert chart["kind"] == "bars" and chart["unit"] == "money"

    rows = read_csv(browser.get("/reports/debts.csv"))
    assert rows[0][0] == "Клиент №"
    per_session = [(int(r[0]), int(r[3]), int(r[7]), r[12]) for r in rows[1:]]
    assert per_session == [
        (cid, expected[cid][0], sid, str(expected[cid][3].get(sid, "")))
        for cid in order
        for sid in expected[cid][2]
    ]


def test_nobody_owes(world, as_role):
    html = as_role("owner").get("/reports/debts").get_data(as_text=True)
    assert "Никто не должен." in html


def test_offline_sessions_at_two_stands_synced_later_are_marked(world, client):
    """The whole way: two stands each start Ivan's session on his 100 ₽ (neither knows of the
    other's), both end and push their events through the sync API; the ledger goes below zero
    and the report marks the debt."""
    post_entry(world.member, "topup", 10000, method="cash", created_at=T0 - timedelta(hours=1))
    tokens = {}
    for site, stand in ((world.site_a, world.stand_a), (world.site_b, world.stand_b)):
        code = provision_stand(site, stand.name, utcnow()).code
        tokens[stand.id] = client.post("/sync/v1/enrol", json={"code": code}).get_json()["token"]
    a, b = Stream(world.stand_a.id), Stream(world.stand_b.id)
    b.wait(300)
    uuid_a, start_a = a.started(world.member.id, world.tariff_version.id)
    uuid_b, start_b = b.started(world.member.id, world.tariff_version.id)
    a.wait(1800)
    b.wait(1800)
    batches = {
        world.stand_a.id: (a, [start_a, a.ended(uuid_a, 1800, 8000)]),
        world.stand_b.id: (b, [start_b, b.ended(uuid_b, 1800, 6000)]),
    }
    for stand_id, (stream, events) in batches.items():
        response = client.post(
            "/sync/v1/events",
            headers=headers(tokens[stand_id], stream.clock),
            json={"events": events},
        )
        assert response.status_code == 200, response.get_json()

    first = Session.get(Session.uuid == uuid_a)
    second = Session.get(Session.uuid == uuid_b)
    report = client.get("/api/v1/reports/debts", headers=world.bearer("owner")).get_json()
    [debt] = report["items"]
    assert (debt["client_id"], debt["balance_kopecks"]) == (world.member.id, 10000 - 8000 - 6000)
    assert debt["two_stands"] is True
    assert [(s["session_id"], s["overlaps_with"]) for s in debt["sessions"]] == [
        (second.id, first.id)
    ]
