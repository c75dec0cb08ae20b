"""An empty database of the same kind as a test's: a new SQLite file, or a new PostgreSQL
schema dropped afterwards, so schema tests never touch the suite's shared schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from bench.scratch import postgres_schema
from cloud.db import bind, db_proxy
from tests.cloud.conftest import POSTGRES_URL


@contextmanager
def empty_database_url(like_url: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database on the engine of ``like_url``."""
    if like_url.startswith("sqlite"):
        yield f"sqlite:///{directory / f'empty-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    with postgres_schema(POSTGRES_URL, prefix="aqempty") as url:
        assert url is not None, f"PostgreSQL does not answer at {POSTGRES_URL}"
        yield url


@contextmanager
def bound(url: str) -> Iterator[peewee.Database]:
    """The models bound to the database at ``url`` for a while, then to the previous one."""
    previous = db_proxy.obj
    database = bind(url)
    try:
        yield database
    finally:
        database.close()
        db_proxy.initialize(previous)
