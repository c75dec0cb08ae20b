"""Opening the stand's database file: pragmas, tables, columns added since, transactions,
the plain-SQL helpers (``edge.store.sql``) and the single values kept in ``StoreMeta``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import peewee as pw

from edge.store.models import M, Tables
from edge.store.sql import META_SQL, SET_META_SQL
from sync.privatefiles import make_private_file

SCHEMA_VERSION = 3
DIRECTORY_CURSOR_KEY = "directory_cursor"  # the sync agent's cursor, kept with the copy
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    # The stand copies the log into the database every second on a thread and connection of
    # its own (``Store.checkpoint``, never on the engine's worker, ahead of a tap); a commit
    # does it only if the log grows past this many pages (SQLite's default is 1,000, which a
    # tap's commit reached every hundred taps or so).
    "wal_autocheckpoint": 10000,
}


def _sql_literal(field: pw.Field) -> str:
    """The SQL literal of ``field``'s default, for a NOT NULL column added to old rows."""
    default = field.default
    return str(int(default)) if isinstance(field, pw.IntegerField) else f"'{default}'"


class StoreBase:
    """The database file and its own copy of the tables (``tables``); the other parts of
    :class:`~edge.store.Store` build on these."""

    def __init__(self, path: Path):
        make_private_file(path)  # the directory 0700, the file 0600 when new (and so its WAL)
        self.path = path
        self.database = pw.SqliteDatabase(str(path), pragmas=PRAGMAS, lock_type="IMMEDIATE")
        self.tables = Tables(self.database)
        outbox = self.tables.Outbox
        with self.atomic():
            self.database.create_tables(self.tables.all, safe=True)
            self._add_missing_columns()
            if 0 < self._int("schema_version", 0) < SCHEMA_VERSION:
                # A copy without what the directory added since (client uuids, open sessions
                # elsewhere) is filled in only by a walk from the start: walk again.
                self._set(DIRECTORY_CURSOR_KEY, "0")
            self._set("schema_version", str(SCHEMA_VERSION))
            last_seq = outbox.select(pw.fn.MAX(outbox.seq)).scalar() or 0
            self._set("next_seq", str(max(self._int("next_seq", 1), last_seq + 1)))

    def _add_missing_columns(self) -> None:
        """Bring a database of an older program up to these models: columns added since
        (e.g. a session's credential,
        bonus points and discounts) are added with their defaults, keeping the rows."""
        for model in self.tables.all:
            table = model._meta.table_name
            present = {column.name for column in self.database.get_columns(table)}
            for field in model._meta.sorted_fields:
                if field.column_name in present:
                    continue
                kind = "INTEGER" if isinstance(field, pw.IntegerField) else "TEXT"
                rest = "" if field.null else f" NOT NULL DEFAULT {_sql_literal(field)}"
                self.database.execute_sql(
                    f'ALTER TABLE "{table}" ADD COLUMN "{field.column_name}" {kind}{rest}'
                )

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction (nested calls are savepoints)."""
        with self.database.atomic():
            yield

    # --- plain SQL for the tap (see ``edge.store.sql``) -------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row of one of the tap's lookups (see ``select_sql``), or None."""
        row: tuple[Any, ...] | None = self.database.execute_sql(sql, params).fetchone()
        return row

    def _insert(self, row: M) -> M:
        """Insert ``row``, a new instance (its defaults filled), and return it with its
        automatic id if it has one. Plain SQL, as the tap's lookups (see ``select_sql``):
        peewee's ``create`` builds the statement afresh on every call."""
        meta = row._meta
        fields = [field for field in meta.sorted_fields if field.name in row.__data__]
        columns = ", ".join(f'"{field.column_name}"' for field in fields)
        marks = ", ".join("?" for _ in fields)
        sql = f'INSERT INTO "{meta.table_name}" ({columns}) VALUES ({marks})'  # noqa: S608
        values = [field.db_value(row.__data__[field.name]) for field in fields]
        cursor = self.database.execute_sql(sql, values)
        if meta.primary_key.name not in row.__data__:
            setattr(row, meta.primary_key.name, cursor.lastrowid)
        row._dirty.clear()
        return row

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, waiting for no one (PASSIVE): it
        takes no write lock, so on another thread (its own connection: connections are per
        thread) it runs beside the commits, which it never delays, however long its fsyncs."""
        self.database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")

    # --- meta -------------------------------------------------------------------------------

    def _get(self, key: str) -> str | None:
        row = self._fetch(META_SQL, (key,))
        return None if row is None else str(row[0])

    def _int(self, key: str, default: int) -> int:
        value = self._get(key)
        return default if value is None or value == "" else int(value)

    def _set(self, key: str, value: str) -> None:
        self.database.execute_sql(SET_META_SQL, (key, value))

    def directory_version(self) -> int:
        """The version of the directory copy (0: none loaded)."""
        return self._int("directory_version", 0)

    def directory_loaded_at(self) -> datetime | None:
        value = self._get("directory_loaded_at")
        return None if value is None else datetime.fromisoformat(value)

    def directory_cursor(self) -> int:
        """The sync agent's directory cursor stored with the copy (0: none)."""
        return self._int(DIRECTORY_CURSOR_KEY, 0)

    def forget_cursor(self) -> None:
        """Make the agent's next poll a walk from cursor 0 (the copy was replaced otherwise,
        or the central service restored), in the caller's transaction."""
        self._set(DIRECTORY_CURSOR_KEY, "0")

    def site_id(self) -> int:
        return self._int("site_id", 0)

    def qr_public_key(self) -> bytes | None:
        value = self._get("qr_public_key_pem")
        return None if value is None else value.encode("ascii")

    def default_tariff_id(self) -> int | None:
        value = self._int("default_tariff_id", 0)
        return value or None

    def next_seq(self) -> int:
        return self._int("next_seq", 1)
