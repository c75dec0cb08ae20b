"""Applying stands' event batches: exactly-once effect through resends, reboots and wrong
clocks, as DESIGN.md's sync protocol says, and the peer systems' known failures reproduced."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee
import pytest

from cloud.ledger.service import ledger_balance
from cloud.migrations import current_version, latest_version, upgrade
from cloud.models import (
    ALL_MODELS,
    Client,
    Comment,
    Credential,
    LedgerEntry,
    Session,
    Stand,
    StandEvent,
    TariffVersion,
)
from cloud.standsync.ingest import StandClock, apply_batch, last_seq
from sync.schedule import Window
from tests.cloud import schema_v1
from tests.cloud.conftest import World
from tests.cloud.eventstream import T0, Stream, new_uuid
from tests.cloud.freshdb import bound, empty_database_url


def clock(stream: Stream, skew: timedelta = timedelta(0)) -> StandClock:
    """The stand's clocks as its next request reports them; the server is ``skew`` ahead."""
    return StandClock(
        now=stream.clock + skew,
        stand_time=stream.clock,
        boot_id=stream.boot_id,
        mono_ms=stream.mono_ms,
    )


def push(world: World, stream: Stream, events: list[dict[str, Any]], **kw: Any) -> Any:
    return apply_batch(
        Stand.get_by_id(world.stand_a.id), events, kw.pop("at", None) or clock(stream)
    )


@pytest.fixture
def stream(world: World) -> Stream:
    return Stream(world.stand_a.id)


def staff(world: World) -> str:
    return str(world.users["attendant"].id)


def charges(client: Client) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == client.id) & (LedgerEntry.kind == "charge")
    )
    return [entry.amount_kopecks for entry in query]


def test_a_batch_creates_sessions_charges_and_topups_and_the_balance_is_the_ledger_sum(
    world: World, stream: Stream
) -> None:
    topup = stream.topup(world.member.id, 50_000, staff(world))
    stream.wait(30)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 10_000)

    result = push(world, stream, [topup, started, ended])

    assert result.acked_seq == 3 and result.refused is None
    session = Session.get(Session.uuid == session_uuid)
    assert (session.client_id, session.stand_id, session.site_id) == (
        world.member.id,
        world.stand_a.id,
        world.site_a.id,
    )
    assert session.duration_s == 600 and session.cost_kopecks == 10_000
    assert session.ended_at - session.started_at == timedelta(seconds=600)
    assert session.price_mismatch is False and session.repriced_cost_kopecks == 10_000
    member = Client.get_by_id(world.member.id)
    assert member.balance_kopecks == ledger_balance(member) == 40_000
    topup_entry = LedgerEntry.get((LedgerEntry.client == member.id) & (LedgerEntry.kind == "topup"))
    assert topup_entry.created_by_id == world.users["attendant"].id
    assert topup_entry.method == "cash" and topup_entry.site_id == world.site_a.id
    assert topup_entry.event.event_uuid == topup["id"]
    assert StandEvent.select().count() == 3


def test_a_resent_batch_is_acknowledged_again_and_charges_nothing_more(
    world: World, stream: Stream
) -> None:
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    batch = [started, stream.ended(session_uuid, 600, 10_000)]
    assert push(world, stream, batch).acked_seq == 2

    again = push(world, stream, batch)

    assert again.acked_seq == 2 and again.refused is None
    assert charges(world.member) == [-10_000]
    assert Session.select().count() == 1
    assert StandEvent.select().count() == 2


def test_an_end_resent_with_a_new_id_and_seq_after_a_reboot_charges_once(
    world: World, stream: Stream
) -> None:
    """libocpp #907 (an end sent twice after an offline period and a reboot) and CitrineOS
    PR #880 (a retried end counted twice centrally)."""
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(world, stream, [started, stream.ended(session_uuid, 600, 10_000)])
    stream.reboot(T0 + timedelta(hours=2))

    result = push(world, stream, [stream.ended(session_uuid, 660, 11_000)])

    assert result.acked_seq == 3 and result.refused is None
    assert charges(world.member) == [-10_000]
    session = Session.get(Session.uuid == session_uuid)
    assert session.cost_kopecks == 10_000 and session.duration_s == 600
    flagged = StandEvent.get(StandEvent.seq == 3)
    assert flagged.flag == "session_already_ended"
    assert Client.get_by_id(world.member.id).balance_kopecks == -10_000


def test_a_start_arriving_for_an_ended_session_does_not_bring_it_back(
    world: World, stream: Stream
) -> None:
    """lbbrhzn/ocpp #2135: an ended session came back to life."""
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    push(world, stream, [started, stream.ended(session_uuid, 600, 10_000)])
    _same, restarted = stream.started(
        world.member.id, world.tariff_version.id, session_uuid=session_uuid
    )

    result = push(world, stream, [restarted])

    assert result.acked_seq == 3
    session = Session.get(Session.uuid == session_uuid)
    assert session.ended_at is not None and session.cost_kopecks == 10_000
    assert Session.select().count() == 1
    assert StandEvent.get(StandEvent.seq == 3).flag == "session_exists"


def test_a_gap_is_refused_from_the_gap_on(world: World, stream: Stream) -> None:
    first = stream.topup(world.member.id, 1_000, staff(world))
    stream.topup(world.member.id, 2_000, staff(world))  # seq 2 never arrives
    third = stream.topup(world.member.id, 3_000, staff(world))
    fourth = stream.topup(world.member.id, 4_000, staff(world))

    result = push(world, stream, [first, third, fourth])

    assert result.acked_seq == 1
    assert result.refused is not None
    assert (result.refused.seq, result.refused.code, result.refused.status) == (3, "gap", 409)
    assert "ожидалось событие 2" in result.refused.message
    assert result.refused.to_dict()["expected_seq"] == 2  # where the stand sends again from
    assert ledger_balance(world.member) == 1_000
    assert last_seq(world.stand_a) == 1


def test_a_reused_seq_with_another_id_is_a_conflict_and_nothing_from_it_is_applied(
    world: World, stream: Stream
) -> None:
    push(world, stream, [stream.topup(world.member.id, 1_000, staff(world))])
    second = stream.topup(world.member.id, 2_000, staff(world))
    reused = stream.topup(world.member.id, 5_000, staff(world))
    reused["seq"] = 1  # the stand lost its counter and numbers a new event 1 again
    after = stream.topup(world.member.id, 7_000, staff(world))
    after["seq"] = 3

    result = push(world, stream, [second, reused, after])

    assert result.refused is not None
    assert (result.refused.code, result.refused.status, result.refused.seq) == (
        "seq_conflict",
        409,
        1,
    )
    assert result.acked_seq == 2
    assert ledger_balance(world.member) == 3_000
    assert StandEvent.select().count() == 2


def test_a_bad_event_is_refused_with_its_reason_and_the_events_before_it_are_applied(
    world: World, stream: Stream
) -> None:
    good = stream.topup(world.member.id, 1_000, staff(world))
    bad = stream.topup(world.member.id, 2_000, staff(world))
    bad["payload"]["method"] = "bitcoin"
    later = stream.topup(world.member.id, 3_000, staff(world))

    result = push(world, stream, [good, bad, later])

    assert result.acked_seq == 1
    assert result.refused is not None
    assert (result.refused.seq, result.refused.code, result.refused.status) == (
        2,
        "bad_event",
        422,
    )
    assert "payload.method" in result.refused.message
    assert ledger_balance(world.member) == 1_000


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"stand_id": 999}, "wrong_stand"),
        ({"payload": {"client_id": 987654}}, "unknown_client"),
        ({"payload": {"tariff_version_id": 987654}}, "unknown_tariff_version"),
    ],
)
def test_an_event_about_what_the_service_does_not_know_is_refused_and_leaves_no_trace(
    world: World, stream: Stream, change: dict[str, Any], code: str
) -> None:
    _uuid, started = stream.started(world.member.id, world.tariff_version.id)
    started["payload"].update(change.get("payload", {}))
    started.update({k: v for k, v in change.items() if k != "payload"})

    result = push(world, stream, [started])

    assert result.acked_seq == 0
    assert result.refused is not None and result.refused.code == code
    assert result.refused.status == 422 and result.refused.message
    assert Session.select().count() == 0 and StandEvent.select().count() == 0


def test_an_end_for_a_session_never_started_here_is_refused(world: World, stream: Stream) -> None:
    result = push(world, stream, [stream.ended(new_uuid(), 60, 1_000)])

    assert result.refused is not None and result.refused.code == "unknown_session"
    assert LedgerEntry.select().count() == 0


def test_times_stamped_in_1970_are_corrected_from_the_monotonic_clock(
    world: World, stream: Stream
) -> None:
    """SteVe #136: a device whose clock was not set stamps 1970."""
    stream.reboot(datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 10_000)
    stream.wait(120)  # the push happens two minutes after the end
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    at = StandClock(
        now=now, stand_time=stream.clock, boot_id=stream.boot_id, mono_ms=stream.mono_ms
    )

    push(world, stream, [started, ended], at=at)

    session = Session.get(Session.uuid == session_uuid)
    assert session.ended_at == now - timedelta(seconds=120)
    assert session.started_at == now - timedelta(seconds=720)
    row = StandEvent.get(StandEvent.seq == 1)
    assert row.time_source == "mono"
    assert row.occurred_at_raw == "1970-01-01T00:00:05Z"


def test_an_unset_clock_of_an_earlier_boot_falls_back_to_the_time_of_receipt(
    world: World, stream: Stream
) -> None:
    stream.reboot(datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC))
    topup = stream.topup(world.member.id, 1_000, staff(world))
    stream.reboot(T0)  # the push comes from the next boot, with the clock set
    now = T0 + timedelta(seconds=3)

    push(world, stream, [topup], at=StandClock(now=now, stand_time=T0, boot_id=stream.boot_id))

    row = StandEvent.get(StandEvent.seq == 1)
    assert (row.time_source, row.occurred_at) == ("received", now)


def test_a_stand_clock_that_is_off_is_corrected_by_the_measured_skew(
    world: World, stream: Stream
) -> None:
    stream.reboot(datetime(2031, 5, 1, 8, 0, tzinfo=UTC))  # years ahead
    _uuid, started = stream.started(world.member.id, world.tariff_version.id)
    skew = datetime(2026, 3, 2, 9, 0, tzinfo=UTC) - stream.clock

    push(world, stream, [started], at=clock(stream, skew))

    session = Session.get()
    assert session.started_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    row = StandEvent.get()
    assert row.occurred_at_raw == "2031-05-01T08:00:00Z" and row.time_source == "clock"


def test_a_price_that_differs_from_the_tariff_is_charged_as_told_and_flagged(
    world: World, stream: Stream
) -> None:
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)

    push(world, stream, [started, stream.ended(session_uuid, 600, 9_000)])

    session = Session.get(Session.uuid == session_uuid)
    assert session.cost_kopecks == 9_000 and session.repriced_cost_kopecks == 10_000
    assert session.price_mismatch is True
    assert charges(world.member) == [-9_000]
    assert StandEvent.get(StandEvent.seq == 2).flag == "price_mismatch"


def test_a_free_session_posts_no_ledger_entry(world: World, stream: Stream) -> None:
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(5)

    push(world, stream, [started, stream.ended(session_uuid, 5, 0)])

    assert Session.get().cost_kopecks == 0 and Session.get().price_mismatch is False
    assert LedgerEntry.select().count() == 0


def test_a_topup_resent_under_a_new_id_is_credited_once(world: World, stream: Stream) -> None:
    topup = stream.topup(world.member.id, 5_000, staff(world))
    resent = stream.event("topup.recorded", dict(topup["payload"]), staff(world))

    result = push(world, stream, [topup, resent])

    assert result.acked_seq == 2
    assert ledger_balance(world.member) == 5_000
    assert StandEvent.get(StandEvent.seq == 2).flag == "duplicate_topup"


def test_a_guest_registered_at_the_stand_washes_and_pays_under_the_stands_uuid(
    world: World, stream: Stream
) -> None:
    guest_uuid = new_uuid()
    registered = stream.event("guest.registered", {"client_uuid": guest_uuid, "plate": "В555ТТ77"})
    session_uuid, started = stream.started(
        None, world.tariff_version.id, kind="guest", client_uuid=guest_uuid
    )
    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 15_000)
    paid = stream.topup(None, 15_000, staff(world), client_uuid=guest_uuid)

    result = push(world, stream, [registered, started, ended, paid])

    assert result.acked_seq == 4, result.refused
    guest = Client.get(Client.uuid == guest_uuid)
    assert guest.kind == "guest" and guest.home_site_id == world.site_a.id
    assert Credential.get(Credential.client == guest).value == "В555ТТ77"
    assert Session.get().client_id == guest.id
    assert guest.balance_kopecks == ledger_balance(guest) == 0


def test_a_guest_registered_with_a_plate_a_guest_already_has_is_that_guest(
    world: World, stream: Stream
) -> None:
    guest_uuid = new_uuid()
    registered = stream.event("guest.registered", {"client_uuid": guest_uuid, "plate": "О777ОО99"})
    paid = stream.topup(None, 2_000, staff(world), client_uuid=guest_uuid)

    result = push(world, stream, [registered, paid])

    assert result.acked_seq == 2
    assert Client.select().where(Client.kind == "guest").count() == 1
    assert ledger_balance(world.guest) == 2_000
    assert StandEvent.get(StandEvent.seq == 1).flag == "linked_existing_guest"


def test_a_guest_registered_with_a_members_plate_is_kept_apart_and_flagged(
    world: World, stream: Stream
) -> None:
    guest_uuid = new_uuid()

    push(
        world,
        stream,
        [stream.event("guest.registered", {"client_uuid": guest_uuid, "plate": "А123ВС77"})],
    )

    guest = Client.get(Client.uuid == guest_uuid)
    assert guest.kind == "guest" and not list(guest.credentials)
    assert StandEvent.get().flag == "plate_conflict"
    assert Credential.get(Credential.value == "А123ВС77").client_id == world.member.id


def test_a_member_registered_at_the_stand_keeps_the_guests_history_and_skips_a_taken_card(
    world: World, stream: Stream
) -> None:
    member_uuid = new_uuid()
    payload = {
        "client_uuid": member_uuid,
        "name": "Пётр Гостев",
        "phones": ["+79990001122"],
        "plates": [],
        "cards": ["04A1B2C3D4E5F6", "0411223344"],
        "guest_client_id": world.guest.id,
        "guest_client_uuid": None,
    }

    result = push(world, stream, [stream.event("client.registered", payload, staff(world))])

    assert result.acked_seq == 1
    promoted = Client.get_by_id(world.guest.id)
    assert (promoted.kind, promoted.name, promoted.uuid) == ("member", "Пётр Гостев", member_uuid)
    cards = {c.value: c.client_id for c in Credential.select().where(Credential.kind == "card")}
    assert cards == {"04A1B2C3D4E5F6": world.member.id, "0411223344": world.guest.id}
    assert StandEvent.get().flag == "credential_conflict"


def test_card_links_comments_and_refused_taps_are_stored(world: World, stream: Stream) -> None:
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    comment = stream.event(
        "comment.added",
        {
            "comment_uuid": new_uuid(),
            "client_id": world.member.id,
            "client_uuid": None,
            "session_uuid": session_uuid,
            "text": "Просил пену погуще",
        },
        staff(world),
    )
    link = stream.event(
        "card.linked", {"client_id": world.member.id, "client_uuid": None, "uid": "04AABBCCDD"}
    )
    refused = stream.event(
        "tap.refused",
        {
            "credential_kind": "card",
            "credential_value": "0499",
            "reason": "unknown",
            "client_id": None,
        },
    )

    result = push(world, stream, [started, comment, link, refused])

    assert result.acked_seq == 4
    note = Comment.get()
    assert note.text == "Просил пену погуще" and note.session.uuid == session_uuid
    assert note.author_id == world.users["attendant"].id
    assert Credential.get(Credential.value == "04AABBCCDD").client_id == world.member.id
    stored = StandEvent.get(StandEvent.type == "tap.refused")
    assert json.loads(stored.payload)["reason"] == "unknown"


@pytest.mark.parametrize("reason", ["post_busy", "too_soon_to_end"])
def test_a_tap_refused_by_a_post_guard_is_accepted_and_stored(
    world: World, stream: Stream, reason: str
) -> None:
    refused = stream.event(
        "tap.refused",
        {
            "credential_kind": "card",
            "credential_value": "04AABBCCDD",
            "reason": reason,
            "client_id": world.member.id,
        },
    )

    result = push(world, stream, [refused])

    assert result.acked_seq == 1
    [stored] = StandEvent.select().where(StandEvent.type == "tap.refused")
    assert json.loads(stored.payload)["reason"] == reason
    assert json.loads(stored.payload)["client_id"] == world.member.id


# --- schema version 2 ------------------------------------------------------------------------


@pytest.fixture
def v1_database(database_url: str, tmp_path: Path) -> Iterator[peewee.Database]:
    """A database as version 1 of the program left it, with a site, a stand, a client, a
    finished session and its charge."""
    with empty_database_url(database_url, tmp_path) as url, bound(url) as database:
        database.create_tables(schema_v1.ALL_MODELS)
        schema_v1.SchemaVersion.create(version=1)
        site = schema_v1.Site.create(name="Мойка на Ленина")
        stand = schema_v1.Stand.create(site=site, name="Пост 1")
        tariff = schema_v1.Tariff.create(name="Стандарт")
        version = schema_v1.TariffVersion.create(
            tariff=tariff, effective_from=T0, member_per_minute=1000, guest_per_minute=1500
        )
        client = schema_v1.Client.create(kind="member", name="Иван")
        session = schema_v1.Session.create(
            client=client,
            stand=stand,
            site=site,
            tariff_version=version,
            client_kind="member",
            started_at=T0,
            ended_at=T0 + timedelta(minutes=10),
            duration_s=600,
            cost_kopecks=10_000,
            start_method="card",
        )
        schema_v1.LedgerEntry.create(
            client=client, kind="charge", amount_kopecks=-10_000, session=session
        )
        yield database


def test_version_2_upgrades_a_version_1_database_in_place(v1_database: peewee.Database) -> None:
    assert upgrade(v1_database) == (1, latest_version())

    assert current_version(v1_database) == latest_version()
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = {column.name for column in v1_database.get_columns(table)}
        assert columns == {field.column_name for field in model._meta.sorted_fields}, table
    stand = Stand.get()
    assert stand.name == "Пост 1" and stand.token_hash is None and stand.last_seen_at is None
    session = Session.get()
    assert session.uuid is None and session.price_mismatch is False
    assert session.cost_kopecks == 10_000
    assert LedgerEntry.get().event is None and Client.get().uuid is None
    stream = Stream(stand.id)
    session_uuid, started = stream.started(Client.get().id, session.tariff_version_id)
    at = StandClock(now=T0, stand_time=T0, boot_id=stream.boot_id, mono_ms=stream.mono_ms)
    assert apply_batch(stand, [started], at).acked_seq == 1
    assert Session.get(Session.uuid == session_uuid).stand_id == stand.id
    event = StandEvent.get()
    LedgerEntry.create(client=Client.get(), kind="topup", amount_kopecks=1, event=event)
    with pytest.raises(peewee.IntegrityError), v1_database.atomic():
        LedgerEntry.create(client=Client.get(), kind="topup", amount_kopecks=1, event=event)


def test_one_batch_pushed_twice_at_once_is_applied_once(
    app: Any, world: World, stream: Stream
) -> None:
    """A stand retrying while its first request is still being applied (a reply lost
    mid-flight): the two requests take turns, the second finds duplicates."""
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    batch = [started, stream.ended(session_uuid, 600, 10_000)]
    at = clock(stream)
    stand = Stand.get_by_id(world.stand_a.id)
    results: list[Any] = []
    database = app.extensions["aquastand_db"]

    def push_once() -> None:
        with app.app_context():
            try:
                results.append(apply_batch(stand, batch, at).acked_seq)
            finally:
                database.close()

    threads = [threading.Thread(target=push_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert results == [2, 2]
    assert charges(world.member) == [-10_000]


@pytest.mark.parametrize("apart", [False, True], ids=["one batch", "start sent before"])
def test_a_session_is_repriced_from_its_start_as_the_stand_read_it(
    world: World, apart: bool
) -> None:
    """A stand whose clock is 8 hours slow starts a session at 23:00 by its clock (the night
    rate of a schedule; 07:00 on the server's): the repricing reads the rate at the start the
    stand read, whether the start came in the same batch as the end or one before it (read
    back from the stored event then)."""
    night = Window((0, 1, 2, 3, 4, 5, 6), 22 * 60, 5 * 60, 300, 400)
    version = TariffVersion.create(
        tariff=world.tariff_version.tariff,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
        schedule=(night,),
    )
    stream = Stream(world.stand_a.id, start=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 23:00 MSK
    slow = timedelta(hours=8)
    session_uuid, started = stream.started(world.member.id, version.id)
    if apart:
        assert push(world, stream, [started], at=clock(stream, slow)).acked_seq == 1
    stream.wait(600)
    ended = stream.ended(session_uuid, 600, 10 * 300)  # ten minutes at the night rate

    result = push(world, stream, [ended] if apart else [started, ended], at=clock(stream, slow))

    assert result.refused is None and result.acked_seq == 2
    session = Session.get(Session.uuid == session_uuid)
    assert session.started_at == datetime(2026, 3, 3, 4, 0, tzinfo=UTC)  # corrected: 07:00 MSK
    assert (session.repriced_cost_kopecks, session.price_mismatch) == (3000, False)
