"""Data directories and database files that only their owner can read, whatever the umask
(both sides keep their SQLite databases, keys and tokens in a data directory).

    make_private_dir(data_dir)               # 0700 when it is created
    make_private_file(data_dir / "x.db")     # an empty 0600 file, before SQLite opens it

An existing directory or file is left as it is: an operator may have set its mode on purpose.
SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode, so
a database file made here keeps them owner-only too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` owner-only (its missing parents as usual) unless it exists."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:  # made meanwhile by another process: theirs
        return
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is cut by the umask


def make_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only unless it exists (its directory as above)."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # os.open's mode is cut by the umask
    finally:
        os.close(fd)
