"""The scratch PostgreSQL schema a bench script works in, dropped when it is done."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from cloud.db import db_proxy, open_database

POSTGRES_URL = os.environ.get(
    "AQUASTAND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """The URL of a new private schema in ``POSTGRES_URL`` (None when PostgreSQL does not
    answer); the schema and all in it are dropped afterwards."""
    admin = open_database(POSTGRES_URL)
    try:
        admin.connect()
    except peewee.OperationalError:
        yield None
        return
    schema = f"aqbench_{uuid.uuid4().hex[:10]}"
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def on_each_database(run: Callable[[str, str, Path], str]) -> list[str]:
    """``run(db, url, data_dir)`` on an SQLite file in a temporary directory, then in a scratch
    PostgreSQL schema (a line says so when PostgreSQL does not answer); the lines it returned."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'central.sqlite3'}"
        lines.append(run("sqlite", sqlite_url, Path(tmp) / "data-sqlite"))
        with postgres_schema() as url:
            if url is None:
                print(f"  postgresql: not reachable at {POSTGRES_URL}, skipped")
            else:
                try:
                    lines.append(run("postgresql", url, Path(tmp) / "data-pg"))
                finally:
                    db_proxy.obj.close()
    return lines
