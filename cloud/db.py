"""The database's life: one peewee proxy, bound by the app factory or a command to SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee
from playhouse.db_url import connect

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


def open_database(url: str) -> peewee.Database:
    """Open (not yet connect) the database at ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
    if url.startswith("sqlite"):
        return connect(url, pragmas=SQLITE_PRAGMAS, autoconnect=True)
    return connect(url, autoconnect=True)


def bind(url: str) -> peewee.Database:
    database = open_database(url)
    db_proxy.initialize(database)
    return database


def is_postgresql() -> bool:
    return isinstance(db_proxy.obj, peewee.PostgresqlDatabase)
