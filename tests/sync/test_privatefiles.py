"""Data directories 0700 and database files 0600 when created, whatever the umask; existing
ones are left as their operator set them (issue 19)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.privatefiles import make_private_dir, make_private_file


@pytest.fixture(params=[0o000, 0o022])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask set to an open (0) and the usual (022) value for the test."""
    before = os.umask(request.param)
    yield int(request.param)
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_directory_and_file_are_owner_only(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "a" / "data"
    make_private_file(data / "x.db")
    assert mode(data) == 0o700
    assert mode(data / "x.db") == 0o600
    assert (data / "x.db").read_bytes() == b""


def test_existing_ones_are_left_as_they_are(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o750)
    (data / "x.db").write_bytes(b"kept")
    (data / "x.db").chmod(0o640)
    make_private_dir(data)
    make_private_file(data / "x.db")
    assert (mode(data), mode(data / "x.db")) == (0o750, 0o640)
    assert (data / "x.db").read_bytes() == b"kept"
