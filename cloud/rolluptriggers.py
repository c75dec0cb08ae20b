"""The database keeps the report rollups (cloud/models/rollups.py) itself: triggers on
``session`` and ``ledger_entry`` move the figures of every written row's buckets in the same
transaction as the write, so no writer (ingest, a central force-close, a correction, a bulk
``Model.update()``, an SQL console) can leave the reports behind.

A written row counts out its old figures (UPDATE, DELETE: ``OLD``) and in its new ones
(INSERT, UPDATE: ``NEW``); sessions only once ended, ledger entries only of kind ``topup``.
Its local day and month come from ``rollup_zone`` (the service's time zone as UTC-offset
stretches, cut from Python's own zone data, the one the reports' periods are cut with).

- SQLite: row triggers (``AFTER INSERT``, ``AFTER UPDATE OF`` the columns counted, ``AFTER
  DELETE``).
- PostgreSQL: statement triggers with transition tables: one upsert per statement for all its
  rows (a stand's batch writes its sessions and entries in a few statements), so the rollups
  cost a batch a few statements inside the server, not one per row.

``install`` makes the triggers (schema creation and migration 27), ``ensure_zone`` cuts the
rollups in the configured time zone (``aquastand-cloud init``; a changed zone rebuilds them),
``rebuild`` counts them again from the rows (a bulk load with triggers off, bench/reports.py).
"""

# The SQL here is built from constants only, never from input.
# ruff: noqa: S608

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import peewee as pw

from cloud.models import RollupZone, SessionRollup, TopupRollup

FIRST_YEAR, LAST_YEAR = 1990, 2100  # transitions looked for between these years


def zone_stretches(zone_name: str) -> list[tuple[datetime, datetime, int]]:
    """The zone's UTC offset as (starts, ends, offset seconds) stretches covering every
    instant: each transition found to the second (tz data changes on whole seconds)."""
    zone = ZoneInfo(zone_name)

    def offset(moment: datetime) -> int:
        value = moment.astimezone(zone).utcoffset()
        return int(value.total_seconds()) if value is not None else 0

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    here = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(LAST_YEAR, 1, 1, tzinfo=UTC)
    starts, current = datetime(1, 1, 2, tzinfo=UTC), offset(here)
    stretches = []
    while here < end:
        step = here + timedelta(days=1)
        if offset(step) != current:
            low = int((here - epoch).total_seconds())
            high = int((step - epoch).total_seconds())
            while high - low > 1:  # offset(low) == current != offset(high)
                middle = (low + high) // 2
                low, high = (
                    (middle, high)
                    if offset(epoch + timedelta(seconds=middle)) == current
                    else (low, middle)
                )
            change = epoch + timedelta(seconds=high)
            stretches.append((starts, change, current))
            starts, current = change, offset(change)
        here = step
    stretches.append((starts, datetime(9999, 12, 31, tzinfo=UTC), current))
    return stretches


def _engine(database: pw.Database) -> str:
    return "postgresql" if isinstance(database, pw.PostgresqlDatabase) else "sqlite"


def _offset(column: str) -> str:
    """The zone's offset at ``column``; past the last stretch's end, the last one's (two
    look-ups by the ``ends_at`` index)."""
    return (
        '(SELECT COALESCE((SELECT z."offset_s" FROM "rollup_zone" AS z '
        f'WHERE z."ends_at" > {column} ORDER BY z."ends_at" LIMIT 1), '
        '(SELECT y."offset_s" FROM "rollup_zone" AS y ORDER BY y."ends_at" DESC LIMIT 1)))'
    )


def _day(column: str, engine: str, offset: str = "") -> str:
    """SQL for the local day of a UTC ``column`` (``offset``: SQL for the zone's offset there,
    by default looked up)."""
    offset = offset or _offset(column)
    if engine == "sqlite":
        # Past year 9999 SQLite's date functions give NULL: such a time (refused by ingest, a
        # typo elsewhere) counts on the last day SQLite knows.
        return f"COALESCE(date({column}, printf('%+d seconds', {offset})), '9999-12-31')"
    return f"({column} + {offset} * INTERVAL '1 second')::date"


def _bucket(engine: str) -> str:
    """SQL for the bucket of ``x.day`` in grain ``g.grain``: the day, or its month's first."""
    month = (
        "strftime('%Y-%m-01', x.day)"
        if engine == "sqlite"
        else "(date_trunc('month', x.day))::date"
    )
    return f"CASE g.grain WHEN 'd' THEN x.day ELSE {month} END"


# --- sessions ----------------------------------------------------------------------------------

_SESSION_COUNTED = (
    "site_id",
    "stand_id",
    "tariff_version_id",
    "client_kind",
    "started_by_id",
    "start_method",
    "ended_at",
    "duration_s",
    "cost_kopecks",
    "repriced_cost_kopecks",
    "price_mismatch",
)
_SESSION_KEYS = (
    '"part", "grain", "bucket", "site_id", "stand_id", "tariff_version_id", "client_kind", '
    '"starter"'
)
_SESSION_FIGURES = (
    "sessions",
    "duration_s",
    "revenue_kopecks",
    "repriced",
    "repriced_difference_kopecks",
)


def _session_rows(row: str, sign: int, engine: str, source: str = "", offset: str = "") -> str:
    """One SELECT of the counted values of the ended sessions ``row`` names (``NEW``/``OLD`` in
    an SQLite row trigger, else an alias over ``source``), with their sign."""
    day = _day(f'{row}."ended_at"', engine, offset)
    started_by = f'{row}."started_by_id"'
    starter = (
        f"CASE WHEN {started_by} IS NULL THEN 'self:' || {row}.\"start_method\" "
        f"ELSE 'staff:' || CAST({started_by} AS VARCHAR(20)) END"
    )
    difference = (
        f'CASE WHEN {row}."price_mismatch" THEN '
        f'COALESCE({row}."cost_kopecks" - {row}."repriced_cost_kopecks", 0) ELSE 0 END'
    )
    return (
        f'SELECT {sign} AS sign, {row}."site_id" AS site_id, {row}."stand_id" AS stand_id, '
        f'{row}."tariff_version_id" AS tariff_version_id, {row}."client_kind" AS client_kind, '
        f'{starter} AS starter, COALESCE({row}."duration_s", 0) AS duration_s, '
        f'COALESCE({row}."cost_kopecks", 0) AS revenue_kopecks, '
        f'CASE WHEN {row}."price_mismatch" THEN 1 ELSE 0 END AS repriced, '
        f"{difference} AS repriced_difference_kopecks, {day} AS day"
        f'{f" FROM {source}" if source else ""} WHERE {row}."ended_at" IS NOT NULL'
    )


_PARTS_AND_GRAINS = (
    "(SELECT 's' AS part UNION ALL SELECT 'c' UNION ALL SELECT 'b') AS p, "
    "(SELECT 'd' AS grain UNION ALL SELECT 'm') AS g"
)


# Every upsert writes its rows in the order of their keys: two transactions adding to the
# same buckets (two stands of a site, the day's and the month's rows) then wait for each other
# in turn, never in a circle (PostgreSQL would end one of them with a deadlock).
_IN_KEY_ORDER = "ORDER BY 1, 2, 3, 4, 5, 6"


def _upsert(table: str, keys: str, figures: tuple[str, ...], select: str) -> str:
    added = ", ".join(f'"{name}" = "{table}"."{name}" + excluded."{name}"' for name in figures)
    return (
        f'INSERT INTO "{table}" ({keys}, {", ".join(figures)}) {select} '
        f"ON CONFLICT ({keys}) DO UPDATE SET {added}"
    )


def _fine(rows: str, keys: str, figures: tuple[str, ...]) -> str:
    """The signed ``rows`` summed per day and finest group first (a rebuild's million rows
    become a few hundred thousand before they are spread over the parts and grains)."""
    sums = ", ".join(f"SUM(w.sign * w.{name}) AS {name}" for name in figures)
    return f"SELECT {keys}, SUM(w.sign) AS sign, {sums} FROM ({rows}) AS w GROUP BY {keys}"


def session_upsert(rows: str, engine: str) -> str:
    """The statement adding the signed ``rows`` (``_session_rows``) to every bucket and part."""
    rows = _fine(
        rows,
        "day, site_id, stand_id, tariff_version_id, client_kind, starter",
        _SESSION_FIGURES[1:],
    )
    sums = ", ".join(f"SUM(x.{name})" for name in _SESSION_FIGURES[1:])
    select = (
        f"SELECT p.part, g.grain, {_bucket(engine)}, x.site_id, "
        "CASE p.part WHEN 'c' THEN x.stand_id ELSE 0 END, "
        "CASE p.part WHEN 'c' THEN x.tariff_version_id ELSE 0 END, "
        "CASE p.part WHEN 'c' THEN x.client_kind ELSE '' END, "
        "CASE p.part WHEN 'b' THEN x.starter ELSE '' END, "
        f"SUM(x.sign), {sums} FROM ({rows}) AS x, {_PARTS_AND_GRAINS} WHERE TRUE "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING SUM(x.sign) <> 0 OR "
        + " OR ".join(f"SUM(x.{name}) <> 0" for name in _SESSION_FIGURES[1:])
        + f" {_IN_KEY_ORDER}, 7, 8"
    )
    return _upsert("session_rollup", _SESSION_KEYS, _SESSION_FIGURES, select)


# --- top-ups -----------------------------------------------------------------------------------

_TOPUP_COUNTED = ("kind", "amount_kopecks", "method", "site_id", "created_by_id", "created_at")
_TOPUP_KEYS = '"part", "grain", "bucket", "site_id", "method", "staff_id"'
_TOPUP_FIGURES = ("topups", "amount_kopecks")


def _topup_rows(row: str, sign: int, engine: str, source: str = "", offset: str = "") -> str:
    day = _day(f'{row}."created_at"', engine, offset)
    return (
        f'SELECT {sign} AS sign, COALESCE({row}."site_id", 0) AS site_id, '
        f'COALESCE({row}."method", \'\') AS method, COALESCE({row}."created_by_id", 0) AS staff_id, '
        f'{row}."amount_kopecks" AS amount_kopecks, {day} AS day'
        f"{f' FROM {source}' if source else ''} WHERE {row}.\"kind\" = 'topup'"
    )


def topup_upsert(rows: str, engine: str) -> str:
    """The statement adding the signed top-up ``rows`` to every bucket and part."""
    rows = _fine(rows, "day, site_id, method, staff_id", ("amount_kopecks",))
    select = (
        f"SELECT p.part, g.grain, {_bucket(engine)}, x.site_id, "
        "CASE p.part WHEN 'm' THEN x.method ELSE '' END, "
        "CASE p.part WHEN 'f' THEN x.staff_id ELSE 0 END, "
        "SUM(x.sign), SUM(x.amount_kopecks) "
        "FROM ({rows}) AS x, "
        "(SELECT 's' AS part UNION ALL SELECT 'm' UNION ALL SELECT 'f') AS p, "
        "(SELECT 'd' AS grain UNION ALL SELECT 'm') AS g WHERE TRUE "
        "GROUP BY 1, 2, 3, 4, 5, 6 "
        f"HAVING SUM(x.sign) <> 0 OR SUM(x.amount_kopecks) <> 0 {_IN_KEY_ORDER}"
    ).replace("{rows}", rows)
    return _upsert("topup_rollup", _TOPUP_KEYS, _TOPUP_FIGURES, select)


# --- the triggers ------------------------------------------------------------------------------

_TABLES = {
    # table: (rows builder, upsert builder, counted columns, row condition)
    "session": (_session_rows, session_upsert, _SESSION_COUNTED, '{row}."ended_at" IS NOT NULL'),
    "ledger_entry": (_topup_rows, topup_upsert, _TOPUP_COUNTED, "{row}.\"kind\" = 'topup'"),
}


def sqlite_statements() -> list[str]:
    """Row triggers on SQLite, dropping earlier ones first."""
    statements = []
    for table, (rows, upsert, counted, condition) in _TABLES.items():
        old = rows("OLD", -1, "sqlite")
        new = rows("NEW", 1, "sqlite")
        columns = ", ".join(f'"{column}"' for column in counted)
        for operation, event, source, when in (
            ("insert", "INSERT", new, condition.format(row="NEW")),
            ("delete", "DELETE", old, condition.format(row="OLD")),
            (
                "update",
                f"UPDATE OF {columns}",
                f"{old} UNION ALL {new}",
                f"{condition.format(row='OLD')} OR {condition.format(row='NEW')}",
            ),
        ):
            name = f"rollup_{table}_{operation}"
            statements += [
                f'DROP TRIGGER IF EXISTS "{name}"',
                f'CREATE TRIGGER "{name}" AFTER {event} ON "{table}" FOR EACH ROW '
                f"WHEN {when} BEGIN {upsert(source, 'sqlite')}; END",
            ]
    return statements


def postgresql_statements() -> list[str]:
    """Statement triggers with transition tables on PostgreSQL (functions and triggers)."""
    statements = []
    for table, (rows, upsert, _counted, _condition) in _TABLES.items():
        old = rows("o", -1, "postgresql", "old_rows AS o")
        new = rows("n", 1, "postgresql", "new_rows AS n")
        for operation, source, referencing in (
            ("insert", new, "NEW TABLE AS new_rows"),
            ("delete", old, "OLD TABLE AS old_rows"),
            ("update", f"{old} UNION ALL {new}", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ):
            name = f"rollup_{table}_{operation}"
            statements += [
                f'CREATE OR REPLACE FUNCTION "{name}"() RETURNS trigger LANGUAGE plpgsql AS $$\n'
                f"BEGIN\n    {upsert(source, 'postgresql')};\n    RETURN NULL;\nEND $$",
                f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"',
                f'CREATE TRIGGER "{name}" AFTER {operation.upper()} ON "{table}" '
                f'REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION "{name}"()',
            ]
    return statements


def drop_triggers(database: pw.Database) -> None:
    """Drop the rollup triggers (a database as before version 27; what they cost a batch:
    bench/sync_ingest.py --without-rollups)."""
    on_table = _engine(database) == "postgresql"
    for table in _TABLES:
        for operation in ("insert", "update", "delete"):
            name = f"rollup_{table}_{operation}"
            database.execute_sql(
                f'DROP TRIGGER IF EXISTS "{name}"' + (f' ON "{table}"' if on_table else "")
            )


def install(database: pw.Database, zone: str | None = None) -> None:
    """Make the rollup tables and triggers (again), and cut the rollups in ``zone`` (default:
    the zone they are cut in already, else the configuration's default)."""
    from cloud.config import CloudConfig

    with database.atomic():
        database.create_tables([SessionRollup, TopupRollup, RollupZone])
        engine = _engine(database)
        for sql in postgresql_statements() if engine == "postgresql" else sqlite_statements():
            database.execute_sql(sql)
        ensure_zone(database, zone or current_zone(database) or CloudConfig.timezone)


def current_zone(database: pw.Database) -> str | None:
    """The time zone the rollups are cut in (None: not yet)."""
    with database.bind_ctx([RollupZone]):
        row = RollupZone.select(RollupZone.zone).limit(1).tuples().first()
    return row[0] if row else None


def ensure_zone(database: pw.Database, zone: str) -> bool:
    """Cut the rollups in ``zone``: when they are cut in another one (or none), fill the zone
    table again and count the rollups again. Returns whether it did."""
    with database.atomic(), database.bind_ctx([RollupZone]):
        if current_zone(database) == zone:
            return False
        RollupZone.delete().execute()
        RollupZone.insert_many(
            [
                {"zone": zone, "starts_at": starts, "ends_at": ends, "offset_s": offset}
                for starts, ends, offset in zone_stretches(zone)
            ]
        ).execute()
        rebuild(database)
    return True


def rebuild(database: pw.Database) -> None:
    """Count every rollup again from the rows (after a load with the triggers off). Each row
    finds its offset by a join with the zone's stretches here, not a look-up per row."""
    engine = _engine(database)
    with database.atomic():
        if engine == "postgresql":  # room to group a large table in memory
            database.execute_sql("SET LOCAL work_mem = '128MB'")
        database.execute_sql('DELETE FROM "session_rollup"')
        database.execute_sql('DELETE FROM "topup_rollup"')
        last = database.execute_sql(
            'SELECT "offset_s" FROM "rollup_zone" ORDER BY "ends_at" DESC LIMIT 1'
        ).fetchone()
        offset = f'COALESCE(z."offset_s", {int(last[0]) if last else 0})'
        for table, column, rows, upsert in (
            ("session", "ended_at", _session_rows, session_upsert),
            ("ledger_entry", "created_at", _topup_rows, topup_upsert),
        ):
            source = (
                f'"{table}" AS r LEFT JOIN "rollup_zone" AS z '
                f'ON r."{column}" >= z."starts_at" AND r."{column}" < z."ends_at"'
            )
            database.execute_sql(upsert(rows("r", 1, engine, source, offset), engine))
