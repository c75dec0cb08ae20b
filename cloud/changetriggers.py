"""The database triggers that record directory changes (cloud/changes.py), so no writer can
forget to: a service, a bulk ``Model.update()``, an import, a migration or an SQL console all
move the changed row's entry to a new position in the same transaction as the change.

``SOURCES`` names every table and column the directory reads (cloud/standsync/directory.py)
and whose entry a row's change moves. tests/cloud/test_directory_changes.py derives the
columns from what the directory builder reads and changes each of them behind the services'
back, so a column read but missing here fails there.

On SQLite each table has row triggers after INSERT, after DELETE and after an UPDATE that
changes one of its sources' columns (a save that rewrites the same values is no change); they
record its sources' changes in ``SOURCES`` order and do what ``changes.record_change`` does:
take as many positions from the counter row as rows changed and upsert their entries.

On PostgreSQL (since version 30) each table has statement triggers after INSERT, DELETE and
UPDATE instead, over the rows the statement wrote (transition tables): per source, in
``SOURCES`` order, one statement does for all the rows what the row triggers did for each
(an UPDATE's only if one of the source's columns changed). A stand's batch writes its hundreds
of rows in a few statements; a trigger run per row cost it a quarter of its time
(bench/sync_ingest.py). Updating the counter row locks it until commit on both engines, so
positions still commit in the order they were handed out.

Since version 33 they move the entries to pending positions (``changes.pending_sql``), which
a deferred trigger turns into the next positions when the transaction commits (``_FLUSH``, on
the transaction's one row in ``directory_flush``): the counter is locked from then to the
commit only (cloud/changes.py). An entity row takes one position per transaction: an entry
this transaction moved already stays pending where it is, however many more of its rows the
transaction writes. No reader sees the transaction's rows before it commits, and then it sees
them all, so the one position covers all its writes. A stand's batch of a session started and
ended writes the session, a ledger entry and the balance: one position for the client instead
of three, so a chain's windows close three times slower and a poll walks fewer of them
(bench/fleet.py). Nothing relies on how many positions a change takes: a stand that learns of
a restored central database walks the directory again from 0 (sync/agent.py).

The triggers are made with the schema (``upgrade``) and by migration 12; ``install`` drops and
makes them again, so a later migration that changes ``SOURCES`` or the triggers calls it once
more (13, 21, 22, 30, 31, 32 and 33 did). The flush's trigger is made once
(``install_pending``, which ``upgrade`` runs before its steps).
"""

# The SQL here is built from model metadata and constants only, never from input.
# ruff: noqa: S608

from __future__ import annotations

from typing import NamedTuple

import peewee as pw

from cloud.changes import (
    CLIENT,
    CREDENTIAL,
    DETAILS,
    PENDING_SEQUENCE,
    PG_NOW,
    STAFF,
    TARIFF,
    pending_sql,
)
from cloud.models import (
    REGISTRATIONS,
    VISIT_METHODS,
    BaseModel,
    Client,
    ClientPhone,
    Credential,
    LedgerEntry,
    Session,
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
_REGISTRATION = f'{{row}}."type" IN ({_REGISTERED}) AND {{row}}."client_id" IS NOT NULL'
_VISITS = ", ".join(f"'{method}'" for method in VISIT_METHODS)

CLIENT_COLUMNS = (
    "kind",
    "name",
    "blocked",
    "default_tariff",
    "balance_kopecks",
    "points_balance",
    "points_spending",
    "discount_percent",
    "discount_kopecks",
    "overdraft_limit_kopecks",
    "deleted_at",
    "uuid",
    "home_site",  # whose stands receive the client's details
)
BALANCE_COLUMNS = ("balance_kopecks", "points_balance")

SOURCES: tuple[Source, ...] = (
    # A deleted client's linked credentials leave the stands with it (credential_entries skips
    # them), no later than the client: first.
    Source(
        Client,
        CREDENTIAL,
        ("deleted_at",),
        'SELECT "id" AS id FROM "credential" WHERE "client_id" = {row}."id" '
        'AND "unlinked_at" IS NULL',
    ),
    Source(Client, CLIENT, CLIENT_COLUMNS),
    Source(ClientPhone, CLIENT, ("client", "phone", "position"), _of(ClientPhone.client)),
    # A ledger entry moves the balance and the ledger position the stand holds it at.
    Source(LedgerEntry, CLIENT, ("client",), _of(LedgerEntry.client)),
    # A session opened or closed: stands learn where the client washes (one post at a time).
    # A session with the client's card or QR code is a visit: the site's stands receive the
    # client's details (cloud/clients/scope.py).
    Source(
        Session,
        CLIENT,
        ("client", "stand", "site", "start_method", "started_at", "ended_at"),
        _of(Session.client),
    ),
    # A registration attached to a client is one of the uuids stands know it by.
    Source(
        StandEvent,
        CLIENT,
        ("client", "subject_uuid", "type"),
        _of(StandEvent.client),
        _REGISTRATION,
    ),
    # A client's details: every change above but of the balance, the ledger position, points
    # and where a session is open (protocol 3 sends those compact, sync/balances.py).
    Source(
        Client,
        DETAILS,
        tuple(c for c in CLIENT_COLUMNS if c not in BALANCE_COLUMNS),
    ),
    Source(ClientPhone, DETAILS, ("client", "phone", "position"), _of(ClientPhone.client)),
    # The first visit of a client to a site other than its home: that site's stands receive
    # the client's name and phones (its home site's have them already; most visits are there).
    Source(
        Session,
        DETAILS,
        ("client", "site", "start_method"),
        _of(Session.client),
        f'{{row}}."start_method" IN ({_VISITS}) AND NOT EXISTS (SELECT 1 FROM "client" AS h '
        'WHERE h."id" = {row}."client_id" AND h."home_site_id" = {row}."site_id") '
        'AND NOT EXISTS (SELECT 1 FROM "session" AS v '
        'WHERE v."client_id" = {row}."client_id" AND v."site_id" = {row}."site_id" '
        f'AND v."start_method" IN ({_VISITS}) AND v."id" < {{row}}."id")',
    ),
    Source(
        StandEvent,
        DETAILS,
        ("client", "subject_uuid", "type"),
        _of(StandEvent.client),
        _REGISTRATION,
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
            "schedule",
        ),
        _of(TariffVersion.tariff),
    ),
    Source(User, STAFF, ("full_name", "role", "pin_hash", "active", "deleted_at")),
    Source(UserSite, STAFF, ("user", "site"), _of(UserSite.user)),
)

_COUNTER = '"directory_counter"'
_NOW = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    "postgresql": PG_NOW,
}
_OPERATIONS = ("INSERT", "DELETE", "UPDATE")


def _tables() -> dict[str, list[Source]]:
    """The sources of each table, in ``SOURCES`` order (the order their entries are taken)."""
    tables: dict[str, list[Source]] = {}
    for source in SOURCES:
        tables.setdefault(source.model._meta.table_name, []).append(source)
    return tables


def _columns(source: Source) -> list[str]:
    return [source.model._meta.fields[name].column_name for name in source.columns]


def _when(source: Source, row: str) -> str:
    return source.when.format(row=row) if source.when else "TRUE"


def _condition(
    source: Source, operation: str, engine: str, old: str = "OLD", new: str = "NEW"
) -> str:
    """When a row written by ``operation`` is a change for ``source`` (SQL on the row's old
    and new values, ``old`` and ``new``: a row trigger's OLD and NEW by default)."""
    if operation != "UPDATE":
        return _when(source, new if operation == "INSERT" else old)
    differs = "IS NOT" if engine == "sqlite" else "IS DISTINCT FROM"
    changed = " OR ".join(f'{old}."{c}" {differs} {new}."{c}"' for c in _columns(source))
    return f"({changed}) AND ({_when(source, old)} OR {_when(source, new)})"


def _ids(source: Source, operation: str, engine: str) -> str:
    """The ids of the entity rows changed by a row that ``operation`` wrote."""
    rows = {"INSERT": ("NEW",), "DELETE": ("OLD",), "UPDATE": ("OLD", "NEW")}[operation]
    ids = " UNION ".join(source.ids.format(row=row) for row in rows)
    return f"SELECT z.id FROM ({ids}) AS z WHERE {_condition(source, operation, engine)}"


def _record(source: Source, operation: str, engine: str) -> str:
    """Statements giving the changed rows new positions, as ``record_change`` does."""
    ids = _ids(source, operation, engine)
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


def _trigger(sources: list[Source], operation: str, engine: str) -> tuple[str, str]:
    """The event clause and the WHEN condition of the table's trigger for ``operation``."""
    if operation == "UPDATE":
        columns = sorted({c for source in sources for c in _columns(source)})
        event = "UPDATE OF " + ", ".join(f'"{c}"' for c in columns)
    else:
        event = operation
    conditions = [_condition(source, operation, engine) for source in sources]
    when = "" if "TRUE" in conditions else " OR ".join(f"({c})" for c in conditions)
    return event, when


def sqlite_statements() -> list[str]:
    """The triggers' DDL on SQLite, dropping any earlier ones first."""
    statements = []
    for table, sources in _tables().items():
        for operation in _OPERATIONS:
            name = f"directory_{table}_{operation.lower()}"
            event, when = _trigger(sources, operation, "sqlite")
            body = " ".join(_record(source, operation, "sqlite") for source in sources)
            statements += [
                f'DROP TRIGGER IF EXISTS "{name}"',
                f'CREATE TRIGGER "{name}" AFTER {event} ON "{table}" FOR EACH ROW'
                f"{f' WHEN {when}' if when else ''} BEGIN "
                f'INSERT OR IGNORE INTO {_COUNTER} ("id", "position") VALUES (1, 0); {body} END',
            ]
    return statements


# The rows a statement wrote (its transition tables), as ``o`` (old) and ``n`` (new).
_WRITTEN = {
    "INSERT": ("new_rows AS n", ("n",), "NEW TABLE AS new_rows"),
    "DELETE": ("old_rows AS o", ("o",), "OLD TABLE AS old_rows"),
    "UPDATE": (
        'old_rows AS o JOIN new_rows AS n ON o."id" = n."id"',
        ("o", "n"),
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
}

# Once per writing transaction, at its commit (a deferred trigger on the one row the
# transaction put in ``directory_flush``): the counter is taken, locked from here to the
# commit, and the transaction's pending entries get the next positions in the order they were
# moved. Nothing else is locked while the counter is held, so no writer waits for it long.
_FLUSH = f"""CREATE OR REPLACE FUNCTION "directory_flush"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending bigint[];
    moved bigint;
    top bigint;
BEGIN
    DELETE FROM "directory_flush" WHERE "xact" = NEW."xact";
    -- This transaction's entries in the order they were moved (the others' are not seen).
    SELECT array_agg("id" ORDER BY "position" DESC) INTO pending
        FROM "directory_change" WHERE "position" < 0;
    moved := COALESCE(cardinality(pending), 0);
    IF moved = 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO {_COUNTER} ("id", "position") VALUES (1, 0) ON CONFLICT ("id") DO NOTHING;
    UPDATE {_COUNTER} SET "position" = "position" + moved WHERE "id" = 1 RETURNING "position"
        INTO top;
    UPDATE "directory_change" AS d SET "position" = top - moved + p.rank,
        "changed_at" = {_NOW["postgresql"]}
    FROM unnest(pending) WITH ORDINALITY AS p("id", rank)
    WHERE d."id" = p."id";
    RETURN NULL;
END $$"""
_PENDING = (
    'CREATE TABLE IF NOT EXISTS "directory_flush" ("xact" BIGINT NOT NULL PRIMARY KEY)',
    f"CREATE SEQUENCE IF NOT EXISTS {PENDING_SEQUENCE}",
    _FLUSH,
    # Made once, never dropped and made again: a transaction that makes the triggers again
    # after some of its own entries went pending (the migrations do) would lose their flush.
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'directory_flush' "
    "AND tgrelid = '\"directory_flush\"'::regclass) THEN "
    'CREATE CONSTRAINT TRIGGER "directory_flush" AFTER INSERT ON "directory_flush" '
    'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "directory_flush"(); '
    "END IF; END $$",
)


def _record_statement(source: Source, operation: str) -> str:
    """One statement doing for the rows the statement wrote what a row trigger did for each
    (``_record``): each entity row they changed moves to a pending position, in the order the
    rows were written (by id), unless this transaction moved that entry already (the module)."""
    rows, aliases, _referencing = _WRITTEN[operation]
    ids = " UNION ".join(source.ids.format(row=alias) for alias in aliases)
    condition = _condition(source, operation, "postgresql", "o", "n")
    changed = (
        f"SELECT '{source.entity}' AS entity, x.id FROM (SELECT MIN({aliases[-1]}.\"id\") "
        f"AS row_id, z.id FROM {rows}, LATERAL ({ids}) AS z "
        f"WHERE z.id IS NOT NULL AND {condition} GROUP BY z.id) AS x ORDER BY x.row_id, x.id"
    )
    return pending_sql(changed)


def postgresql_statements() -> list[str]:
    """The triggers' DDL on PostgreSQL (functions and triggers), dropping earlier ones first
    (before version 30: row triggers, and one function per table; before 33: the statement
    triggers that locked the counter before every write)."""
    statements = list(_PENDING)
    for table, sources in _tables().items():
        name = f"directory_{table}"
        for operation in _OPERATIONS:
            trigger = f"{name}_{operation.lower()}"
            body = ";\n    ".join(_record_statement(source, operation) for source in sources)
            statements += [
                f'DROP TRIGGER IF EXISTS "{trigger}" ON "{table}"',
                f'CREATE OR REPLACE FUNCTION "{trigger}"() RETURNS trigger LANGUAGE plpgsql AS $$\n'
                f"BEGIN\n    {body};\n    RETURN NULL;\nEND $$",
                f'CREATE TRIGGER "{trigger}" AFTER {operation} ON "{table}" '
                f"REFERENCING {_WRITTEN[operation][2]} "
                f'FOR EACH STATEMENT EXECUTE FUNCTION "{trigger}"()',
            ]
        statements += [
            f'DROP FUNCTION IF EXISTS "{name}"()',
            f'DROP TRIGGER IF EXISTS "directory_hold" ON "{table}"',
        ]
    return [*statements, 'DROP FUNCTION IF EXISTS "directory_hold"()']


def install_pending(database: pw.Database) -> None:
    """Make, where missing, what pending entries need on PostgreSQL (their sequence, the
    flush table and its trigger): ``upgrade`` does first, as an older version's migrations
    record changes (``changes.record_change``) before they make the triggers again."""
    if isinstance(database, pw.PostgresqlDatabase):
        with database.atomic():
            for sql in _PENDING:
                database.execute_sql(sql)


def install(database: pw.Database) -> None:
    """Make (again) the triggers, and the counter row they take positions from."""
    postgresql = isinstance(database, pw.PostgresqlDatabase)
    with database.atomic():
        for sql in postgresql_statements() if postgresql else sqlite_statements():
            database.execute_sql(sql)
        database.execute_sql(
            f'INSERT INTO {_COUNTER} ("id", "position") VALUES (1, 0) ON CONFLICT ("id") DO NOTHING'
        )
