"""The database's life: one peewee proxy, bound by the app factory or a command to SQLite or PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import peewee
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase

# PostgreSQL's integer columns (every id) end here: a larger number is refused before a query.
MAX_ROW_ID = 2**31 - 1

db_proxy = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "full",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTimeField(peewee.DateTimeField):
    """A timestamp stored as naive UTC and always returned timezone-aware (UTC)."""

    def db_value(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC field")
        return super().db_value(value.astimezone(UTC).replace(tzinfo=None))

    def python_value(self, value: object) -> datetime | None:
        value = super().python_value(value)
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


_is_rhs_empty = peewee.Expression._is_rhs_empty


def _subquery_never_empty(self: peewee.Expression, rhs: object, ctx: peewee.Context) -> bool:
    """Whether ``x IN rhs`` has nothing on its right. peewee learns it of a subquery by
    compiling it a second time and comparing the text with ``()``, which a subquery never is;
    nested subqueries were compiled four and eight times over, half the Python of a stand's
    directory head (cProfile, bench/fleet.py). A subquery is answered without compiling it."""
    return False if isinstance(rhs, peewee.SelectBase) else _is_rhs_empty(self, rhs, ctx)


peewee.Expression._is_rhs_empty = _subquery_never_empty  # type: ignore[method-assign]


POOL_MAX_CONNECTIONS = 20  # per process; a request beyond them waits up to POOL_WAIT_S
POOL_WAIT_S = 10
POOL_STALE_S = 300  # an idle connection older than this is closed, not reused
POOL_PING_IDLE_S = 2.0  # a connection back in the pool longer than this is pinged when taken


class RecentlyUsedPool(PooledPostgresqlDatabase):
    """peewee's pool, without the ``SELECT 1`` round trip it makes each time it hands a
    connection out when that connection came back moments ago, healthy and idle: under load
    every request took one (a twentieth of the service's time, bench/fleet.py). A connection
    idle longer than ``POOL_PING_IDLE_S`` is pinged as before, so one broken by a database
    restart while the service was quiet is found before use; under load, a restart fails at
    most the one request each connection serves next (psycopg then marks it closed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._returned: dict[int, float] = {}

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        if close_conn:
            self._returned.pop(id(conn), None)
        else:
            if len(self._returned) > 4 * POOL_MAX_CONNECTIONS:  # ids of closed ones: forget
                self._returned.clear()
            self._returned[id(conn)] = time.monotonic()
        super()._close(conn, close_conn)

    def _is_closed(self, conn: Any) -> bool:
        returned = self._returned.pop(id(conn), None)
        recent = returned is not None and time.monotonic() - returned < POOL_PING_IDLE_S
        if recent and not conn.closed and self._adapter.txn_status(conn) == self._adapter.txn_idle:
            return False
        return bool(super()._is_closed(conn))


register_database(RecentlyUsedPool, "postgresql+recentpool")


def open_database(url: str, pooled: bool = False) -> peewee.Database:
    """Open (not yet connect) the database at ``url`` (``sqlite:///path`` or ``postgresql://...``).

    ``pooled`` (the app's database): PostgreSQL connections are kept for the next request
    (``playhouse.pool``) instead of opened per request. A new connection costs PostgreSQL a
    backend process; a stand's batch of events paid about a third of its time for it
    (bench/sync_ingest.py). ``close()`` returns a connection to the pool, ``release`` closes
    them all."""
    if url.startswith("sqlite"):
        # Transactions take the write lock when they begin: one that read first and then
        # writes would otherwise fail at once ("database is locked", a 500) whenever another
        # process (the service runs several workers) wrote meanwhile; waiting at BEGIN is
        # what busy_timeout then covers.
        return connect(url, pragmas=SQLITE_PRAGMAS, autoconnect=True, lock_type="IMMEDIATE")
    scheme, sep, rest = url.partition("://")
    if pooled and sep and scheme in ("postgres", "postgresql"):
        return connect(
            f"postgresql+recentpool://{rest}",
            autoconnect=True,
            max_connections=POOL_MAX_CONNECTIONS,
            stale_timeout=POOL_STALE_S,
            timeout=POOL_WAIT_S,
        )
    return connect(url, autoconnect=True)


def bind(url: str, pooled: bool = False) -> peewee.Database:
    database = open_database(url, pooled)
    db_proxy.initialize(database)
    return database


def release(database: peewee.Database) -> None:
    """Close the database's connections, pooled ones too (an app that is done)."""
    if not database.is_closed():
        database.close()
    if isinstance(database, PooledDatabase):
        database.close_all()


def is_postgresql() -> bool:
    return isinstance(db_proxy.obj, peewee.PostgresqlDatabase)


def any_of(field: peewee.Field, values: Iterable[Any]) -> peewee.Expression:
    """``field IN values``; on PostgreSQL ``field = ANY(array)``, the values one array
    parameter: a query naming hundreds of rows (a stand's batch) is built in a fifth of the
    time peewee takes for as many parameters. Values as the database stores them (ids, uuids:
    no ``db_value`` conversion is applied)."""
    wanted = list(values)
    if wanted and is_postgresql():
        return field == peewee.fn.ANY(peewee.Value(wanted, converter=False, unpack=False))
    return field.in_(wanted)


def lock_rows(model: type[peewee.Model], ids: Iterable[int]) -> None:
    """Hold these rows of ``model`` until the transaction ends (PostgreSQL; on SQLite a write
    transaction holds the whole database from its first write), taken in id order so that two
    transactions locking rows in common never wait for each other in a circle. For a read of
    a client's money or points that a write depends on: a stand's batch, a payment, a manual
    points operation."""
    wanted = sorted(set(ids))
    if wanted and is_postgresql():
        query = model.select(model.id).where(any_of(model.id, wanted)).order_by(model.id)
        query.for_update().execute()


def insert_rows(
    model: type[peewee.Model],
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str] = (),
    chunk: int = 250,
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (by field name, every row with the same keys) with SQL written here: for
    bulk writes whose cost peewee's query builder would set (cloud/standsync/ingest/,
    bench/sync_ingest.py). Values go through each field's ``db_value``. On PostgreSQL the rows
    go as one JSON parameter typed by the table's own row type (``json_populate_recordset``):
    one statement whose text does not grow with the rows, parsed and planned in a fraction of
    a multi-row VALUES list's time; on SQLite up to ``chunk`` rows a statement.

    ``returning`` names fields to read back from the inserted rows (raw database values, in no
    particular order) where the database can (PostgreSQL, SQLite 3.35+); else the result is
    empty."""
    if not rows:
        return []
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    back = ""
    if returning and (is_postgresql() or peewee.sqlite3.sqlite_version_info >= (3, 35)):
        back = " RETURNING " + ", ".join(
            f'"{model._meta.fields[name].column_name}"' for name in returning
        )
    if is_postgresql():
        data = _json_rows(rows, fields)
        if data is not None:
            # Names from the model, values in the one JSON parameter.
            sql = (
                f'INSERT INTO "{model._meta.table_name}" ({columns}) '  # noqa: S608
                f'SELECT {columns} FROM json_populate_recordset(NULL::"{model._meta.table_name}", '
                f"{db_proxy.param}){back}"
            )
            cursor = db_proxy.execute_sql(sql, [data])
            return list(cursor.fetchall()) if back else []
    converters = list(zip(names, [field.db_value for field in fields], strict=True))
    row_sql = "(" + ", ".join([db_proxy.param] * len(fields)) + ")"
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        params = [convert(row[name]) for row in part for name, convert in converters]
        values = ", ".join([row_sql] * len(part))
        # Names from the model, values bound as parameters.
        sql = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES {values}{back}'  # noqa: S608
        cursor = db_proxy.execute_sql(sql, params)
        if back:
            found.extend(cursor.fetchall())
    return found


def _json_value(value: object) -> str:
    """A value JSON has no type for, as PostgreSQL reads it back into its column's type."""
    if isinstance(value, datetime | date | Decimal):
        return str(value)  # naive UTC for a timestamp: ``UtcDateTimeField.db_value``
    raise TypeError(type(value).__name__)


# The fields whose ``db_value`` gives back a value of this exact type unchanged (peewee's
# ``adapt`` of the type: ``int(value)``, ``str``, ``bool``), so it need not be called for one.
_KEPT_TYPES: tuple[tuple[type[peewee.Field], type], ...] = (
    (peewee.IntegerField, int),
    (peewee._StringField, str),
    (peewee.BooleanField, bool),
)


def _kept_type(field: peewee.Field) -> type | None:
    """The type whose values ``field.db_value`` returns as they are (``_KEPT_TYPES``), or None
    when every value goes through it (a field of another kind, or one that changes it)."""
    while isinstance(field, peewee.ForeignKeyField):
        if type(field).db_value is not peewee.ForeignKeyField.db_value:
            return None
        field = field.rel_field
    kind = type(field)
    if kind.db_value is not peewee.Field.db_value:
        return None
    for base, kept in _KEPT_TYPES:
        if isinstance(field, base) and kind.adapt is base.adapt:
            return kept
    return None


def _json_values(field: peewee.Field, values: list[Any]) -> list[Any]:
    """One column's values as JSON takes them: ``db_value`` of each, skipped when every value
    is one it returns unchanged (``_kept_type``); an aware UTC time as the naive UTC text
    ``UtcDateTimeField.db_value`` and ``_json_value`` make of it, without either call."""
    convert = field.db_value
    if isinstance(field, UtcDateTimeField):
        # str() of the naive time is its aware ISO form less "+00:00", made in half the time.
        return [
            value.isoformat(" ")[:-6]
            if type(value) is datetime and value.tzinfo is UTC
            else convert(value)
            for value in values
        ]
    kept = _kept_type(field)
    if kept is not None and set(map(type, values)) <= {kept, type(None)}:
        return values
    return list(map(convert, values))


def _json_rows(rows: Sequence[dict[str, Any]], fields: list[peewee.Field]) -> str | None:
    """The rows' database values as a JSON array of objects by column name, or None if a value
    would not survive JSON (bytes, say): the caller writes them another way. Converted a column
    at a time (``_json_values``): a stand's batch sends thousands of values."""
    names = [field.column_name for field in fields]
    columns = [_json_values(field, list(map(itemgetter(field.name), rows))) for field in fields]
    data = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    try:
        return json.dumps(data, default=_json_value, ensure_ascii=False)
    except TypeError:
        return None


def update_rows(model: type[peewee.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key: each of ``rows`` holds the key and the new values by field
    name (every row the same keys). On PostgreSQL one statement for them all
    (``_update_rows_postgresql``); else one statement text run for every row (on SQLite in
    process), without peewee's query builder."""
    if not rows:
        return
    key = model._meta.primary_key
    names = [name for name in rows[0] if name != key.name]
    fields = [model._meta.fields[name] for name in names]
    if is_postgresql() and _update_rows_postgresql(model, rows, fields):
        return
    param = db_proxy.param
    assignments = ", ".join(f'"{field.column_name}" = {param}' for field in fields)
    # Names from the model, values bound as parameters.
    sql = (
        f'UPDATE "{model._meta.table_name}" SET {assignments} '  # noqa: S608
        f'WHERE "{key.column_name}" = {param}'
    )
    params = [
        [field.db_value(row[field.name]) for field in fields] + [key.db_value(row[key.name])]
        for row in rows
    ]
    with peewee.__exception_wrapper__:
        db_proxy.cursor().executemany(sql, params)


def _update_rows_postgresql(
    model: type[peewee.Model], rows: Sequence[dict[str, Any]], fields: list[peewee.Field]
) -> bool:
    """``update_rows`` in one statement: the rows as one JSON parameter, typed by the table's
    own row type (``json_populate_recordset``), so one round trip and one run of the table's
    statement triggers (cloud/changetriggers.py, cloud/rolluptriggers.py) for them all. False
    (nothing done) when a value would not survive JSON."""
    key = model._meta.primary_key
    data = _json_rows(rows, [key, *fields])
    if data is None:
        return False
    table = model._meta.table_name
    assignments = ", ".join(f'"{field.column_name}" = v."{field.column_name}"' for field in fields)
    # Names from the model, values in the one JSON parameter.
    sql = (
        f'UPDATE "{table}" AS t SET {assignments} '  # noqa: S608
        f'FROM json_populate_recordset(NULL::"{table}", {db_proxy.param}) AS v '
        f'WHERE t."{key.column_name}" = v."{key.column_name}"'
    )
    db_proxy.execute_sql(sql, [data])
    return True
