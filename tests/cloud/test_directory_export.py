"""The directory a site's stands work from: built from the central database, exported to a
file by ``aquastand-cloud export-directory``, and valid for the shared contract."""

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
from cloud.clients.credentials import issue_qr
from cloud.clients.qrkeys import public_key
from cloud.clients.service import delete_client
from cloud.clock import app_now
from cloud.db import db_proxy
from cloud.errors import NotFound
from cloud.ledger.service import record_topup
from cloud.models import Client, Credential, LedgerEntry, TariffVersion, User
from cloud.staff.service import create_staff
from cloud.standsync.directory import build_directory
from sync.directory import Directory, validate_directory
from tests.cloud.conftest import PASSWORD, World


def export(app: Flask, world: World, **kwargs: Any) -> Directory:
    document = build_directory(world.site_a.id, app.config["AQ"], app_now(), **kwargs)
    return validate_directory(json.loads(json.dumps(document)))


def credentials_of(directory: Directory, client_id: int) -> set[tuple[str, str, bool]]:
    return {(c.kind, c.value, c.lost) for c in directory.credentials if c.client_id == client_id}


def test_directory_validates_and_holds_the_members_card_and_plate(app: Flask, world: World) -> None:
    directory = export(app, world)

    assert directory.site_id == world.site_a.id
    assert credentials_of(directory, world.member.id) == {
        ("card", "04A1B2C3D4E5F6", False),
        ("plate", "А123ВС77", False),
    }
    member = next(c for c in directory.clients if c.id == world.member.id)
    assert (member.kind, member.name, member.phones) == ("member", "Иван Петров", ("+79161234567",))
    assert directory.qr_public_key_pem == public_key(app.config["AQ"]).decode()


def test_clients_of_every_site_are_included_but_deleted_ones_are_not(
    app: Flask, world: World
) -> None:
    delete_client(None, world.guest)

    directory = export(app, world)

    client_ids = {c.id for c in directory.clients}
    assert world.member.id in client_ids
    assert world.other_site_client.id in client_ids
    assert world.guest.id not in client_ids
    assert "О777ОО99" not in {c.value for c in directory.credentials}


def test_lost_card_and_blocked_client_travel_down(app: Flask, world: World) -> None:
    Credential.update(lost=True).where(Credential.value == "04A1B2C3D4E5F6").execute()
    Client.update(blocked=True).where(Client.id == world.guest.id).execute()

    directory = export(app, world)

    assert ("card", "04A1B2C3D4E5F6", True) in credentials_of(directory, world.member.id)
    assert next(c for c in directory.clients if c.id == world.guest.id).blocked


def test_reissued_qr_revokes_the_old_token_id(app: Flask, world: World) -> None:
    config = app.config["AQ"]
    issue_qr(None, world.member, config)
    first = Credential.get(Credential.kind == "qr").value
    issue_qr(None, world.member, config)
    current = Credential.get((Credential.kind == "qr") & Credential.unlinked_at.is_null()).value

    directory = export(app, world)

    assert directory.revoked_qr_token_ids == (first,)
    assert ("qr", current, False) in credentials_of(directory, world.member.id)


def test_balances_come_with_the_ledger_position_they_reflect(app: Flask, world: World) -> None:
    record_topup(None, world.member, 30000, "cash")
    last = record_topup(None, world.member, 20000, "card")
    record_topup(None, world.other_site_client, 1000, "cash")

    directory = export(app, world)

    by_id = {c.id: c for c in directory.clients}
    assert (by_id[world.member.id].balance_kopecks, by_id[world.member.id].ledger_position) == (
        50000,
        last.id,
    )
    assert (by_id[world.guest.id].balance_kopecks, by_id[world.guest.id].ledger_position) == (0, 0)
    assert LedgerEntry.select().count() == 3


def test_staff_are_the_sites_attendants_and_every_manager_with_a_pin(
    app: Flask, world: World
) -> None:
    other_attendant = create_staff(
        name="Чужой",
        phone="+79000000011",
        role="attendant",
        password=PASSWORD,
        pin="555555",
        site_names=[world.site_b.name],
    )
    remote_operator = create_staff(
        name="Оператор Б",
        phone="+79000000012",
        role="operator",
        password=PASSWORD,
        pin="666666",
        site_names=[world.site_b.name],
    )
    no_pin = create_staff(
        name="Без PIN", phone="+79000000013", role="administrator", password=PASSWORD
    )
    User.update(active=False).where(User.id == world.users["administrator"].id).execute()

    directory = export(app, world)

    staff = {s.id: s for s in directory.staff}
    assert set(staff) == {
        world.users["attendant"].id,
        world.users["operator"].id,
        world.users["owner"].id,
        remote_operator.id,
    }
    attendant = staff[world.users["attendant"].id]
    assert attendant.pin_hash == User.get_by_id(attendant.id).pin_hash
    assert attendant.pin_hash.startswith("pbkdf2:")
    assert other_attendant.id not in staff and no_pin.id not in staff


def test_tariffs_carry_every_version_and_the_stand_default(app: Flask, world: World) -> None:
    later = TariffVersion.create(
        tariff=world.tariff,
        effective_from=datetime.now(UTC) + timedelta(days=3),
        member_per_minute=1200,
        guest_per_minute=1800,
    )

    directory = export(app, world)

    (tariff,) = directory.tariffs
    assert [v.id for v in tariff.versions] == [world.tariff_version.id, later.id]
    assert tariff.versions[0].rates == world.tariff_version.rates()
    assert directory.default_tariff_id == world.tariff.id


def test_a_missing_site_or_tariff_is_not_found(app: Flask, world: World) -> None:
    with pytest.raises(NotFound):
        build_directory(world.site_b.id + 100, app.config["AQ"], app_now())
    with pytest.raises(NotFound):
        build_directory(
            world.site_a.id, app.config["AQ"], app_now(), default_tariff_id=world.tariff.id + 1
        )


@pytest.fixture
def command_env(
    app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """The command's environment pointed at the test's database; the models bound back after."""
    previous = db_proxy.obj
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    yield
    if db_proxy.obj is not previous:
        db_proxy.obj.close()
    db_proxy.initialize(previous)


def test_export_command_writes_an_owner_only_file(
    world: World, command_env: None, tmp_path: Path
) -> None:
    target = tmp_path / "directory.json"
    target.write_text("old")
    target.chmod(0o644)

    result = CliRunner().invoke(
        cli.main, ["export-directory", "--site", world.site_a.name, "-o", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert target.stat().st_mode & 0o777 == 0o600
    directory = validate_directory(json.loads(target.read_text(encoding="utf-8")))
    assert world.member.id in {c.id for c in directory.clients}
    assert "written to" in result.output


def test_export_command_prints_to_stdout_and_refuses_unknown_names(
    world: World, command_env: None
) -> None:
    printed = CliRunner().invoke(
        cli.main, ["export-directory", "--site", world.site_a.name, "--default-tariff", "Стандарт"]
    )
    unknown_site = CliRunner().invoke(cli.main, ["export-directory", "--site", "Нет такой"])
    unknown_tariff = CliRunner().invoke(
        cli.main, ["export-directory", "--site", world.site_a.name, "--default-tariff", "Нет"]
    )

    assert printed.exit_code == 0, printed.output
    assert validate_directory(json.loads(printed.stdout)).default_tariff_id == world.tariff.id
    assert unknown_site.exit_code == 1 and "no site named" in unknown_site.output
    assert unknown_tariff.exit_code == 1 and "no tariff named" in unknown_tariff.output
