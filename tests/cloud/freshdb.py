"""An empty database of the same kind as a test's: a new SQLite file, or a new PostgreSQL
schema dropped afterwards, so schema tests never touch the suite's shared schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from cloud.db import bind, db_proxy, open_database
from tests.cloud.conftest import POSTGRES_URL


@contextmanager
def empty_database_url(like_url: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database on the engine of ``like_url``."""
    if like_url.startswith("sqlite"):
        yield f"sqlite:///{directory / f'empty-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    schema = f"aqempty_{uuid.uuid4().hex[:10]}"
    admin = open_database(POSTGRES_URL)
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


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
