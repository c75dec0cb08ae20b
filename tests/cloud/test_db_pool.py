"""The central app's PostgreSQL pool (cloud/db.py, peewee's ``playhouse.pool``): a connection
the server ended while it sat in the pool (a restart, a failover) is replaced on check-out
instead of failing the request that gets it. peewee's pool asks the server on check-out."""

from __future__ import annotations

import time

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from cloud.db import open_database, release
from tests.conftest import need


def _ended(admin_url: str, pid: int) -> None:
    """End backend ``pid`` as a server restart would, and wait until it is gone."""
    admin = open_database(admin_url)
    try:
        admin.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        while admin.execute_sql(alive, (pid,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        admin.close()


@pytest.mark.postgresql
def test_a_pooled_connection_the_server_ended_is_replaced_on_check_out(
    postgres_schema_url: str | None,
) -> None:
    need(postgres_schema_url is not None, "PostgreSQL")
    assert postgres_schema_url is not None
    database = open_database(postgres_schema_url, pooled=True)
    assert isinstance(database, PooledPostgresqlDatabase)
    try:
        database.connect()
        first = database.connection().get_backend_pid()
        database.close()  # back to the pool, idle
        _ended(postgres_schema_url, first)

        database.connect()
        assert database.execute_sql("SELECT 1").fetchone() == (1,)
        assert database.connection().get_backend_pid() != first
        database.close()

        database.connect()  # a healthy idle connection is reused
        second = database.connection().get_backend_pid()
        database.close()
        database.connect()
        assert database.connection().get_backend_pid() == second
        database.close()
    finally:
        release(database)
