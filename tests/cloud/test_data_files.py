"""The central data directory 0700 and its SQLite files 0600 when created, whatever the umask
(the README's first-owner example left them world-readable)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud import create_app
from cloud.migrations import upgrade
from cloud.staff.service import create_staff


@pytest.fixture
def open_umask() -> Iterator[None]:
    before = os.umask(0)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_and_its_files_are_owner_only(
    tmp_path: Path, database_url: str, open_umask: None
) -> None:
    data = tmp_path / "fresh" / "aquastand"
    on_sqlite = database_url.startswith("sqlite")
    url = "" if on_sqlite else database_url  # "": the default SQLite file in the data dir
    app = create_app(data_dir=data, database_url=url)
    database = app.extensions["aquastand_db"]
    upgrade(database)
    with app.app_context():
        create_staff(name="Владелец", phone="+79000000004", role="owner", password="k9-owner-pass")
    # Read with the database open: its WAL and shared-memory files are there too.
    modes = {path.name: mode(path) for path in data.iterdir()}
    database.close()

    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600
    if on_sqlite:
        assert {"aquastand.sqlite3", "aquastand.sqlite3-wal", "aquastand.sqlite3-shm"} <= set(modes)
    assert {name: bits for name, bits in modes.items() if bits & 0o077} == {}
