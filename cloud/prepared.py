"""Reads whose SQL peewee builds once, run again with new values.

Peewee builds a query's SQL anew every time it runs it. For the stands' hot reads (a token's
stand, a head's facts), done thousands of times a minute with the same shape, building the SQL
cost more of the service's time than PostgreSQL took to answer (bench/fleet.py's profile).

``Prepared(build)`` calls ``build`` with stand-in values the first time it runs on a database,
keeps the SQL and where each stand-in landed among the parameters, and later runs that SQL with
the real values in those places. The rows come through the first query's own row reader, so
they are what the query would give (models, tuples; SQLite's text dates made dates). ``build``
takes ints and strings and must put each into the query once as a plain parameter; a query in
which some stand-in is not found exactly once is built for every run, as peewee does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee as pw

from cloud.db import db_proxy

_INT_STAND_IN = -7_340_032_000_000_000_000  # far from any id, count or position


def _stand_in(index: int, value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a prepared read takes ints and strings, not {type(value).__name__}")
    return _INT_STAND_IN - index if isinstance(value, int) else f"\x00stand-in-{index}\x00"


@dataclass(frozen=True)
class _Compiled:
    query: pw.SelectBase  # built with the stand-ins: its row reader reads every run's rows
    sql: str
    params: tuple[Any, ...]
    places: tuple[int, ...]  # where each value goes among the parameters


class Prepared:
    """A read built by ``build(*values)``, its SQL kept per database (see the module)."""

    def __init__(self, build: Callable[..., pw.SelectBase]) -> None:
        self._build = build
        self._held: weakref.WeakKeyDictionary[pw.Database, _Compiled | None] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def rows(self, *values: int | str) -> list[Any]:
        """The rows of the read with these values."""
        database = db_proxy.obj
        with self._lock:
            known = database in self._held
            compiled = self._held.get(database)
        if not known:
            compiled = self._compile(database, values)
            with self._lock:
                self._held[database] = compiled
        if compiled is None:  # not preparable: peewee builds it, as always
            return list(self._build(*values).execute(database))
        params = list(compiled.params)
        for place, value in zip(compiled.places, values, strict=True):
            params[place] = value
        cursor = database.execute_sql(compiled.sql, params)
        return list(compiled.query._get_cursor_wrapper(cursor))

    def _compile(self, database: pw.Database, values: tuple[int | str, ...]) -> _Compiled | None:
        stand_ins = [_stand_in(i, v) for i, v in enumerate(values)]
        query = self._build(*stand_ins)
        sql, params = database.get_sql_context().sql(query).query()
        places = []
        for stand_in in stand_ins:
            found = [i for i, p in enumerate(params) if type(p) is type(stand_in) and p == stand_in]
            if len(found) != 1:
                return None
            places.append(found[0])
        return _Compiled(query, sql, tuple(params), tuple(places))
