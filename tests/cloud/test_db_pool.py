"""The central app's PostgreSQL pool (cloud/db.py, peewee's ``playhouse.pool``): a connection
the server ended while it sat idle in the pool (a restart, a failover) is replaced on check-out
instead of failing the request that gets it: the pool asks the server on check-out, unless the
connection came back moments ago (``POOL_PING_IDLE_S``), which spares a busy service a round
trip a request."""

from __future__ import annotations

import time

import pytest
from playhouse.pool import PooledPostgresqlDatabase

import cloud.db
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
    postgres_schema_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(postgres_schema_url is not None, "PostgreSQL")
    assert postgres_schema_url is not None
    monkeypatch.setattr(cloud.db, "POOL_PING_IDLE_S", 0.2)
    database = open_database(postgres_schema_url, pooled=True)
    assert isinstance(database, PooledPostgresqlDatabase)
    try:
        database.connect()
        first = database.connection().get_backend_pid()
        database.close()  # back to the pool, idle
        _ended(postgres_schema_url, first)
        time.sleep(0.3)  # idle past the ping threshold

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


@pytest.mark.postgresql
def test_a_connection_back_moments_ago_is_handed_out_without_a_round_trip(
    postgres_schema_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(postgres_schema_url is not None, "PostgreSQL")
    assert postgres_schema_url is not None
    monkeypatch.setattr(cloud.db, "POOL_PING_IDLE_S", 0.5)
    database = open_database(postgres_schema_url, pooled=True)
    pings: list[int] = []
    ask = database._adapter.is_connection_closed
    monkeypatch.setattr(
        database._adapter, "is_connection_closed", lambda conn: pings.append(1) or ask(conn)
    )
    try:
        for _request in range(5):
            database.connect()
            assert database.execute_sql("SELECT 1").fetchone() == (1,)
            database.close()
        assert pings == []
        time.sleep(0.6)
        database.connect()
        database.close()
        assert pings == [1]
    finally:
        release(database)
