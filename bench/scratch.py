"""The scratch PostgreSQL schema a bench script or the test suite works in, dropped when it is
done: the one helper for it (bench scripts import ``scratch``, the tests ``bench.scratch``)."""

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
def postgres_schema(
    server_url: str = POSTGRES_URL, prefix: str = "aqbench", keep: bool = False
) -> Iterator[str | None]:
    """The URL of a new private schema named ``prefix_…`` in the database at ``server_url``
    (None when PostgreSQL does not answer there); the schema and all in it are dropped
    afterwards, unless ``keep``.

        with postgres_schema() as url:
            app = create_app(data_dir=tmp, database_url=url)
    """
    admin = open_database(server_url)
    try:
        admin.connect()
    except peewee.OperationalError:
        yield None
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{server_url}?options=-csearch_path%3D{schema}"
    finally:
        if not keep:
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
