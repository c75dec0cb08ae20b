"""The statements every tap runs, written out once as plain SQL.

Building a query through peewee's expression tree costs far more than SQLite takes to run
it, and a tap makes several lookups and writes: profiled, most of a tap's time went to
peewee's ``sql()``. So the tap's statements are written out once below as plain SQL with
``?`` parameters, ``instance`` turns the rows read into model instances (converted as
peewee's own selects convert them) and ``StoreBase._insert`` writes new rows. Only names
taken from the models go into the SQL text; values are always parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge.store.models import (
    BaseModel,
    DirClient,
    DirCredential,
    DirTariffVersion,
    LocalClient,
    LocalCredential,
    LocalSession,
    M,
)


def select_sql(rest: str, **models: type[BaseModel]) -> str:
    """``SELECT`` every column of each model (named by its alias), in ``instance``'s order,
    followed by ``rest``."""
    columns = ", ".join(
        f'{alias}."{field.column_name}"'
        for alias, model in models.items()
        for field in model._meta.sorted_fields
    )
    return f"SELECT {columns} {rest}"


def instance(model: type[M], values: Sequence[Any]) -> M:
    """A ``model`` row read with ``select_sql``, as a clean (not dirty) instance."""
    fields = model._meta.sorted_fields
    data = {f.name: f.python_value(v) for f, v in zip(fields, values, strict=True)}
    row = model(__no_default__=1, **data)
    row._dirty.clear()
    return row


DIR_CREDENTIAL_SQL = select_sql(
    'FROM "dir_credential" AS c JOIN "dir_client" AS k ON k."id" = c."client_id" '
    'WHERE c."kind" = ? AND c."value" = ?',
    c=DirCredential,
    k=DirClient,
)
LOCAL_CREDENTIAL_SQL = select_sql(
    'FROM "local_credential" AS c JOIN "local_client" AS k ON k."id" = c."client_id" '
    'WHERE c."kind" = ? AND c."value" = ?',
    c=LocalCredential,
    k=LocalClient,
)
DIR_CLIENT_SQL = select_sql('FROM "dir_client" AS k WHERE k."id" = ?', k=DirClient)
LOCAL_CLIENT_SQL = select_sql('FROM "local_client" AS k WHERE k."id" = ?', k=LocalClient)
OPEN_SESSION_SQL = select_sql(
    'FROM "local_session" AS s WHERE s."client_id" = ? AND s."ended_at" IS NULL', s=LocalSession
)
TARIFF_VERSION_SQL = select_sql(
    'FROM "dir_tariff_version" AS v JOIN "dir_tariff" AS t ON t."id" = v."tariff_id" '
    'WHERE t."id" = ? AND t."active" AND v."effective_from" <= ? '
    'ORDER BY v."effective_from" DESC, v."id" DESC LIMIT 1',
    v=DirTariffVersion,
)
# The central balance held (0 for an unknown client) plus the local entries it lacks.
DIR_BALANCE_SQL = (
    'SELECT COALESCE((SELECT "balance_kopecks" FROM "dir_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_kopecks"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled")'
)
LOCAL_BALANCE_SQL = (
    'SELECT COALESCE((SELECT "balance_kopecks" FROM "local_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_kopecks"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled")'
)
# The same for bonus points (never below zero: a stand spends only what it has seen).
DIR_POINTS_SQL = (
    'SELECT MAX(0, COALESCE((SELECT "points_balance" FROM "dir_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_points"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled"))'
)
CLOSE_SESSION_SQL = (
    'UPDATE "local_session" SET "ended_at" = ?, "duration_s" = ?, "cost_kopecks" = ?, '
    '"end_method" = ?, "ended_by" = ?, "auto_ended" = ?, "comment" = ? '
    'WHERE "uuid" = ? AND "ended_at" IS NULL'
)
META_SQL = 'SELECT "value" FROM "store_meta" WHERE "key" = ?'
COUNTERS_SQL = 'SELECT "key", "value" FROM "store_meta" WHERE "key" IN (?, ?)'
SET_META_SQL = 'INSERT OR REPLACE INTO "store_meta" ("key", "value") VALUES (?, ?)'
# An update, not a replace: the row is always there (``StoreBase.__init__``), and an update
# rewrites only the table's page, not the key's index too (one page less per commit).
NEXT_SEQ_SQL = "UPDATE store_meta SET value = ? WHERE key = 'next_seq'"
