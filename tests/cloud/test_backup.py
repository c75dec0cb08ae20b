"""``aquastand-cloud backup`` and ``restore`` as an operator runs them, on SQLite and on
PostgreSQL (pg_dump / pg_restore of a private schema): a real round trip (data made, backed up,
changed and dropped, restored, back as it was) and the refusals that leave the database alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cloud import cli, migrations
from cloud.db import db_proxy
from cloud.migrations import latest_version
from cloud.models import Client, Credential, SchemaVersion, Site
from tests.cloud.freshdb import bound, empty_database_url


@pytest.fixture
def central(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of the test's engine, named to the commands by the environment as on
    a host, with the current schema made by ``init``."""
    previous = db_proxy.obj
    with empty_database_url(database_url, tmp_path) as url:
        monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("AQUASTAND_DATABASE_URL", url)
        monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
        assert run("init").exit_code == 0
        yield url
        if db_proxy.obj is not None and db_proxy.obj is not previous:
            db_proxy.obj.close()
        db_proxy.initialize(previous)


def run(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), input=answer)


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with bound(url):
        return {
            "sites": [(s.id, s.name) for s in Site.select().order_by(Site.id)],
            "clients": [(c.id, c.kind, c.name) for c in Client.select().order_by(Client.id)],
            "credentials": [(c.id, c.value) for c in Credential.select().order_by(Credential.id)],
        }


def _make_data(url: str) -> None:
    with bound(url):
        site = Site.create(name="Мойка на Ленина")
        for number in range(1, 6):
            client = Client.create(kind="member", name=f"Клиент {number}", home_site=site)
            Credential.create(client=client, kind="plate", value=f"А{number:03d}ВС77")


def _damage(url: str) -> None:
    with bound(url):
        Credential.delete().where(Credential.id > 2).execute()
        Client.delete().where(Client.id > 2).execute()
        Site.update(name="Переименована").execute()
        Site.create(name="Лишняя")


def test_a_backup_restored_brings_back_the_data_as_it_was(central: str, tmp_path: Path) -> None:
    _make_data(central)
    before = _snapshot(central)
    file = tmp_path / "backups" / "central.backup"
    file.parent.mkdir()

    made = run("backup", str(file))
    assert made.exit_code == 0, made.output
    assert f"(schema version {latest_version()}) to {file}" in made.output
    assert file.stat().st_mode & 0o077 == 0  # staff password hashes: owner-only

    _damage(central)
    assert _snapshot(central) != before

    restored = run("restore", str(file), "--yes")
    assert restored.exit_code == 0, restored.output
    assert f"restored {file} (schema version {latest_version()})" in restored.output
    assert "every table replaced" in restored.output
    assert _snapshot(central) == before
    with bound(central):  # ids go on after the restored ones (PostgreSQL: sequences restored)
        site = Site.get()
        assert Client.create(kind="guest", home_site=site).id == 6


def test_restore_asks_first_and_a_no_changes_nothing(central: str, tmp_path: Path) -> None:
    _make_data(central)
    file = tmp_path / "central.backup"
    assert run("backup", str(file)).exit_code == 0
    _damage(central)
    damaged = _snapshot(central)

    result = run("restore", str(file), answer="n\n")

    assert result.exit_code == 1
    assert "Replace everything in" in result.output
    assert _snapshot(central) == damaged


def test_restore_refuses_a_database_newer_than_the_backup(central: str, tmp_path: Path) -> None:
    _make_data(central)
    file = tmp_path / "central.backup"
    assert run("backup", str(file)).exit_code == 0
    _damage(central)
    with bound(central):
        SchemaVersion.create(version=latest_version() + 1)
    damaged = _snapshot(central)

    result = run("restore", str(file), "--yes")

    assert result.exit_code == 1
    assert (
        f"the database has schema version {latest_version() + 1}, newer than the backup's "
        f"({latest_version()})"
    ) in result.output
    assert "nothing was changed" in result.output
    assert _snapshot(central) == damaged


def test_restore_refuses_a_backup_newer_than_the_program(
    central: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_data(central)
    file = tmp_path / "central.backup"
    assert run("backup", str(file)).exit_code == 0
    _damage(central)
    damaged = _snapshot(central)
    made_with = latest_version()
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:-1])  # an older program

    result = run("restore", str(file), "--yes")

    assert result.exit_code == 1
    assert (
        f"the backup has schema version {made_with}, newer than this program ({latest_version()})"
    ) in result.output
    assert _snapshot(central) == damaged


def test_an_older_backup_is_restored_and_the_operator_told_to_upgrade(
    central: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_data(central)
    before = _snapshot(central)
    file = tmp_path / "central.backup"
    assert run("backup", str(file)).exit_code == 0
    made_with = latest_version()
    # A newer program, one migration ahead of the backup.
    later = [*migrations.MIGRATIONS, (made_with + 1, lambda database: None)]
    monkeypatch.setattr(migrations, "MIGRATIONS", later)

    result = run("restore", str(file), "--yes")

    assert result.exit_code == 0, result.output
    assert (
        f"the schema is version {made_with}, this program's is {made_with + 1}: "
        "run `aquastand-cloud init` to upgrade it"
    ) in result.output
    assert _snapshot(central) == before
    upgraded = run("init")
    assert upgraded.output.strip() == f"upgraded schema {made_with} -> {made_with + 1}"


def test_restore_refuses_a_file_that_is_no_backup(central: str, tmp_path: Path) -> None:
    _make_data(central)
    before = _snapshot(central)
    file = tmp_path / "notes.txt"
    file.write_text("not a backup\n")

    result = run("restore", str(file), "--yes")

    assert result.exit_code == 1
    assert "is not an Aquastand backup" in result.output
    assert _snapshot(central) == before


def test_backup_of_a_database_without_schema_is_refused(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = db_proxy.obj
    with empty_database_url(database_url, tmp_path) as url:
        monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("AQUASTAND_DATABASE_URL", url)
        monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
        try:
            result = run("backup", str(tmp_path / "x.backup"))
        finally:
            db_proxy.initialize(previous)

    assert result.exit_code == 1
    assert "the database has no schema: nothing to back up" in result.output
    assert not (tmp_path / "x.backup").exists()


def test_backup_into_a_missing_directory_is_refused(central: str, tmp_path: Path) -> None:
    result = run("backup", str(tmp_path / "nowhere" / "central.backup"))

    assert result.exit_code == 1
    assert f"no directory {tmp_path / 'nowhere'} to write the backup in" in result.output
