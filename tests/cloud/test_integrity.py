"""Integrity checks (cloud/integrity/checks.py): data written directly into the tables, around the
services, breaks one rule at a time and the check for that rule lists it; the data the
services write (a stand's events applied by cloud/standsync/ingest/) passes every check. The same
through ``aquastand-cloud check``, the diagnostics page and ``GET /api/v1/diagnostics``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cloud import cli
from cloud.clock import app_now
from cloud.db import db_proxy, utcnow
from cloud.integrity import checks as integrity
from cloud.integrity.checks import run_checks
from cloud.models import (
    Client,
    Credential,
    LedgerEntry,
    Session,
    Stand,
    StandEvent,
    Tariff,
    TariffVersion,
)
from cloud.standsync.ingest import StandClock, apply_batch
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream, new_uuid
from tests.cloud.sessionrows import add_session


def failing(code: str) -> list[integrity.Violation]:
    """The violations of one check; every other check must pass."""
    results = {result.code: result for result in run_checks(app_now())}
    others = {c: [v.message for v in r.violations] for c, r in results.items() if c != code}
    assert all(not messages for messages in others.values()), others
    return results[code].violations


def push(stand: Stand, stream: Stream, events: list[dict[str, Any]]) -> None:
    at = StandClock(
        now=stream.clock, stand_time=stream.clock, boot_id=stream.boot_id, mono_ms=stream.mono_ms
    )
    result = apply_batch(Stand.get_by_id(stand.id), events, at)
    assert result.refused is None, result.refused


def busy_day(world: World) -> None:
    """What the services write on a day of two stands: top-ups, paid and free sessions, an
    end resent after a reboot, an open session."""
    staff = str(world.users["attendant"].id)
    stream = Stream(world.stand_a.id)
    topup = stream.topup(world.member.id, 50_000, staff)
    first, started = stream.started(world.member.id, world.tariff_version.id)
    stream.wait(600)
    ended = stream.ended(first, 600, 10_000)
    free, free_started = stream.started(world.guest.id, world.tariff_version.id, kind="guest")
    stream.wait(5)
    push(world.stand_a, stream, [topup, started, ended, free_started, stream.ended(free, 5, 0)])
    push(world.stand_a, stream, [stream.ended(first, 600, 10_000)])  # resent under a new seq
    other = Stream(world.stand_b.id)
    _uuid, still_open = other.started(world.other_site_client.id, world.tariff_version.id)
    push(world.stand_b, other, [still_open])


def test_the_data_the_services_write_passes_every_check(world: World) -> None:
    busy_day(world)

    results = run_checks(app_now())

    assert [(r.code, r.violations) for r in results] == [(r.code, []) for r in results]
    assert [r.code for r in results] == [c.code for c in integrity.CHECKS]
    assert Client.get_by_id(world.member.id).balance_kopecks == 40_000
    assert StandEvent.select().count() == 7


# --- cached balances ---------------------------------------------------------------------------


def test_a_cached_balance_that_is_not_the_ledger_sum_is_listed(world: World) -> None:
    busy_day(world)
    Client.update(balance_kopecks=Client.balance_kopecks + 500).where(
        Client.id == world.member.id
    ).execute()
    LedgerEntry.create(client=world.guest, kind="topup", amount_kopecks=7_000, method="cash")

    found = failing("balances")

    assert [v.objects for v in found] == [
        {"client": [world.member.id]},
        {"client": [world.guest.id]},
    ]
    assert {v.kind for v in found} == {"balance_mismatch"}
    assert "баланс 405,00 ₽, а сумма операций 400,00 ₽" in found[0].message.replace("\xa0", " ")
    assert "баланс 0,00 ₽, а сумма операций 70,00 ₽" in found[1].message.replace("\xa0", " ")


# --- open sessions -----------------------------------------------------------------------------


def test_a_client_with_two_open_sessions_is_listed_with_the_sessions_and_stands(
    world: World,
) -> None:
    busy_day(world)
    at_a = add_session(world.member, world.stand_a, world.tariff_version)
    at_b = add_session(world.member, world.stand_b, world.tariff_version)
    add_session(world.guest, world.stand_a, world.tariff_version)  # one open: fine

    found = failing("open_sessions")

    assert len(found) == 1
    assert found[0].objects == {
        "client": [world.member.id],
        "session": [at_a.id, at_b.id],
        "stand": [world.stand_a.id, world.stand_b.id],
    }
    assert f"№{at_a.id} на посту «Пост 1» (Мойка на Ленина)" in found[0].message
    assert f"№{at_b.id} на посту «Пост 1» (Мойка на Гагарина)" in found[0].message


# --- credentials -------------------------------------------------------------------------------


@pytest.fixture
def without_credential_index(app: Flask) -> Iterator[None]:
    """The unique index that keeps a credential on one client dropped, as in a database
    repaired by hand, and put back afterwards (the PostgreSQL schema is shared by tests)."""
    index = Credential._meta.indexes[0]._name
    db_proxy.execute_sql(f'DROP INDEX "{index}"')
    yield
    Credential.delete().where(Credential.value == "04A1B2C3D4E5F6").execute()
    Credential._schema.create_indexes(safe=True)


def test_a_card_or_plate_active_on_two_clients_is_listed(
    world: World, without_credential_index: None
) -> None:
    copy = Credential.create(client=world.guest, kind="card", value="04A1B2C3D4E5F6")
    unlinked = Credential.create(
        client=world.guest, kind="plate", value="А123ВС77", unlinked_at=utcnow()
    )

    found = failing("credentials")

    original = Credential.get((Credential.value == "04A1B2C3D4E5F6") & (Credential.id != copy.id))
    assert [v.objects for v in found] == [
        {"client": [world.member.id, world.guest.id], "credential": [original.id, copy.id]}
    ]
    assert "Карта 04A1B2C3D4E5F6" in found[0].message
    assert f"№{world.member.id}, №{world.guest.id}" in found[0].message
    assert unlinked.id not in found[0].objects["credential"]


# --- session charges ---------------------------------------------------------------------------


def _ended(world: World, cost: int | None) -> Any:
    end = utcnow() - timedelta(minutes=1)
    session = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=end - timedelta(minutes=10),
        ended_at=end,
        cost_kopecks=cost if cost is not None else 0,
    )
    if cost is None:
        session.cost_kopecks = None
        session.save()
    return session


def _charge(world: World, session: Any, amount: int) -> None:
    LedgerEntry.create(client=world.member, kind="charge", amount_kopecks=-amount, session=session)
    Client.update(balance_kopecks=Client.balance_kopecks - amount).where(
        Client.id == world.member.id
    ).execute()


@pytest.mark.parametrize(
    ("cost", "charges", "open_", "kind", "text"),
    [
        (None, [], False, "session_not_priced", "стоимость не записана"),
        (10_000, [], False, "session_charge_mismatch", "стоит 100,00 ₽, а списаний за неё 0"),
        (10_000, [10_000, 10_000], False, "session_charge_mismatch", "списаний за неё 2"),
        (10_000, [9_000], False, "session_charge_mismatch", "1 на 90,00 ₽"),
        (0, [500], False, "session_charge_mismatch", "стоит 0,00 ₽"),
        (None, [500], True, "open_session_charged", "ещё идёт, но за неё уже списано 5,00 ₽"),
    ],
    ids=["not-priced", "not-charged", "charged-twice", "wrong-amount", "free-charged", "open"],
)
def test_a_session_not_priced_or_not_charged_exactly_once_is_listed(
    world: World, cost: int | None, charges: list[int], open_: bool, kind: str, text: str
) -> None:
    busy_day(world)
    if open_:
        session = add_session(world.guest, world.stand_a, world.tariff_version)
        for amount in charges:
            LedgerEntry.create(
                client=world.guest, kind="charge", amount_kopecks=-amount, session=session
            )
            Client.update(balance_kopecks=Client.balance_kopecks - amount).where(
                Client.id == world.guest.id
            ).execute()
    else:
        session = _ended(world, cost)
        for amount in charges:
            _charge(world, session, amount)

    found = failing("charges")

    assert [(v.kind, v.objects["session"]) for v in found] == [(kind, [session.id])]
    assert text in found[0].message.replace("\xa0", " ")


def test_a_free_session_needs_no_charge_and_a_paid_one_exactly_one(world: World) -> None:
    free = _ended(world, 0)
    paid = _ended(world, 2_500)
    _charge(world, paid, 2_500)

    assert integrity.session_charges() == []
    assert free.cost_kopecks == 0


# --- stand event sequences -----------------------------------------------------------------------


def _events(stand: Stand, seqs: list[int]) -> None:
    for seq in seqs:
        StandEvent.create(
            stand=stand,
            seq=seq,
            event_uuid=new_uuid(),
            type="tap.refused",
            occurred_at_raw="2026-03-02T09:00:00Z",
            occurred_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            time_source="clock",
            boot_id=new_uuid(),
            mono_ms=1000,
            actor="card",
            directory_version=1,
            payload="{}",
        )


def test_holes_in_a_stands_event_numbers_are_listed_with_the_missing_ranges(
    world: World,
) -> None:
    _events(world.stand_a, [1, 2, 5, 6, 9])
    _events(world.stand_b, [2, 3])

    found = failing("event_sequences")

    assert [v.objects for v in found] == [
        {"stand": [world.stand_a.id]},
        {"stand": [world.stand_b.id]},
    ]
    assert "нет номеров 3–4, 7–8" in found[0].message
    assert "«Пост 1» (Мойка на Ленина)" in found[0].message
    assert "событий 5 при последнем номере 9" in found[0].message
    assert "нет номеров 1" in found[1].message


def test_a_stand_without_holes_passes(world: World) -> None:
    _events(world.stand_a, [1, 2, 3])

    assert integrity.event_sequences() == []


# --- tariffs -------------------------------------------------------------------------------------


def test_a_tariff_version_out_of_the_rules_and_an_active_tariff_not_in_force_are_listed(
    world: World,
) -> None:
    broken = TariffVersion.create(
        tariff=world.tariff,
        effective_from=datetime(2021, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
        step_s=0,
    )
    capped = TariffVersion.create(
        tariff=world.tariff,
        effective_from=datetime(2022, 1, 1, tzinfo=UTC),
        member_per_minute=1000,
        guest_per_minute=1500,
        min_charge=5000,
        cap=1000,
    )
    empty = Tariff.create(name="Пустой")
    future = Tariff.create(name="Будущий")
    TariffVersion.create(
        tariff=future,
        effective_from=utcnow() + timedelta(days=3),
        member_per_minute=1000,
        guest_per_minute=1500,
    )
    Tariff.create(name="Выключенный", active=False)

    found = failing("tariffs")

    assert [(v.kind, v.objects) for v in found] == [
        ("bad_tariff_version", {"tariff": [world.tariff.id], "tariff_version": [broken.id]}),
        ("bad_tariff_version", {"tariff": [world.tariff.id], "tariff_version": [capped.id]}),
        ("tariff_without_version", {"tariff": [empty.id]}),
        ("tariff_without_version", {"tariff": [future.id]}),
    ]
    assert "шаг тарификации" in found[0].message
    assert "предельная сумма не может быть меньше минимальной" in found[1].message
    assert "«Пустой» включён" in found[2].message


def test_each_check_lists_at_most_the_limit_and_says_there_were_more(world: World) -> None:
    for client in (world.member, world.guest, world.other_site_client):
        Client.update(balance_kopecks=1).where(Client.id == client.id).execute()

    results = {r.code: r for r in run_checks(app_now(), limit=2)}

    assert len(results["balances"].violations) == 2 and results["balances"].truncated
    assert not results["tariffs"].truncated


# --- the command, the page and the API -----------------------------------------------------------


@pytest.fixture
def use_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> Iterator[None]:
    """The command's environment pointed at the test's database; the models bound back after."""
    previous = db_proxy.obj
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    yield
    if db_proxy.obj is not None and db_proxy.obj is not previous:
        db_proxy.obj.close()
    db_proxy.initialize(previous)


def check(*args: str) -> Any:
    return CliRunner().invoke(cli.main, ["check", *args])


def test_check_exits_0_on_clean_data(world: World, use_database: None) -> None:
    busy_day(world)

    result = check()

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(integrity.CHECKS)
    assert all(line.startswith("OK") for line in lines)
    assert "Балансы равны сумме операций" in result.output


def test_check_exits_1_and_prints_the_violations_on_dirty_data(
    world: World, use_database: None
) -> None:
    busy_day(world)
    add_session(world.member, world.stand_b, world.tariff_version)
    add_session(world.member, world.stand_a, world.tariff_version)
    Client.update(balance_kopecks=1).where(Client.id == world.guest.id).execute()

    result = check()
    as_json = check("--json")

    assert result.exit_code == 1, result.output
    assert "FAIL  У клиента не больше одной открытой сессии" in result.output
    assert f"Клиент №{world.member.id}: открыто сессий — 2" in result.output
    assert f"Клиент №{world.guest.id}: баланс" in result.output
    assert "OK    Тарифы корректны и действуют" in result.output
    assert as_json.exit_code == 1
    document = json.loads(as_json.output)
    assert document["ok"] is False
    by_code = {c["code"]: c for c in document["checks"]}
    assert by_code["tariffs"]["ok"] is True
    assert by_code["balances"]["violations"][0]["objects"] == {"client": [world.guest.id]}


def test_the_diagnostics_page_lists_violations_with_links(world: World, as_role: Any) -> None:
    busy_day(world)
    session = add_session(world.member, world.stand_b, world.tariff_version)
    add_session(world.member, world.stand_a, world.tariff_version)

    page = as_role("operator").get("/diagnostics")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('data-ok="false"') == 1
    assert html.count('data-ok="true"') == len(integrity.CHECKS) - 1
    assert f'href="/clients/{world.member.id}"' in html
    assert f'href="/sessions/{session.id}"' in html
    assert f'href="/sites/{world.site_b.id}"' in html
    assert 'href="/diagnostics"' in html  # in the nav


def test_the_diagnostics_page_says_all_is_well_on_clean_data(world: World, as_role: Any) -> None:
    busy_day(world)

    html = as_role("administrator").get("/diagnostics").get_data(as_text=True)

    assert html.count('data-ok="true"') == len(integrity.CHECKS)
    assert "Всё в порядке" in html
    assert 'class="violation"' not in html


def test_attendants_have_no_diagnostics(world: World, as_role: Any, client: Any) -> None:
    attendant = as_role("attendant")

    assert attendant.get("/diagnostics").status_code == 403
    assert 'href="/diagnostics"' not in attendant.get("/").get_data(as_text=True)
    assert client.get("/api/v1/diagnostics", headers=world.bearer("attendant")).status_code == 403


def test_the_api_answers_each_check_with_its_violations(world: World, client: Any) -> None:
    busy_day(world)
    _events(world.stand_b, [5])  # after its seq 1: 2–4 missing

    response = client.get("/api/v1/diagnostics", headers=world.bearer("owner"))

    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is False
    sequences = next(c for c in body["checks"] if c["code"] == "event_sequences")
    assert sequences["ok"] is False and sequences["truncated"] is False
    assert sequences["violations"][0]["kind"] == "event_gap"
    assert sequences["violations"][0]["objects"] == {"stand": [world.stand_b.id]}
    assert all(c["ok"] for c in body["checks"] if c["code"] != "event_sequences")


def test_a_corporate_account_may_wash_several_cars_at_once_but_not_one_card_twice(
    world: World,
) -> None:
    busy_day(world)
    Client.update(corporate=True).where(Client.id == world.member.id).execute()
    first_car = add_session(world.member, world.stand_a, world.tariff_version)
    second_car = add_session(world.member, world.stand_b, world.tariff_version)
    Session.update(credential_kind="card", credential_value="04AA").where(
        Session.id == first_car.id
    ).execute()
    Session.update(credential_kind="card", credential_value="04BB").where(
        Session.id == second_car.id
    ).execute()
    assert failing("open_sessions") == []

    same_card = add_session(world.member, world.stand_b, world.tariff_version)
    Session.update(credential_kind="card", credential_value="04AA").where(
        Session.id == same_card.id
    ).execute()
    found = failing("open_sessions")
    assert [v.objects["session"] for v in found] == [[first_car.id, same_card.id]]
