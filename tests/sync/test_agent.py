"""The stand's sync agent against the real central app over HTTP on 127.0.0.1 (on SQLite and
again on PostgreSQL), with a real stand store and engine on the other side."""

# ruff: noqa: F401, F811 - the central fixtures are imported by name and requested by name

from __future__ import annotations

import json
import random
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from cloud.clients.credentials import link_card, mark_card_lost, unlink_credential
from cloud.clients.service import delete_client, set_blocked
from cloud.clock import app_now
from cloud.db import utcnow
from cloud.ledger.service import post_entry
from cloud.models import Client, Credential, LedgerEntry, Session, Stand, StandEvent, StandHeartbeat
from cloud.standsync.commands import request_end
from cloud.standsync.standauth import revoke
from edge.store import DirClient, DirCredential, Outbox
from sync.agent import CentralUnreachable, Command, SyncAgent, enrol
from sync.directory import ClientEntry, CredentialEntry
from sync.directorypage import CredentialKey, DirectoryPage, Tombstones
from sync.errors import RuleError
from sync.pagemerge import merge_pages
from tests.integration.conftest import (
    Central,
    DirectStand,
    StepClock,
    _truncate_all,
    app,
    central,
    clock,
    database_url,
    direct_stand,
    fast_password_hashing,
    postgres_schema_url,
    provision,
    world,
)

MEMBER_CARD = "04A1B2C3D4E5F6"


def app_config() -> Any:
    from flask import current_app

    return current_app.config["AQ"]


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def charges_of(client_id: int) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == client_id) & (LedgerEntry.kind == "charge")
    )
    return [entry.amount_kopecks for entry in query]


def stand_topups() -> list[int]:
    """Top-ups the central ledger took from stand events."""
    query = LedgerEntry.select().where(
        (LedgerEntry.kind == "topup") & LedgerEntry.event.is_null(False)
    )
    return [entry.amount_kopecks for entry in query.order_by(LedgerEntry.id)]


def balance(client_id: int) -> int:
    return int(Client.get_by_id(client_id).balance_kopecks)


@pytest.fixture
def stand(central: Central, world: Any, direct_stand: Any) -> DirectStand:
    """An enrolled stand of site A that has made its first sync (directory loaded); the
    member has 1 000 ₽ centrally."""
    post_entry(world.member, "topup", 100_000, method="cash")
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.sync("the first sync")
    return made


def session_at(stand: DirectStand, card: str = MEMBER_CARD, seconds: float = 90) -> str:
    """A session started by a tap of ``card`` and ended by the next tap ``seconds`` later."""
    stand.engine.on_uid(card)
    [session] = stand.store.open_sessions()
    stand.clock.advance(seconds)
    stand.engine.on_uid(card)
    stand.clock.advance(5)  # past the bounce guard: the next tap is a new one
    return str(session.uuid)


def test_enrolment_refuses_a_used_code(central: Central, world: Any) -> None:
    code = provision(world.site_a, "Пост 7")

    first = enrol(central.url, code)

    assert first.site_id == world.site_a.id
    assert first.token.startswith(f"{first.stand_id}.")
    with pytest.raises(RuleError) as refused:
        enrol(central.url, code)
    assert "уже использован" in refused.value.message


def test_enrolment_without_a_central_service_says_it_is_unreachable() -> None:
    with pytest.raises(CentralUnreachable):
        enrol(closed_port_url(), "ABCD-EFGH")


def test_the_first_sync_loads_the_directory_and_reports_a_heartbeat(
    stand: DirectStand, world: Any
) -> None:
    card = stand.store.tables.DirCredential.get(
        stand.store.tables.DirCredential.value == MEMBER_CARD
    )
    assert card.client_id == world.member.id
    assert stand.store.tables.DirClient.get_by_id(world.member.id).name == "Иван Петров"
    assert stand.agent.status.cursor > 0
    assert stand.agent.online()
    beat = StandHeartbeat.get(StandHeartbeat.stand == stand.config.stand_id)
    assert beat.version == "test"
    assert beat.outbox == 0
    assert Stand.get_by_id(stand.config.stand_id).clock_skew_ms is not None


def test_a_session_reaches_the_central_ledger_once(stand: DirectStand, world: Any) -> None:
    before = balance(world.member.id)
    session_uuid = session_at(stand, seconds=90)
    cost = stand.store.pending_events(10)[-1].payload["cost_kopecks"]
    assert cost == 5000  # two started minutes at 10 ₽, the minimum charge 50 ₽

    stand.sync()

    central_session = Session.get(Session.uuid == session_uuid)
    assert central_session.cost_kopecks == cost
    assert charges_of(world.member.id) == [-cost]
    assert balance(world.member.id) == before - cost
    # The stand now holds the central balance and no longer adds its own charge to it.
    assert stand.store.balance_of(world.member.id) == before - cost


def test_events_are_pushed_in_batches_in_seq_order(
    central: Central, world: Any, direct_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    made: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 7"))
    made.agent.batch_size = 7
    made.sync("the first sync")
    for _ in range(10):
        session_at(made, seconds=61)

    made.sync()

    seqs = [row.seq for row in StandEvent.select().order_by(StandEvent.seq)]
    assert seqs == list(range(1, 21))
    assert len(charges_of(world.member.id)) == 10


def test_a_reply_lost_after_the_central_applied_the_batch_is_resent_without_effect(
    stand: DirectStand, world: Any, central: Central
) -> None:
    before = balance(world.member.id)
    session_at(stand, seconds=120)
    cost = int(stand.store.pending_events(10)[-1].payload["cost_kopecks"])
    # The batch reaches the central service, but the stand never reads the reply.
    token = stand.agent._http.headers["Authorization"]
    lost = requests.post(
        f"{central.url}/sync/v1/events",
        json={"events": [e.to_dict() for e in stand.store.pending_events(10)]},
        headers={"Authorization": token, "X-Stand-Clock": datetime.now(UTC).isoformat()},
        timeout=10,
    )
    assert lost.status_code == 200
    assert stand.store.outbox_size() == 2

    stand.sync()

    assert charges_of(world.member.id) == [-cost]
    assert balance(world.member.id) == before - cost
    assert stand.store.balance_of(world.member.id) == before - cost


def test_a_refused_event_stays_in_the_outbox_and_later_ones_wait(
    stand: DirectStand, world: Any
) -> None:
    stand.engine.record_topup(world.member.id, 10_000, "cash", actor=world.users["attendant"].id)
    # An event naming a tariff version the central service does not know: refused (422).
    with stand.store.atomic():
        stand.engine._event(
            "session.started",
            {
                "session_uuid": str(uuid.uuid4()),
                "client_id": world.member.id,
                "client_uuid": None,
                "tariff_version_id": 999_999,
                "client_kind": "member",
                "method": "card",
            },
            "card",
        )
    stand.engine.record_topup(world.member.id, 20_000, "cash", actor=world.users["attendant"].id)

    assert stand.agent.run_once(force=True) is True  # the central service answered

    assert [e.type for e in stand.store.pending_events(10)] == [
        "session.started",
        "topup.recorded",
    ]
    assert "999999" in stand.agent.status.refused
    assert stand.agent.run_once(force=True) is True
    assert stand.store.outbox_size() == 2  # refused again, never dropped
    assert stand_topups() == [10_000]


def test_a_stand_whose_database_was_replaced_does_not_paper_over_the_conflict(
    stand: DirectStand, world: Any, direct_stand: Any, central: Central, tmp_path: Any
) -> None:
    session_at(stand, seconds=61)
    stand.sync()
    # The same stand (its token) with a fresh database: its seq 1 is another event.
    token = stand.agent._http.headers["Authorization"].removeprefix("Bearer ")
    stand.store.close()
    from edge.engine import Engine
    from edge.store import Store, StoreAdapter
    from edge.syncwiring import EngineCommands

    fresh = Store(tmp_path / "fresh.sqlite3")
    engine = Engine(fresh, stand.feedback, stand.config, stand.clock)
    agent = SyncAgent(
        central.url,
        token,
        StoreAdapter(fresh, stand.clock, stand.config.site_id),
        stand.clock,
        EngineCommands(engine),
    )
    try:
        assert agent.run_once(force=True)  # the directory again
        engine.record_topup(world.member.id, 10_000, "cash", actor=world.users["attendant"].id)

        agent.run_once(force=True)

        assert fresh.outbox_size() == 1
        assert "seq" in agent.status.refused.lower() or "занят" in agent.status.refused
        assert stand_topups() == []
    finally:
        agent.close()
        fresh.close()


def test_a_central_block_and_a_lost_card_reach_the_stand_on_the_next_poll(
    stand: DirectStand, world: Any
) -> None:
    set_blocked(world.users["operator"], world.member, True)

    assert stand.agent.run_once(force=True)

    assert stand.store.tables.DirClient.get_by_id(world.member.id).blocked
    stand.engine.on_uid(MEMBER_CARD)
    assert stand.store.open_sessions() == []
    assert stand.feedback.patterns[-1] == "refused"


def test_a_top_up_at_the_stand_is_counted_once_after_the_central_balance_includes_it(
    stand: DirectStand, world: Any
) -> None:
    before = balance(world.member.id)
    stand.engine.record_topup(world.member.id, 30_000, "cash", actor=world.users["attendant"].id)
    assert stand.store.balance_of(world.member.id) == before + 30_000

    stand.sync()
    assert stand.agent.run_once(force=True)

    assert balance(world.member.id) == before + 30_000
    assert stand.store.balance_of(world.member.id) == before + 30_000


def test_a_remote_end_from_the_dashboard_ends_the_session_at_the_stand(
    stand: DirectStand, world: Any
) -> None:
    stand.engine.on_uid(MEMBER_CARD)
    stand.sync()
    session = Session.get(Session.client == world.member.id)
    operator = world.users["operator"]
    request_end(operator, session.id, "Забыл карту")

    stand.sync("the end command to be carried out")  # poll: the stand ends it
    stand.sync("the end to be pushed")

    session = Session.get_by_id(session.id)
    assert session.ended_at is not None
    assert session.end_method == "dashboard"
    assert session.ended_by_id == operator.id
    assert stand.store.open_sessions() == []
    assert stand.agent.run_once(force=True)  # the command is done: nothing more happens
    assert StandEvent.select().where(StandEvent.type == "session.ended").count() == 1


def test_a_revoked_stand_is_refused_and_backs_off(stand: DirectStand, world: Any) -> None:
    revoke(Stand.get_by_id(stand.config.stand_id), utcnow())
    stand.engine.record_topup(world.member.id, 10_000, "cash", actor=world.users["attendant"].id)

    assert stand.agent.run_once(force=True) is False

    assert stand.agent.status.failures == 1
    assert "401" in stand.agent.status.last_error
    assert stand.store.outbox_size() == 1
    assert not stand.agent.due()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_back_off_doubles_with_jitter_up_to_the_cap_and_never_gives_up() -> None:
    monotonic = FakeMonotonic()
    clock = StepClock()
    calls: list[Command] = []

    class NoStore:
        def pending_events(self, limit: int) -> list[Any]:
            return []

        def mark_acked(self, up_to_seq: int) -> int:
            return 0

        def outbox_size(self) -> int:
            return 3

        def oldest_unacked_at(self) -> datetime | None:
            return None

        def directory_cursor(self) -> int:
            return 0

        def apply_directory_page(self, page: DirectoryPage) -> None:
            raise AssertionError("nothing to apply")

    agent = SyncAgent(
        closed_port_url(),
        "1.secret",
        NoStore(),
        clock,
        calls.append,
        interval_s=2.0,
        max_backoff_s=60.0,
        monotonic=monotonic,
        rng=random.Random(1),
    )
    try:
        waits = []
        for _ in range(10):
            assert agent.due()
            assert agent.run_once() is False
            waits.append(agent._next_due - monotonic.now)
            assert not agent.due()
            assert agent.run_once() is False  # not due: no attempt
            monotonic.now = agent._next_due
        for attempt, wait in enumerate(waits, start=1):
            ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
            assert ceiling / 2 <= wait <= ceiling
        assert agent.status.failures == 10
        assert agent.status.outbox == 3
        assert not agent.online()
    finally:
        agent.close()


def _page(cursor: int, **changes: Any) -> DirectoryPage:
    base = DirectoryPage(
        cursor=cursor,
        more=True,
        reset=False,
        site_id=1,
        stand_id=1,
        server_time=datetime(2026, 1, 1, tzinfo=UTC),
        qr_public_key_pem="-----BEGIN PUBLIC KEY-----",
        default_tariff_id=None,
    )
    from dataclasses import replace

    return replace(base, **changes)


def _client(client_id: int, balance: int) -> ClientEntry:
    return ClientEntry(client_id, "member", "К", (), False, None, balance, client_id, None)


def test_pages_of_one_walk_merge_to_the_last_word_on_each_row() -> None:
    card = CredentialEntry(1, "card", "0A0B0C0D", False)
    pages = [
        _page(5, reset=True, clients=(_client(1, 100), _client(2, 200)), credentials=(card,)),
        _page(
            9,
            reset=True,
            clients=(_client(1, 150),),
            tombstones=Tombstones(clients=(2,), credentials=(CredentialKey("card", "0A0B0C0D"),)),
        ),
        _page(12, reset=True, more=False, credentials=(card,)),
    ]

    merged = merge_pages(pages)

    assert (merged.cursor, merged.more, merged.reset) == (12, False, True)
    assert merged.clients == (_client(1, 150),)
    assert merged.credentials == (card,)
    assert merged.tombstones.clients == (2,)
    assert merged.tombstones.credentials == ()


def test_lost_unlinked_and_newly_linked_cards_and_a_deleted_client_reach_the_stand(
    stand: DirectStand, world: Any
) -> None:
    operator, admin = world.users["operator"], world.users["administrator"]
    [card] = Credential.select().where(Credential.value == MEMBER_CARD)
    [plate] = Credential.select().where(Credential.value == "А123ВС77")
    link_card(operator, world.guest, "0A0B0C0D")
    mark_card_lost(operator, world.member, card.id)
    unlink_credential(operator, world.member, plate.id)
    delete_client(admin, world.other_site_client)

    assert stand.agent.run_once(force=True)

    assert stand.store.tables.DirCredential.get(
        stand.store.tables.DirCredential.value == MEMBER_CARD
    ).lost
    assert (
        stand.store.tables.DirCredential.get_or_none(
            stand.store.tables.DirCredential.value == "А123ВС77"
        )
        is None
    )
    assert (
        stand.store.tables.DirCredential.get(
            stand.store.tables.DirCredential.value == "0A0B0C0D"
        ).client_id
        == world.guest.id
    )
    assert (
        stand.store.tables.DirClient.get_or_none(
            stand.store.tables.DirClient.id == world.other_site_client.id
        )
        is None
    )
    assert (
        stand.store.tables.DirCredential.get_or_none(
            stand.store.tables.DirCredential.value == "Е001КХ50"
        )
        is None
    )
    stand.engine.on_uid(MEMBER_CARD)
    assert stand.feedback.patterns[-1] == "refused"


def test_loading_a_directory_file_makes_the_next_poll_start_over(
    stand: DirectStand, world: Any, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from cloud.standsync.directory import build_directory
    from edge.cli import main

    document = build_directory(world.site_a.id, app_config(), app_now())
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    stand.store.close()
    result = CliRunner().invoke(
        main,
        ["load-directory", "--force", str(path)],
        env={"AQUASTAND_DATA_DIR": str(stand.config.data_dir)},
    )
    assert result.exit_code == 0, result.output
    assert stand.agent.store.directory_cursor() == 0

    assert stand.agent.run_once(force=True)

    assert stand.agent.store.directory_cursor() > 0
    assert stand.store.directory_version() == stand.agent.store.directory_cursor()


def test_a_stand_running_without_its_lights_says_so_in_the_heartbeat(stand: DirectStand) -> None:
    stand.agent.health = lambda: {"lights": {"state": "failed", "last_error": "ImportError: lgpio"}}

    stand.agent._heartbeat()

    beat = StandHeartbeat.get(StandHeartbeat.stand == stand.config.stand_id)
    assert beat.alarm == "Свет и звук поста не работают: ImportError: lgpio"
