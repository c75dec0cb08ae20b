"""The stand's data directory 0700 and its database files 0600 when created, whatever the
umask (issue 19)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.e2e.conftest import PIN, serve_stand, stand_staff
from tests.edge.conftest import directory_doc
from tests.edge.test_pin_lock import try_pin


def test_the_stands_data_directory_and_database_are_owner_only(tmp_path: Path) -> None:
    """Whatever the umask: the directory 0700, the database and its WAL files 0600 (they
    hold PIN hashes and clients' details), the screen's session key 0600."""
    before = os.umask(0)
    try:
        with serve_stand(tmp_path / "stand", directory_doc(staff=stand_staff())) as screen:
            assert try_pin(screen.url, PIN) == 302  # a write: the WAL is there
            data = tmp_path / "stand"
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}
    finally:
        os.umask(before)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {"edge.sqlite3", "edge.sqlite3-wal", "edge.sqlite3-shm", "screen_secret_key"} <= set(
        modes
    )
    assert {name: bits for name, bits in modes.items() if bits & 0o077} == {}
