"""No directory change can be forgotten: every column the directory reads, written behind the
services' back (a plain ``Model.update()``), moves the cursor and reaches the stand in the next
page (cloud/changetriggers.py).

The columns are not listed here: SQLite's authorizer reports each column the directory builder
(``build_directory``) reads, so a column it starts reading is changed here by itself, and fails
if nothing tracks it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import peewee as pw
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import changetriggers, create_app
from cloud.catalog import tariffs
from cloud.changes import CLIENT, CREDENTIAL, DETAILS, current_position
from cloud.db import db_proxy, is_postgresql, release, utcnow
from cloud.ledger import service as ledger
from cloud.migrations import upgrade
from cloud.models import (
    ALL_MODELS,
    BaseModel,
    Client,
    Credential,
    DirectoryChange,
    LedgerEntry,
    Stand,
    Tariff,
    User,
)
from cloud.models.core import ScheduleField
from cloud.staff import service as staffbook
from cloud.standsync.directory import build_directory
from cloud.standsync.ingest import StandClock, apply_batch
from sync.schedule import Window
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.test_directory_feed import RATES, enrolled, headers

# A page names a directory row by these: what a change of the row must show up as.
SECTIONS: dict[type[BaseModel], str] = {
    Client: "clients",
    Credential: "credentials",
    Tariff: "tariffs",
    User: "staff",
}


def write_every_table(world: World) -> None:
    """Rows beyond the world's, so every table the directory reads has one to change, the
    newest of each being one the site's directory holds."""
    ledger.record_topup(None, world.member, 10_000, "cash")
    tariffs.create_tariff(world.users["owner"], name="Экспресс", rates=RATES, now=utcnow())
    staffbook.create_staff(
        name="Аквастендист с Гагарина",
        phone="+79000000088",
        role="attendant",
        password=PASSWORD,
        pin="888888",
        site_ids=[world.site_b.id],
    )
    stream = Stream(world.stand_a.id)
    # A session open at a stand (the stands learn where the client washes), then a
    # registration: the newest stand event, whose changes the directory follows.
    _uuid, washing = stream.started(world.member.id, world.tariff_version.id)
    guest = stream.event("guest.registered", {"client_uuid": new_uuid(), "plate": "К555КК77"})
    stand = Stand.get_by_id(world.stand_a.id)
    assert apply_batch(stand, [washing, guest], StandClock(utcnow(), utcnow())).acked_seq == 2


@pytest.fixture(scope="module")
def read_columns(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    """(table, column) of everything ``build_directory`` reads, on a database of every kind
    of row."""
    path = tmp_path_factory.mktemp("reads")
    app = create_app(
        data_dir=path / "data", database_url=f"sqlite:///{path / 'reads.sqlite3'}", secret_key="k"
    )
    database = app.extensions["aquastand_db"]
    upgrade(database)
    reads: set[tuple[str, str]] = set()

    def authorise(action: int, table: str | None, column: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and table and column:
            reads.add((table, column))
        return sqlite3.SQLITE_OK

    with app.app_context():
        world = World()
        write_every_table(world)
        database.close()  # a new connection: no statement prepared before the authorizer
        database.connection().set_authorizer(authorise)
        build_directory(world.site_a.id, app.config["AQ"], utcnow())
        database.connection().set_authorizer(None)
    release(database)
    return reads


def content_columns(reads: set[tuple[str, str]]) -> list[pw.Field]:
    """The fields behind ``reads``, but for row ids (a row's identity, not its content), the
    site whose directory it is, and the owner's loyalty settings (read afresh into every page's
    head, not tracked as changes: tests/cloud/test_loyalty_settings.py)."""
    models = {model._meta.table_name: model for model in ALL_MODELS}
    fields = []
    for table, column in sorted(reads):
        if table in ("site", "loyalty_setting"):
            continue
        field = models[table]._meta.columns[column]
        if not field.primary_key:
            fields.append(field)
    return fields


def _bumped(text: str) -> str:
    """Another text of the same length (the column's limit), the last character changed."""
    if not text:
        return "1"
    return text[:-1] + ("1" if text[-1] == "0" else "0")


def other_values(field: pw.Field, old: Any) -> Iterator[Any]:
    """Values to change ``field`` to from ``old``, tried in turn (a unique index may refuse)."""
    if isinstance(field, pw.ForeignKeyField):
        target = field.rel_model
        yield from (i for (i,) in target.select(target.id).order_by(target.id).tuples() if i != old)
        if field.null and old is not None:
            yield None
    elif isinstance(field, pw.BooleanField):
        yield not old
    elif isinstance(field, pw.IntegerField):  # BigIntegerField too
        yield 1 if old is None else old + 1
    elif isinstance(field, pw.DateTimeField):
        yield utcnow() if old is None else old + timedelta(days=1)
    elif isinstance(field, ScheduleField):  # a tariff version's schedule (before TextField)
        yield () if old else (Window((0,), 0, 60, 1, 1),)
    elif isinstance(field, pw.CharField | pw.TextField):
        yield _bumped(old or "")
    else:
        raise AssertionError(f"no other value for {field} of type {type(field).__name__}")


def names(model: type[BaseModel], row_id: int, field: pw.Field) -> set[tuple[str, Any]]:
    """What a page may name the row's change by: the row itself if it is a directory row, else
    the directory rows it refers to (a phone: its client; a version: its tariff)."""
    row = model.select().where(model.id == row_id).dicts().get()
    found: set[tuple[str, Any]] = set()
    if model is Credential:
        found.add(("credentials", (row["kind"], row["value"])))
    elif model in SECTIONS:
        found.add((SECTIONS[model], row_id))
    for fk in model._meta.refs:
        if fk.rel_model in SECTIONS and row[fk.name] is not None:
            if fk.rel_model is Credential:
                card = Credential.get_by_id(row[fk.name])
                found.add(("credentials", (card.kind, card.value)))
            else:
                found.add((SECTIONS[fk.rel_model], row[fk.name]))
    return found


def named_in(page: dict[str, Any]) -> set[tuple[str, Any]]:
    named: set[tuple[str, Any]] = set()
    for section in ("clients", "tariffs", "staff"):
        named |= {(section, item["id"]) for item in page["upserts"][section]}
        named |= {(section, item_id) for item_id in page["tombstones"][section]}
    for item in page["upserts"]["credentials"] + page["tombstones"]["credentials"]:
        named.add(("credentials", (item["kind"], item["value"])))
    return named


class RawStand:
    """A stand's cursor over the raw pages (the values written here need not be valid ones)."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.token, self.cursor = client, token, 0

    def fetch(self) -> dict[str, Any]:
        response = self.client.get(
            f"/sync/v1/directory?cursor={self.cursor}", headers=headers(self.token)
        )
        assert response.status_code == 200, response.get_json()
        page: dict[str, Any] = response.get_json()
        self.cursor = page["cursor"]
        return page

    def sync(self) -> None:
        while self.fetch()["more"]:
            pass


def test_the_directory_reads_columns_of_every_kind_of_directory_row(
    read_columns: set[tuple[str, str]],
) -> None:
    """The walk below changes what the builder reads: it must at least see the obvious ones."""
    tables = {field.model._meta.table_name for field in content_columns(read_columns)}
    assert {"client", "client_phone", "credential", "tariff", "tariff_version", "user"} <= tables
    assert {"ledger_entry", "stand_event", "user_site", "session"} <= tables


def change(
    stand: RawStand, model: type[BaseModel], row_id: int, field: pw.Field, values: Iterator[Any]
) -> str | None:
    """Write the first of ``values`` that the database takes into the row with a plain
    ``Model.update()``; what is wrong with the next page (None: nothing)."""
    before = stand.cursor
    for value in values:
        try:
            with db_proxy.atomic():
                model.update({field: value}).where(model.id == row_id).execute()
        except pw.IntegrityError:
            continue
        break
    else:
        return "no value the database takes"
    page = stand.fetch()
    if page["cursor"] <= before:
        return "the cursor did not move"
    if not names(model, row_id, field) & named_in(page):
        return f"the page names none of {sorted(names(model, row_id, field))}"
    return None


def test_a_change_of_any_column_the_directory_reads_reaches_the_stand_in_the_next_page(
    app: Flask, client: FlaskClient, world: World, read_columns: set[tuple[str, str]]
) -> None:
    write_every_table(world)
    stand = RawStand(client, enrolled(client, world))
    stand.sync()
    untracked = []

    for field in content_columns(read_columns):
        model = field.model
        row_id = model.select(model.id).order_by(model.id.desc()).scalar()
        old = getattr(
            model.get_by_id(row_id),
            field.name if not isinstance(field, pw.ForeignKeyField) else field.object_id_name,
        )
        for step, values in (("changed", other_values(field, old)), ("restored", iter([old]))):
            wrong = change(stand, model, row_id, field, values)
            if wrong:
                untracked.append(f"{model._meta.table_name}.{field.column_name} {step}: {wrong}")

    assert not untracked, "\n".join(untracked)


def entries(entity: str) -> dict[int, int]:
    """The position of every entry of ``entity`` by row id."""
    query = DirectoryChange.select(DirectoryChange.entity_id, DirectoryChange.position).where(
        DirectoryChange.entity == entity
    )
    return dict(query.tuples())


def moved_after(entity: str, top: int) -> list[int]:
    """The ids of ``entity`` whose entries lie after ``top``, in the order of their positions."""
    return [i for i, p in sorted(entries(entity).items(), key=lambda item: item[1]) if p > top]


def test_rows_written_by_one_statement_each_get_a_position_of_their_own_in_id_order(
    app: Flask, world: World
) -> None:
    """A stand's batch writes hundreds of rows a statement (on PostgreSQL one trigger run per
    statement records them all): each changed row still gets one new position per stream it
    changes (the client's, and its details' unless only the balance changed), in id order, from
    the counter, and a row whose tracked columns did not change gets none."""
    top = current_position()
    with db_proxy.atomic():
        Client.insert_many([{"kind": "member", "name": f"Клиент {n}"} for n in range(5)]).execute()
    new = sorted(Client.select(Client.id).order_by(Client.id.desc()).limit(5).tuples())
    new_ids = [client_id for (client_id,) in new]
    assert moved_after(CLIENT, top) == moved_after(DETAILS, top) == new_ids
    assert current_position() == top + 10

    # Three of them blocked in one statement, one of those already blocked: two changes.
    Client.update(blocked=True).where(Client.id == new_ids[0]).execute()
    top = current_position()
    with db_proxy.atomic():
        Client.update(blocked=True).where(Client.id.in_(new_ids[:3])).execute()
    assert current_position() == top + 4
    assert moved_after(CLIENT, top) == moved_after(DETAILS, top) == new_ids[1:3]

    # Two entries of one client in one statement move its entry once (one trigger run per row
    # took a position each); a balance-only change leaves the details where they are.
    entry = {"client": new_ids[1], "kind": "correction", "amount_kopecks": 100}
    top = current_position()
    with db_proxy.atomic():
        LedgerEntry.insert_many([entry, entry]).execute()
    expected = 1 if is_postgresql() else 2
    assert current_position() == top + expected
    assert entries(CLIENT)[new_ids[1]] == top + expected
    assert moved_after(DETAILS, top) == []

    # A column the directory does not read moves nothing.
    Client.update(note="звонил").where(Client.id.in_(new_ids)).execute()
    assert current_position() == top + expected

    # Deleting a client moves its linked cards first, then the client (a stand drops both).
    card = Credential.create(client=new_ids[3], kind="card", value="04AABBCC", created_at=utcnow())
    top = current_position()
    Client.update(deleted_at=utcnow()).where(Client.id == new_ids[3]).execute()
    assert entries(CREDENTIAL)[card.id] == top + 1
    assert entries(CLIENT)[new_ids[3]] == top + 2
    assert entries(DETAILS)[new_ids[3]] == top + 3 == current_position()

    # A deleted row's entries move too (a tombstone on the stands).
    Client.delete().where(Client.id == new_ids[4]).execute()
    assert moved_after(CLIENT, top + 3) == moved_after(DETAILS, top + 3) == [new_ids[4]]
    assert current_position() == top + 5


def test_a_transaction_moves_an_entry_once_and_the_next_moves_it_again(
    app: Flask, world: World
) -> None:
    """On PostgreSQL a client's ledger entry, balance and name written in one transaction (a
    stand's batch) move the client's entry once, and its details' once; the next transaction's
    change moves them again, so no stand that read the first misses it. SQLite takes a position
    per row written, as before."""
    member = world.member
    top = current_position()
    with db_proxy.atomic():
        LedgerEntry.create(client=member, kind="correction", amount_kopecks=100)
        Client.update(balance_kopecks=Client.balance_kopecks + 100).where(
            Client.id == member.id
        ).execute()
        Client.update(name="Другое имя").where(Client.id == member.id).execute()
    first = entries(CLIENT)[member.id]
    if is_postgresql():
        assert (first, entries(DETAILS)[member.id], current_position()) == (
            top + 1,
            top + 2,
            top + 2,
        )
    else:
        assert (first, entries(DETAILS)[member.id], current_position()) == (
            top + 3,
            top + 4,
            top + 4,
        )

    top = current_position()
    with db_proxy.atomic():
        Client.update(blocked=True).where(Client.id == member.id).execute()
    assert (entries(CLIENT)[member.id], entries(DETAILS)[member.id]) == (top + 1, top + 2)


def test_changes_undone_with_their_savepoint_take_no_position_and_the_rest_do(
    app: Flask, world: World
) -> None:
    """A change rolled back with its savepoint leaves its entry where it was; the changes of
    the same transaction around it take their positions at its commit, none left pending."""
    member, guest = world.member, world.guest
    before = entries(CLIENT)
    top = current_position()
    with db_proxy.atomic():
        Client.update(blocked=True).where(Client.id == member.id).execute()
        with pytest.raises(RuntimeError), db_proxy.atomic():
            Client.update(name="Откатится").where(Client.id == guest.id).execute()
            raise RuntimeError("the savepoint is rolled back")
        Client.update(note="после отката").where(Client.id == member.id).execute()

    after = entries(CLIENT)
    assert after[guest.id] == before[guest.id]
    assert after[member.id] > top and current_position() >= after[member.id]
    assert DirectoryChange.select().where(DirectoryChange.position < 0).count() == 0


def test_a_transaction_that_makes_the_triggers_again_keeps_its_changes(
    app: Flask, world: World
) -> None:
    """The migrations make the triggers again inside the transaction that also records
    changes: entries moved before that still take their positions at its commit."""
    database = app.extensions["aquastand_db"]
    top = current_position()
    with db_proxy.atomic():
        Client.update(blocked=True).where(Client.id == world.member.id).execute()
        changetriggers.install(database)
        Client.update(blocked=True).where(Client.id == world.guest.id).execute()

    moved = entries(CLIENT)
    assert top < moved[world.member.id] < moved[world.guest.id] <= current_position()
    assert DirectoryChange.select().where(DirectoryChange.position < 0).count() == 0
