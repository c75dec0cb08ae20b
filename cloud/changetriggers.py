"""The database triggers that record directory changes (cloud/changes.py), so no writer can
forget to: a service, a bulk ``Model.update()``, an import, a migration or an SQL console all
move the changed row's entry to a new position in the same transaction as the change.

``SOURCES`` names every table and column the directory reads (cloud/standsync/directory.py)
and whose entry a row's change moves. tests/cloud/test_directory_feed.py derives the columns
from what the directory builder reads and changes each of them behind the services' back, so a
column read but missing here fails there.

Each source has, on SQLite and PostgreSQL alike, row triggers after INSERT, after DELETE and
after an UPDATE that changes one of its columns (a save that rewrites the same values is no
change). The trigger does what ``changes.record_change`` does: it takes as many positions from
the counter row as rows changed and upserts their entries. Updating the counter row locks it
until commit on PostgreSQL, so positions still commit in the order they were handed out.

Lock order (cloud/changes.py): on PostgreSQL every tracked table also has a statement trigger
that locks the counter row before the statement touches any row, so two writers of directory
rows never each hold what the other waits for. SQLite lets one writer at a time anyway.

The triggers are made with the schema (``upgrade``) and by migration 12; ``install`` drops and
makes them again, so a later migration that changes ``SOURCES`` calls it once more.
"""

from __future__ import annotations

from typing import NamedTuple

import peewee as pw

from cloud.changes import CLIENT, CREDENTIAL, STAFF, TARIFF
from cloud.models import (
    BaseModel,
    Client,
    ClientPhone,
    Credential,
    REGISTRATIONS,
    LedgerEntry,
    StandEvent,
    Tariff,
    TariffVersion,
    User,
    UserSite,
)


class Source(NamedTuple):
    """Rows of ``model`` whose ``columns`` (field names) the directory reads: writing one is a
    change of the ``entity`` rows that ``ids`` selects (SQL, ``{row}`` the written row, its one
    column named ``id``), for rows that meet ``when`` (SQL on ``{row}``; empty: every row)."""

    model: type[BaseModel]
    entity: str
    columns: tuple[str, ...]
    ids: str = 'SELECT {row}."id" AS id'
    when: str = ""


def _of(field: pw.ForeignKeyField) -> str:
    return f'SELECT {{row}}."{field.column_name}" AS id'


_REGISTERED = ", ".join(f"'{kind}'" for kind in REGISTRATIONS)

SOURCES: tuple[Source, ...] = (
    Source(
        Client,
        CLIENT,
        (
            "kind",
            "name",
            "blocked",
            "default_tariff",
            "balance_kopecks",
            "points_balance",
            "points_spending",
            "discount_percent",
            "discount_kopecks",
            "deleted_at",
            "uuid",
        ),
    ),
    # A deleted client's credentials leave the stands with it (credential_entries skips them).
    Source(
        Client,
        CREDENTIAL,
        ("deleted_at",),
        'SELECT "id" AS id FROM "credential" WHERE "client_id" = {row}."id"',
    ),
    Source(ClientPhone, CLIENT, ("client", "phone", "position"), _of(ClientPhone.client)),
    # A ledger entry moves the balance and the ledger position the stand holds it at.
    Source(LedgerEntry, CLIENT, ("client",), _of(LedgerEntry.client)),
    # A registration attached to a client is one of the uuids stands know it by.
    Source(
        StandEvent,
        CLIENT,
        ("client", "subject_uuid", "type"),
        _of(StandEvent.client),
        f'{{row}}."type" IN ({_REGISTERED}) AND {{row}}."client_id" IS NOT NULL',
    ),
    Source(
        Credential,
        CREDENTIAL,
        ("client", "kind", "value", "lost", "daily_limit_kopecks", "unlinked_at"),
    ),
    Source(Tariff, TARIFF, ("name", "active")),
    Source(
        TariffVersion,
        TARIFF,
        (
            "tariff",
            "effective_from",
            "member_per_minute",
            "guest_per_minute",
            "step_s",
            "min_charge",
            "cap",
            "grace_s",
        ),
        _of(TariffVersion.tariff),
    ),
    Source(User, STAFF, ("full_name", "role", "pin_hash", "active", "deleted_at")),
    Source(UserSite, STAFF, ("user", "site"), _of(UserSite.user)),
)

_COUNTER = '"directory_counter"'
_NOW = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    "postgresql": "(now() AT TIME ZONE 'UTC')",
}


def _name(source: Source) -> str:
    return f"directory_{source.model._meta.table_name}_{source.entity}"


def _columns(source: Source) -> list[str]:
    return [source.model._meta.fields[name].column_name for name in source.columns]


def _ids(source: Source, row: str) -> str:
    ids = source.ids.format(row=row)
    if not source.when:
        return ids
    return f"SELECT y.id FROM ({ids}) AS y WHERE {source.when.format(row=row)}"


def _record(source: Source, ids: str, engine: str) -> str:
    """Statements giving the rows ``ids`` selects new positions, as ``record_change`` does."""
    return (
        'INSERT INTO "directory_change" ("position", "entity", "entity_id", "changed_at") '
        f"SELECT c.\"position\" + ROW_NUMBER() OVER (ORDER BY x.id), '{source.entity}', x.id, "
        f"{_NOW[engine]} FROM {_COUNTER} AS c, ({ids}) AS x "
        'WHERE c."id" = 1 AND x.id IS NOT NULL '
        'ON CONFLICT ("entity", "entity_id") DO UPDATE SET "position" = excluded."position", '
        '"changed_at" = excluded."changed_at"; '
        f'UPDATE {_COUNTER} SET "position" = "position" + '
        f'(SELECT COUNT(*) FROM ({ids}) AS x WHERE x.id IS NOT NULL) WHERE "id" = 1;'
    )


def _conditions(source: Source, engine: str) -> dict[str, str]:
    """The WHEN condition of each operation's trigger ("" for none)."""
    differs = "IS NOT" if engine == "sqlite" else "IS DISTINCT FROM"
    changed = " OR ".join(f'OLD."{c}" {differs} NEW."{c}"' for c in _columns(source))
    if not source.when:
        return {"INSERT": "", "DELETE": "", "UPDATE": changed}
    old, new = source.when.format(row="OLD"), source.when.format(row="NEW")
    return {"INSERT": new, "DELETE": old, "UPDATE": f"({changed}) AND (({old}) OR ({new}))"}


def _events(source: Source) -> dict[str, str]:
    columns = ", ".join(f'"{c}"' for c in _columns(source))
    return {"INSERT": "INSERT", "DELETE": "DELETE", "UPDATE": f"UPDATE OF {columns}"}


def _rows(operation: str, source: Source) -> str:
    if operation == "UPDATE":
        return f"{_ids(source, 'OLD')} UNION {_ids(source, 'NEW')}"
    return _ids(source, "NEW" if operation == "INSERT" else "OLD")


def sqlite_statements() -> list[str]:
    """The triggers' DDL on SQLite, dropping any earlier ones first."""
    statements = []
    for source in SOURCES:
        table = source.model._meta.table_name
        events, conditions = _events(source), _conditions(source, "sqlite")
        for operation in ("INSERT", "DELETE", "UPDATE"):
            name = f"{_name(source)}_{operation.lower()}"
            when = f" WHEN {conditions[operation]}" if conditions[operation] else ""
            statements += [
                f'DROP TRIGGER IF EXISTS "{name}"',
                f'CREATE TRIGGER "{name}" AFTER {events[operation]} ON "{table}" FOR EACH ROW'
                f"{when} BEGIN INSERT OR IGNORE INTO {_COUNTER} (\"id\", \"position\") "
                f"VALUES (1, 0); {_record(source, _rows(operation, source), 'sqlite')} END",
            ]
    return statements


_HOLD = f"""CREATE OR REPLACE FUNCTION "directory_hold"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM {_COUNTER} WHERE "id" = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO {_COUNTER} ("id", "position") VALUES (1, 0) ON CONFLICT ("id") DO NOTHING;
        PERFORM 1 FROM {_COUNTER} WHERE "id" = 1 FOR UPDATE;
    END IF;
    RETURN NULL;
END $$"""


def postgresql_statements() -> list[str]:
    """The triggers' DDL on PostgreSQL (functions and triggers), dropping earlier ones first."""
    statements = [_HOLD]
    held: dict[str, set[str]] = {}
    for source in SOURCES:
        table = source.model._meta.table_name
        held.setdefault(table, set()).update(_columns(source))
        name = _name(source)
        branches = {op: _record(source, _rows(op, source), "postgresql") for op in _events(source)}
        statements.append(
            f'CREATE OR REPLACE FUNCTION "{name}"() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f"BEGIN\n    IF TG_OP = 'INSERT' THEN {branches['INSERT']}\n"
            f"    ELSIF TG_OP = 'DELETE' THEN {branches['DELETE']}\n"
            f"    ELSE {branches['UPDATE']}\n    END IF;\n    RETURN NULL;\nEND $$"
        )
        events, conditions = _events(source), _conditions(source, "postgresql")
        for operation in ("INSERT", "DELETE", "UPDATE"):
            trigger = f"{name}_{operation.lower()}"
            when = f" WHEN ({conditions[operation]})" if conditions[operation] else ""
            statements += [
                f'DROP TRIGGER IF EXISTS "{trigger}" ON "{table}"',
                f'CREATE TRIGGER "{trigger}" AFTER {events[operation]} ON "{table}" '
                f'FOR EACH ROW{when} EXECUTE FUNCTION "{name}"()',
            ]
    for table, columns in held.items():
        listed = ", ".join(f'"{c}"' for c in sorted(columns))
        statements += [
            f'DROP TRIGGER IF EXISTS "directory_hold" ON "{table}"',
            f'CREATE TRIGGER "directory_hold" BEFORE INSERT OR DELETE OR UPDATE OF {listed} '
            f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION "directory_hold"()',
        ]
    return statements


def install(database: pw.Database) -> None:
    """Make (again) the triggers, and the counter row they take positions from."""
    postgresql = isinstance(database, pw.PostgresqlDatabase)
    with database.atomic():
        for sql in postgresql_statements() if postgresql else sqlite_statements():
            database.execute_sql(sql)
        database.execute_sql(
            f'INSERT INTO {_COUNTER} ("id", "position") VALUES (1, 0) ON CONFLICT ("id") DO NOTHING'
        )
