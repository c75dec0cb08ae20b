"""The scratch PostgreSQL schema a bench script works in, dropped when it is done."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import peewee

from cloud.db import open_database

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
