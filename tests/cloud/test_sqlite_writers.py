"""Two writers of the central service's SQLite database (gunicorn runs several workers): a
transaction that reads and then writes must not fail because the other wrote meanwhile. With
SQLite's default deferred BEGIN it did ("database is locked" at once, a 500 that Schemathesis
found with two workers); cloud.db opens SQLite with BEGIN IMMEDIATE, so the second writer
waits at its BEGIN instead."""

from __future__ import annotations

import threading
from pathlib import Path

import peewee as pw

from cloud.db import open_database

COMMIT_WAIT_S = 1.0


def test_a_read_then_write_transaction_survives_another_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'writers.sqlite3'}"
    setup = open_database(url)
    setup.execute_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
    setup.execute_sql("INSERT INTO counter VALUES (1, 0)")
    setup.close()
    first_read, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def increment(database: pw.Database, before_write: threading.Event | None) -> None:
        try:
            with database.atomic():
                (value,) = database.execute_sql("SELECT value FROM counter").fetchone()
                if before_write is None:
                    first_read.set()
                    # Deferred BEGIN: the other writer commits meanwhile; IMMEDIATE: it waits.
                    second_done.wait(COMMIT_WAIT_S)
                database.execute_sql("UPDATE counter SET value = ?", (value + 1,))
        except BaseException as error:  # the assertion below names it
            errors.append(error)
        finally:
            database.close()

    first = threading.Thread(target=increment, args=(open_database(url), None))
    first.start()
    first_read.wait(COMMIT_WAIT_S)
    second_db = open_database(url)
    increment(second_db, first_read)
    second_done.set()
    first.join()

    assert errors == []
    check = open_database(url)
    assert check.execute_sql("SELECT value FROM counter").fetchone() == (2,)  # none lost
    check.close()
