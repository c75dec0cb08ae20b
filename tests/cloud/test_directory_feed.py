"""The directory down to stands: ``GET /sync/v1/directory`` walks everything from cursor 0 in
pages, then answers what changed since the cursor; every change a stand's copy needs moves the
cursor and arrives in the next page."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.catalog import tariffs
from cloud.changes import changes_after, current_position, ids_between, record_change
from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.clock import app_now
from cloud.db import db_proxy, utcnow
from cloud.ledger import service as ledger
from cloud.migrations import latest_version, upgrade
from cloud.models import Client, Credential, DirectoryChange, LedgerEntry, Stand
from cloud.staff import service as staffbook
from cloud.standsync.feed import WALK_MARK
from cloud.standsync.ingest import StandClock, apply_batch
from cloud.standsync.standauth import provision_stand, revoke
from sync.directorypage import DirectoryPage, validate_directory_page
from sync.document import format_utc
from sync.pricing import Rates
from tests.cloud import schema_v1
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.freshdb import bound, empty_database_url

SYNC = "/sync/v1"
RATES = Rates(
    member_per_minute=1000, guest_per_minute=1500, step_s=60, min_charge=0, cap=None, grace_s=0
)


def enrolled(client: FlaskClient, world: World) -> str:
    return enrolled_stand(client, world, world.stand_a.name)


def enrolled_stand(client: FlaskClient, world: World, name: str) -> str:
    """The token of the site's stand ``name``, provisioned (again) and enrolled."""
    code = provision_stand(world.site_a, name, utcnow()).code
    response = client.post(f"{SYNC}/enrol", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["token"])


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Stand-Clock": format_utc(utcnow())}


class StandCopy:
    """What a stand keeps: its cursor and a copy built from the pages, applied as the page's
    docstring says (sync/directory.py)."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token
        self.cursor = 0
        self.clients: dict[int, Any] = {}
        self.credentials: dict[tuple[str, str], Any] = {}
        self.tariffs: dict[int, Any] = {}
        self.staff: dict[int, Any] = {}
        self.revoked: set[str] = set()
        self.pages: list[DirectoryPage] = []
        self.bodies: list[bytes] = []

    def fetch(self, limit: int | None = None) -> DirectoryPage:
        query = f"cursor={self.cursor}" + (f"&limit={limit}" if limit else "")
        response = self.client.get(f"{SYNC}/directory?{query}", headers=headers(self.token))
        assert response.status_code == 200, response.get_json()
        page = validate_directory_page(response.get_json())
        if self.cursor == 0 and page.reset:
            self.clients, self.credentials, self.tariffs, self.staff = {}, {}, {}, {}
            self.revoked = set()
        for client_id in page.tombstones.clients:
            self.clients.pop(client_id, None)
        for key in page.tombstones.credentials:
            self.credentials.pop((key.kind, key.value), None)
        for tariff_id in page.tombstones.tariffs:
            self.tariffs.pop(tariff_id, None)
        for staff_id in page.tombstones.staff:
            self.staff.pop(staff_id, None)
        self.tariffs.update({t.id: t for t in page.tariffs})
        self.clients.update({c.id: c for c in page.clients})
        self.credentials.update({(c.kind, c.value): c for c in page.credentials})
        self.staff.update({s.id: s for s in page.staff})
        self.revoked |= set(page.revoked_qr_token_ids)
        for credential in page.credentials:
            assert credential.client_id in self.clients, "a credential came before its client"
        self.cursor = page.cursor
        self.pages.append(page)
        self.bodies.append(response.get_data())
        return page

    def sync(self, limit: int | None = None) -> list[DirectoryPage]:
        """Pages until ``more`` is false."""
        pages = [self.fetch(limit)]
        while pages[-1].more:
            pages.append(self.fetch(limit))
        return pages


@pytest.fixture
def stand(client: FlaskClient, world: World) -> StandCopy:
    copy = StandCopy(client, enrolled(client, world))
    copy.sync()
    return copy


def test_a_full_walk_in_small_pages_gives_every_client_once(
    client: FlaskClient, world: World
) -> None:
    for number in range(23):
        clientbook.create_client(
            None, kind="guest", plates=[f"А{number:03d}АА77"], site_id=world.site_a.id
        )
    copy = StandCopy(client, enrolled(client, world))

    pages = copy.sync(limit=5)

    assert len(pages) > 5
    assert all(page.reset for page in pages)
    assert [page.more for page in pages] == [True] * (len(pages) - 1) + [False]
    assert all(page.cursor >= WALK_MARK for page in pages[:-1])
    assert pages[-1].cursor < WALK_MARK
    sent = [c.id for page in pages for c in page.clients]
    live = [c.id for c in Client.select().where(Client.deleted_at.is_null()).order_by(Client.id)]
    assert sorted(sent) == live  # each exactly once
    assert len(copy.credentials) == Credential.select().count()
    assert copy.credentials[("card", "04A1B2C3D4E5F6")].client_id == world.member.id
    assert {t.id for t in copy.tariffs.values()} == {world.tariff.id}
    assert pages[-1].site_id == world.site_a.id and pages[-1].stand_id == world.stand_a.id


def test_the_walk_matches_the_exported_directory(
    app: Flask, client: FlaskClient, world: World, stand: StandCopy
) -> None:
    from cloud.standsync.directory import build_directory

    document = build_directory(world.site_a.id, app.config["AQ"], app_now())
    assert sorted(c["id"] for c in document["clients"]) == sorted(stand.clients)
    assert sorted(s["id"] for s in document["staff"]) == sorted(stand.staff)
    assert len(document["credentials"]) == len(stand.credentials)
    assert stand.pages[-1].default_tariff_id == document["default_tariff_id"]


def test_an_up_to_date_poll_is_empty_and_tiny(stand: StandCopy) -> None:
    cursor = stand.cursor

    page = stand.fetch()

    assert page.cursor == cursor and not page.more and not page.reset
    assert page.clients == page.credentials == page.tariffs == page.staff == ()
    assert page.tombstones.clients == page.tombstones.credentials == ()
    assert len(stand.bodies[-1]) < 1000


def test_a_block_reaches_the_stand_in_the_next_poll(world: World, stand: StandCopy) -> None:
    clientbook.set_blocked(world.users["operator"], world.member, True, "долг")

    page = stand.fetch()

    assert [c.id for c in page.clients] == [world.member.id]
    assert page.clients[0].blocked is True
    assert page.cursor > 0


def test_an_unlinked_card_is_a_tombstone(world: World, stand: StandCopy) -> None:
    card = Credential.get(Credential.value == "04A1B2C3D4E5F6")
    client_credentials.unlink_credential(world.users["operator"], world.member, card.id)

    page = stand.fetch()

    assert [(k.kind, k.value) for k in page.tombstones.credentials] == [("card", "04A1B2C3D4E5F6")]
    assert ("card", "04A1B2C3D4E5F6") not in stand.credentials


def test_a_top_up_brings_the_balance_and_its_ledger_position(
    world: World, stand: StandCopy
) -> None:
    entry = ledger.record_topup(world.users["attendant"], world.member, 50_000, "cash")

    page = stand.fetch()

    (member,) = page.clients
    assert (member.id, member.balance_kopecks, member.ledger_position) == (
        world.member.id,
        50_000,
        entry.id,
    )


def test_a_change_between_pages_of_a_walk_is_delivered_afterwards(
    client: FlaskClient, world: World
) -> None:
    for number in range(12):
        clientbook.create_client(None, kind="member", name=f"Клиент {number}")
    copy = StandCopy(client, enrolled(client, world))
    page = copy.fetch(limit=4)
    while world.member.id not in {c.id for c in page.clients}:
        page = copy.fetch(limit=4)
    assert page.more and page.reset

    clientbook.set_blocked(None, world.member, True)
    ledger.record_topup(None, world.member, 1000, "card")
    copy.sync(limit=4)
    copy.sync()

    assert copy.clients[world.member.id].blocked is True
    assert copy.clients[world.member.id].balance_kopecks == 1000


def test_attendants_of_another_site_are_not_in_the_staff(world: World, stand: StandCopy) -> None:
    other = staffbook.create_staff(
        name="Чужой аквастендист",
        phone="+79000000099",
        role="attendant",
        password=PASSWORD,
        pin="999999",
        site_ids=[world.site_b.id],
    )

    page = stand.fetch()

    assert other.id not in {s.id for s in page.staff}
    assert other.id not in stand.staff
    assert world.users["attendant"].id in stand.staff
    assert world.users["owner"].id in stand.staff


def test_a_revoked_stand_is_refused(world: World, stand: StandCopy) -> None:
    revoke(Stand.get_by_id(world.stand_a.id), utcnow())

    response = stand.client.get(f"{SYNC}/directory?cursor=0", headers=headers(stand.token))

    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


def test_no_token_or_no_clock_is_refused(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    assert client.get(f"{SYNC}/directory").status_code == 401
    no_clock = client.get(f"{SYNC}/directory", headers={"Authorization": f"Bearer {token}"})
    assert no_clock.status_code == 400
    assert no_clock.get_json()["error"]["code"] == "clock_required"


@pytest.mark.parametrize(
    "query", ["cursor=-1", "cursor=abc", "limit=0", "limit=5001", "cursor=99999999999999999999"]
)
def test_a_bad_cursor_or_limit_is_refused_with_a_message(
    client: FlaskClient, world: World, query: str
) -> None:
    token = enrolled(client, world)

    response = client.get(f"{SYNC}/directory?{query}", headers=headers(token))

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] in {"bad_cursor", "bad_limit"}
    assert "целое число" in error["message"]


def test_an_unknown_cursor_makes_the_stand_start_over(world: World, stand: StandCopy) -> None:
    stand.cursor += 1000

    page = stand.fetch()

    assert (page.cursor, page.reset, page.more) == (0, True, True)
    walk = stand.sync()
    assert walk[0].reset and world.member.id in stand.clients


def test_a_stand_batch_that_registers_a_guest_and_tops_up_reaches_the_copy(
    world: World, stand: StandCopy
) -> None:
    stream = Stream(world.stand_a.id)
    client_uuid = new_uuid()
    guest = stream.event(
        "guest.registered", {"client_uuid": client_uuid, "plate": "К555КК77"}, actor="card"
    )
    topup = stream.topup(None, 30_000, str(world.users["attendant"].id), client_uuid=client_uuid)
    response = stand.client.post(
        f"{SYNC}/events", json={"events": [guest, topup]}, headers=headers(stand.token)
    )
    assert response.status_code == 200, response.get_json()

    stand.fetch()

    registered = Client.get(Client.uuid == client_uuid)
    assert stand.clients[registered.id].balance_kopecks == 30_000
    assert stand.credentials[("plate", "К555КК77")].client_id == registered.id


def test_a_client_carries_every_uuid_stands_registered_it_under(
    world: World, stand: StandCopy
) -> None:
    # Two stands register the same car offline: the second registration is the first guest.
    first_uuid, second_uuid = new_uuid(), new_uuid()
    for client_uuid in (first_uuid, second_uuid):
        stream = Stream(world.stand_a.id if client_uuid == first_uuid else world.stand_b.id)
        event = stream.event("guest.registered", {"client_uuid": client_uuid, "plate": "К555КК77"})
        stand_row = Stand.get_by_id(stream.stand_id)
        result = apply_batch(stand_row, [event], StandClock(now=utcnow(), stand_time=utcnow()))
        assert result.acked_seq == 1

        page = stand.fetch()

    guest = Client.get(Client.uuid == first_uuid)
    assert [c.uuids for c in page.clients if c.id == guest.id] == [(first_uuid, second_uuid)]
    assert Client.select().where(Client.kind == "guest").count() == 2  # the world's and this one
    walk = StandCopy(stand.client, stand.token)
    walk.sync()
    assert walk.clients[guest.id].uuids == (first_uuid, second_uuid)
    assert walk.clients[world.member.id].uuids == ()


def test_pending_commands_travel_with_every_poll(world: World, stand: StandCopy) -> None:
    from cloud.standsync.commands import request_end

    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stand.client.post(f"{SYNC}/events", json={"events": [started]}, headers=headers(stand.token))
    session = __import__("cloud.models", fromlist=["Session"]).Session.get(uuid=session_uuid)
    request_end(world.users["operator"], session.id, "забыли")

    first, second = stand.fetch(), stand.fetch()

    for page in (first, second):
        assert [(c.type, c.session_uuid, c.comment) for c in page.commands] == [
            ("end_session", session_uuid, "забыли")
        ]


def _operations(
    world: World, app: Flask
) -> list[tuple[str, Callable[[], Any], Callable[[DirectoryPage], bool]]]:
    operator, owner = world.users["operator"], world.users["owner"]
    config = app.config["AQ"]
    member = world.member
    made: dict[str, Any] = {}

    def card() -> Credential:
        return Credential.get(
            (Credential.value == "04A1B2C3D4E5F6") & Credential.unlinked_at.is_null()
        )

    def upsert_client(client_id: Callable[[], int]) -> Callable[[DirectoryPage], bool]:
        return lambda page: client_id() in {c.id for c in page.clients}

    def has_credential(kind: str, value: str) -> Callable[[DirectoryPage], bool]:
        return lambda page: (kind, value) in {(c.kind, c.value) for c in page.credentials}

    def dead_credential(kind: str, value: str) -> Callable[[DirectoryPage], bool]:
        return lambda page: (
            (kind, value) in {(k.kind, k.value) for k in page.tombstones.credentials}
        )

    def tariff_in(page: DirectoryPage) -> bool:
        return bool(page.tariffs)

    def new_client() -> None:
        made["client"] = clientbook.create_client(
            operator, kind="member", name="Новый", site_id=world.site_a.id
        )

    def issue() -> None:
        made["qr_old"] = Credential.get(
            (Credential.client == member.id) & (Credential.kind == "qr")
        ).value
        client_credentials.issue_qr(operator, member, config)

    def new_tariff() -> None:
        made["tariff"] = tariffs.create_tariff(owner, name="Экспресс", rates=RATES, now=utcnow())

    def new_staff() -> None:
        made["staff"] = staffbook.create_staff(
            name="Новый оператор",
            phone="+79000000077",
            role="operator",
            password=PASSWORD,
            pin="555555",
            actor=owner,
        )

    staff_id = lambda: made["staff"].id  # noqa: E731
    in_staff = lambda page: staff_id() in {s.id for s in page.staff}  # noqa: E731
    staff_dead = lambda page: staff_id() in page.tombstones.staff  # noqa: E731
    member_id = lambda: member.id  # noqa: E731
    return [
        ("create client", new_client, upsert_client(lambda: made["client"].id)),
        (
            "update client",
            lambda: clientbook.update_client(operator, member, name="Иван П."),
            lambda p: p.clients[0].name == "Иван П.",
        ),
        (
            "block",
            lambda: clientbook.set_blocked(operator, member, True),
            lambda p: p.clients[0].blocked,
        ),
        (
            "unblock",
            lambda: clientbook.set_blocked(operator, member, False),
            lambda p: not p.clients[0].blocked,
        ),
        (
            "link card",
            lambda: client_credentials.link_card(operator, member, "0102030405060708090A"),
            has_credential("card", "0102030405060708090A"),
        ),
        (
            "link plate",
            lambda: client_credentials.link_plate(operator, member, "В456ОР99"),
            has_credential("plate", "В456ОР99"),
        ),
        (
            "lost card",
            lambda: client_credentials.mark_card_lost(operator, member, card().id),
            lambda p: p.credentials[0].lost,
        ),
        (
            "unlink card",
            lambda: client_credentials.unlink_credential(operator, member, card().id),
            dead_credential("card", "04A1B2C3D4E5F6"),
        ),
        (
            "first QR",
            lambda: client_credentials.issue_qr(operator, member, config),
            lambda p: p.credentials[0].kind == "qr",
        ),
        (
            "reissue QR",
            issue,
            lambda p: (
                made["qr_old"] in p.revoked_qr_token_ids
                and dead_credential("qr", made["qr_old"])(p)
            ),
        ),
        (
            "promote guest",
            lambda: clientbook.promote_to_member(operator, world.guest, name="Бывший гость"),
            lambda p: p.clients[0].kind == "member",
        ),
        (
            "top-up",
            lambda: ledger.record_topup(operator, member, 10_000, "cash"),
            upsert_client(member_id),
        ),
        (
            "adjustment",
            lambda: ledger.adjust_balance(owner, member, -500, "ошибка"),
            lambda p: p.clients[0].balance_kopecks == 9_500,
        ),
        (
            "delete client",
            lambda: clientbook.delete_client(owner, made["client"]),
            lambda p: made["client"].id in p.tombstones.clients,
        ),
        ("create tariff", new_tariff, tariff_in),
        (
            "new version",
            lambda: tariffs.add_version(
                owner, made["tariff"], RATES, utcnow() + timedelta(days=1), utcnow()
            ),
            lambda p: len(p.tariffs[0].versions) == 2,
        ),
        (
            "rename tariff",
            lambda: tariffs.rename_tariff(made["tariff"], "Экспресс+"),
            lambda p: p.tariffs[0].name == "Экспресс+",
        ),
        (
            "tariff off",
            lambda: tariffs.set_active(made["tariff"], False),
            lambda p: not p.tariffs[0].active,
        ),
        ("create staff", new_staff, in_staff),
        ("change PIN", lambda: staffbook.change_pin(owner, made["staff"], "666666"), in_staff),
        (
            "make attendant elsewhere",
            lambda: staffbook.update_staff(
                owner,
                made["staff"],
                staffbook.StaffChanges(role="attendant", site_ids=[world.site_b.id]),
            ),
            staff_dead,
        ),
        (
            "assign to the site",
            lambda: staffbook.update_staff(
                owner, made["staff"], staffbook.StaffChanges(site_ids=[world.site_a.id])
            ),
            in_staff,
        ),
        (
            "deactivate",
            lambda: staffbook.update_staff(
                owner, made["staff"], staffbook.StaffChanges(active=False)
            ),
            staff_dead,
        ),
        (
            "activate",
            lambda: staffbook.update_staff(
                owner, made["staff"], staffbook.StaffChanges(active=True)
            ),
            in_staff,
        ),
        ("delete staff", lambda: staffbook.delete_staff(owner, made["staff"]), staff_dead),
    ]


def test_every_directory_change_moves_the_cursor_and_arrives_in_the_next_page(
    app: Flask, world: World, stand: StandCopy
) -> None:
    for name, operation, arrived in _operations(world, app):
        before = stand.cursor
        operation()
        page = stand.fetch()
        assert page.cursor > before, name
        assert arrived(page), (name, page)
        assert not page.more, name
        idle = stand.fetch()
        assert idle.cursor == page.cursor and not idle.clients and not idle.tombstones.staff, name


def test_a_ledger_entry_out_of_the_books_is_still_in_the_copy_after_a_walk(
    client: FlaskClient, world: World, stand: StandCopy
) -> None:
    """Rows written around the service functions (bulk loads) are adopted by the next walk."""
    bulk = Client.create(kind="member", name="Из загрузки")
    stand.cursor = 0

    stand.sync()

    assert bulk.id in stand.clients
    assert LedgerEntry.select().count() == 0


def test_record_change_outside_a_transaction_is_a_programming_error(app: Flask) -> None:
    with pytest.raises(RuntimeError):
        record_change("client", [1])
    with db_proxy.atomic(), pytest.raises(ValueError):
        record_change("session", [1])


def test_migration_3_gives_every_existing_row_a_change_entry(
    database_url: str, tmp_path: Path
) -> None:
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        database.create_tables(schema_v1.ALL_MODELS)
        schema_v1.SchemaVersion.create(version=1)
        tariff = schema_v1.Tariff.create(name="Стандарт")
        client = schema_v1.Client.create(kind="member", name="Иван")
        card = schema_v1.Credential.create(client=client, kind="card", value="04A1B2C3")
        user = schema_v1.User.create(full_name="Анна", phone="+79000000001", role="owner")

        assert upgrade(database) == (1, latest_version())

        entries = {(c.entity, c.entity_id) for c in changes_after(0, 100)}
        assert entries == {
            ("tariff", tariff.id),
            ("client", client.id),
            ("credential", card.id),
            ("staff", user.id),
            ("details", client.id),
        }
        # 5 entries, and on SQLite the client moved once more by migration 21 (details by
        # site) in the upgrade's transaction (on PostgreSQL an entry moves once a transaction)
        assert current_position() == (5 if isinstance(database, pw.PostgresqlDatabase) else 6)


def test_a_large_page_is_gzipped_when_the_stand_accepts_it(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)

    plain = client.get(f"{SYNC}/directory", headers=headers(token))
    zipped = client.get(f"{SYNC}/directory", headers={**headers(token), "Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.get_data()) < len(plain.get_data())
    page = validate_directory_page(json.loads(gzip.decompress(zipped.get_data())))
    assert world.member.id in {c.id for c in page.clients}


def test_positions_follow_the_order_writers_commit_in_and_a_poll_between_misses_nothing(
    app: Flask, world: World, stand: StandCopy
) -> None:
    """Two writers of directory rows, the first holding its transaction open. On PostgreSQL
    the second does not wait for it (positions are handed out at commit): it commits first and
    its change comes first; a stand polling between the two commits gets it, and the first
    writer's change at its next poll. On SQLite the second waits for the database's one writer
    and the changes come in the order written."""
    database = app.extensions["aquastand_db"]
    postgresql = isinstance(database, pw.PostgresqlDatabase)
    recorded, release = threading.Event(), threading.Event()
    done: list[str] = []

    def writer(name: str, client_id: int, hold: bool) -> None:
        try:
            with db_proxy.atomic():  # the change recorded by the triggers, not by a call
                Client.update(blocked=True).where(Client.id == client_id).execute()
                if hold:
                    recorded.set()
                    release.wait(10)
            done.append(name)
        finally:
            database.close()

    first = threading.Thread(target=writer, args=("first", world.member.id, True))
    first.start()
    assert recorded.wait(10)
    second = threading.Thread(target=writer, args=("second", world.guest.id, False))
    second.start()
    second.join(2 if postgresql else 0.5)
    waited = second.is_alive()
    between = stand.fetch().clients if postgresql and not waited else []
    release.set()
    first.join(10)
    second.join(10)

    if postgresql:
        assert not waited, "the second writer waited for the first's uncommitted transaction"
        assert done == ["second", "first"]
        assert [c.id for c in between] == [world.guest.id]
        assert [c.id for c in stand.fetch().clients] == [world.member.id]
    else:
        assert waited, "the second writer wrote while the first held the database"
        assert done == ["first", "second"]
        page = stand.fetch()
        assert [c.id for c in page.clients] == [world.member.id, world.guest.id]
    assert DirectoryChange.select().where(DirectoryChange.position < 0).count() == 0


def test_a_stand_that_polls_late_gets_the_latest_entries_not_those_read_for_others(
    app: Flask, client: FlaskClient, world: World, stand: StandCopy
) -> None:
    """Entries are read once per change and process (ClientEntryCache): one stand polling after
    every operation fills the cache with each intermediate entry, and another polling only at
    the end must still get what a walk from scratch gives."""
    from cloud.standsync.directory import client_entries, for_site

    late = StandCopy(client, enrolled_stand(client, world, "Пост 7"))
    late.sync()
    for _name, operation, _arrived in _operations(world, app):
        operation()
        stand.sync()
    late.sync()
    fresh = StandCopy(client, enrolled_stand(client, world, "Пост 8"))
    fresh.sync()

    # read around the cache, with the details the site's stands may have
    in_database = {c.id: c for c in for_site(world.site_a.id, client_entries())}
    assert late.clients == stand.clients == fresh.clients == in_database
    assert late.credentials == stand.credentials == fresh.credentials
    assert late.staff == stand.staff == fresh.staff
    assert late.tariffs == stand.tariffs == fresh.tariffs


def test_a_position_handed_out_again_after_a_restore_is_read_afresh(
    world: World, stand: StandCopy
) -> None:
    """A database restored from a backup hands out positions again: the same position and
    client with another change must not be answered from what was read before the restore."""
    ledger.record_topup(world.users["attendant"], world.member, 10_000, "cash")
    before = stand.cursor
    assert stand.fetch().clients[0].name == world.member.name  # read, and kept
    of_member = (DirectoryChange.entity == "client") & (
        DirectoryChange.entity_id == world.member.id
    )
    change = DirectoryChange.get(of_member)
    Client.update(name="После восстановления").where(Client.id == world.member.id).execute()
    later = change.changed_at + timedelta(seconds=1)
    DirectoryChange.update(changed_at=later).where(of_member).execute()
    stand.cursor = before

    (member,) = stand.fetch().clients

    assert member.name == "После восстановления"


def test_client_texts_are_spliced_into_the_page_intact(
    client: FlaskClient, world: World, stand: StandCopy
) -> None:
    """The page's clients go in as cached JSON texts where a marker stands (_page_json): quotes,
    brackets and Cyrillic in a name come back as they were."""
    odd = Client.create(kind="member", name='"Ёж" \\ [1], {"clients": []}', home_site=world.site_a)
    stand.cursor = 0

    stand.sync()

    assert stand.clients[odd.id].name == '"Ёж" \\ [1], {"clients": []}'
    assert stand.clients[world.member.id].name == world.member.name
    assert "Ёж".encode() in stand.bodies[-1]  # UTF-8, not \u escapes


def test_the_cache_keeps_at_most_its_capacity(app: Flask, world: World) -> None:
    from cloud.standsync.feed import ClientEntryCache

    for number in range(4):
        clientbook.create_client(None, kind="member", name=f"Клиент {number}")
    window = [c for c in changes_after(0, 100) if c.entity == "client"]
    cache = ClientEntryCache(capacity=2)

    read = cache.entries(window, ids_between("client", 0, current_position()))

    assert sorted(entry.id for entry, *_texts in read) == sorted(c.entity_id for c in window)
    assert len(cache) == 2
    again = cache.entries(window[-2:], ids_between("client", 0, current_position()))
    assert [json.loads(text)["id"] for _entry, text, _bare in again] == [
        c.entity_id for c in window[-2:]
    ]
