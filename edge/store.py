"""The stand's local database: a copy of the directory, the sessions and money taken here, and
the outbox of events for the central service (SQLite through peewee, WAL, synchronous=FULL).

Every action writes its local effect and its event in one transaction (``Store.atomic``)
before any light or screen confirms it. Write transactions begin IMMEDIATE, so the engine,
the touchscreen and the sync agent (each on its own thread and connection) queue for the
write lock instead of failing half-way.

Event numbers: ``seq`` counts from 1 with no gaps and is never reset or reused. The next one
is kept in ``StoreMeta`` and moved in the same transaction as the event it numbers, so a
restart continues where the last commit left off and a rolled-back action leaves no hole.

Balances: ``balance_of(client)`` is the central balance the directory brought plus every
local entry (charge or top-up taken here) the central balance does not include yet; bonus
points (``points_of``) the same, from the directory's points balance and the points local
charges spent. A local
entry is *settled* (no longer added) when a directory is loaded after its event was
acknowledged by the central service: the central service applies an event before
acknowledging it, so a directory fetched after the acknowledgment includes it. Until then
it counts, exactly once, whatever directories are loaded in between.

Local clients: a guest or member registered at this stand is not in the directory until the
central service has applied its registration event. Until then it lives in ``LocalClient``
(with ``LocalCredential`` for its plates and cards), under a negative id that never collides
with a central one and a ``uuid`` its events name it by (``client_uuid``). ``client()`` and
``credential()`` find local clients after the directory's, and a directory load keeps them.
Once a directory brings the central client that one of the client's ``uuids`` names, the
local client is re-linked (``relink_local_clients``, in the transaction that stores the
directory): its sessions, entries and comments here move to the central id, its rows go,
and ``client()`` of its old negative id answers the central client (``RelinkedClient``).
Its events still waiting in the outbox keep naming it by uuid, which the central service
knows. One person is then one client at the stand, found by plate once.

Schema: tables are created if missing (a new table is the way to extend the schema; existing
tables are never altered). ``schema_version`` 2 added the directory's client uuids: a copy
loaded before that lacks them, so opening a version-1 database forgets the directory cursor
and the next poll walks the whole directory again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import peewee as pw

from sync.bonus import DEFAULT_POINT_VALUE_KOPECKS
from sync.directory import Directory
from sync.document import format_utc
from sync.errors import RuleError
from sync.events import Event, Payload, validate_event
from sync.pricing import Discount, Kind, Rates

db = pw.DatabaseProxy()

SCHEMA_VERSION = 2
DIRECTORY_CURSOR_KEY = "directory_cursor"  # edge.syncwiring's cursor, kept with the copy
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    # The engine copies the log into the database between taps (``Store.checkpoint``, every
    # tick); a commit does it only if the log grows past this many pages (SQLite's default
    # is 1,000, which a tap's commit reached every hundred taps or so).
    "wal_autocheckpoint": 10000,
}
LEDGER_KINDS = ("charge", "topup")


class UtcField(pw.TextField):
    """A UTC-aware time stored as fixed-width ISO text (sorts as it compares)."""

    def db_value(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC field")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def python_value(self, value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class JsonField(pw.TextField):
    def db_value(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


def rates_to_json(rates: Rates) -> dict[str, int | None]:
    return {
        "member_per_minute": rates.member_per_minute,
        "guest_per_minute": rates.guest_per_minute,
        "step_s": rates.step_s,
        "min_charge": rates.min_charge,
        "cap": rates.cap,
        "grace_s": rates.grace_s,
    }


def rates_from_json(data: dict[str, Any]) -> Rates:
    return Rates(**data)


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


def _sql_literal(field: pw.Field) -> str:
    """The SQL literal of ``field``'s default, for a NOT NULL column added to old rows."""
    default = field.default
    return str(int(default)) if isinstance(field, pw.IntegerField) else f"'{default}'"


class StoreMeta(BaseModel):
    """Single values: schema and directory versions, the QR public key, the next event seq."""

    key = pw.CharField(primary_key=True)
    value = pw.TextField()


# --- the directory copy (replaced as a whole by load_directory) ----------------------------


class DirTariff(BaseModel):
    id = pw.IntegerField(primary_key=True)
    name = pw.CharField()
    active = pw.BooleanField()


class DirTariffVersion(BaseModel):
    id = pw.IntegerField(primary_key=True)
    tariff = pw.ForeignKeyField(DirTariff, backref="versions", on_delete="CASCADE")
    effective_from = UtcField(index=True)
    rates = JsonField()


class DirClient(BaseModel):
    id = pw.IntegerField(primary_key=True)
    kind = pw.CharField()
    name = pw.CharField()
    phones = JsonField()
    blocked = pw.BooleanField()
    default_tariff_id = pw.IntegerField(null=True)
    balance_kopecks = pw.IntegerField()  # the central balance, up to ledger_position
    ledger_position = pw.IntegerField()
    overdraft_limit_kopecks = pw.IntegerField(null=True)
    points_balance = pw.IntegerField(default=0)  # central bonus points, up to ledger_position
    points_spending = pw.CharField(default="off")  # sync.bonus.POINTS_SPENDING
    discount_percent = pw.IntegerField(default=0)  # sync.pricing.Discount
    discount_kopecks = pw.IntegerField(default=0)


class DirCredential(BaseModel):
    client = pw.ForeignKeyField(DirClient, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField()
    value = pw.CharField()
    lost = pw.BooleanField()
    daily_limit_kopecks = pw.IntegerField(null=True)  # a card's limit per local day

    class Meta:
        indexes = ((("kind", "value"), True),)


class DirClientUuid(BaseModel):
    """A uuid a stand registered a directory client under (``ClientEntry.uuids``)."""

    uuid = pw.CharField(primary_key=True)
    client = pw.ForeignKeyField(DirClient, backref="uuids", on_delete="CASCADE")


class DirStaff(BaseModel):
    id = pw.IntegerField(primary_key=True)
    full_name = pw.CharField()
    role = pw.CharField()
    pin_hash = pw.CharField()


class DirRevokedQr(BaseModel):
    token_id = pw.CharField(primary_key=True)


DIRECTORY_MODELS: list[type[BaseModel]] = [
    DirTariff,
    DirTariffVersion,
    DirClient,
    DirClientUuid,
    DirCredential,
    DirStaff,
    DirRevokedQr,
]


# --- what happened here ---------------------------------------------------------------------


class LocalSession(BaseModel):
    """A session at this stand. ``rates`` are copied from the tariff version at the start, so
    the end is priced the same whatever directory is loaded meanwhile."""

    uuid = pw.CharField(primary_key=True)
    client_id = pw.IntegerField()
    client_kind = pw.CharField()
    tariff_version_id = pw.IntegerField()
    rates = JsonField()
    started_at = UtcField(index=True)
    started_mono_ms = pw.IntegerField()
    boot_id = pw.CharField()
    start_method = pw.CharField()  # card, qr, screen
    started_by = pw.CharField()  # the event actor: staff id, card or qr
    ended_at = UtcField(null=True, index=True)
    duration_s = pw.IntegerField(null=True)
    cost_kopecks = pw.IntegerField(null=True)
    end_method = pw.CharField(null=True)  # card, qr, screen, dashboard, auto
    ended_by = pw.CharField(null=True)
    auto_ended = pw.BooleanField(default=False)
    comment = pw.TextField(default="")
    # What started it: a card UID, a plate or a QR token id (None: a screen start without one).
    credential_kind = pw.CharField(null=True)
    credential_value = pw.CharField(null=True)
    # The client's personal discount at the start, kept like the rates.
    discount_percent = pw.IntegerField(default=0)
    discount_kopecks = pw.IntegerField(default=0)

    def session_rates(self) -> Rates:
        return rates_from_json(self.rates)

    def discount(self) -> Discount:
        return Discount(self.discount_percent, self.discount_kopecks)

    def kind(self) -> Kind:
        return "member" if self.client_kind == "member" else "guest"


# One open session per client at this stand: a second start for the client fails, not forks.
LocalSession.add_index(LocalSession.client_id, unique=True, where=LocalSession.ended_at.is_null())


class LocalLedger(BaseModel):
    """Money moved here (a charge is negative, a top-up positive), with the event that carries
    it to the central service; a charge's ``amount_points`` are the bonus points it spent."""

    event_id = pw.CharField(unique=True)
    client_id = pw.IntegerField(index=True)
    kind = pw.CharField()
    amount_kopecks = pw.IntegerField()
    amount_points = pw.IntegerField(default=0)
    method = pw.CharField(null=True)
    session_uuid = pw.CharField(null=True)
    created_at = UtcField()
    settled = pw.BooleanField(default=False)  # the central balance we hold includes it


class Outbox(BaseModel):
    """Events waiting for (or already given) the central service's acknowledgment."""

    seq = pw.IntegerField(primary_key=True)
    id = pw.CharField(unique=True)
    type = pw.CharField()
    payload = JsonField()
    occurred_at = UtcField()
    boot_id = pw.CharField()
    mono_ms = pw.IntegerField()
    actor = pw.CharField()
    directory_version = pw.IntegerField()
    stand_id = pw.IntegerField()
    acked = pw.BooleanField(default=False, index=True)

    def event(self) -> Event:
        return validate_event(self.envelope())

    def envelope(self) -> dict[str, object]:
        return {
            "id": self.id,
            "stand_id": self.stand_id,
            "seq": self.seq,
            "type": self.type,
            "occurred_at": format_utc(self.occurred_at),
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "actor": self.actor,
            "directory_version": self.directory_version,
            "payload": self.payload,
        }


class LocalClient(BaseModel):
    """A client registered at this stand (see the module's notes). The fields mirror
    ``DirClient`` so the engine treats both alike; ``id`` is negative."""

    id = pw.IntegerField(primary_key=True)
    uuid = pw.CharField(unique=True)
    kind = pw.CharField()
    name = pw.CharField()
    phones = JsonField()
    blocked = pw.BooleanField(default=False)
    default_tariff_id = pw.IntegerField(null=True)
    balance_kopecks = pw.IntegerField(default=0)  # nothing central yet
    ledger_position = pw.IntegerField(default=0)
    overdraft_limit_kopecks = pw.IntegerField(null=True)
    created_at = UtcField()
    points_balance = pw.IntegerField(default=0)
    points_spending = pw.CharField(default="off")
    discount_percent = pw.IntegerField(default=0)
    discount_kopecks = pw.IntegerField(default=0)


class LocalCredential(BaseModel):
    """A plate or card of a local client."""

    client = pw.ForeignKeyField(LocalClient, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField()
    value = pw.CharField()
    lost = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("kind", "value"), True),)


class RelinkedClient(BaseModel):
    """A local client re-linked to the central client ``client_id`` (see the module's notes):
    a screen or a caller still holding the old negative id finds the central client."""

    local_id = pw.IntegerField(primary_key=True)
    uuid = pw.CharField(unique=True)
    client_id = pw.IntegerField()


class LocalComment(BaseModel):
    """A comment written on the screen about a client (and maybe one of their sessions)."""

    uuid = pw.CharField(primary_key=True)
    client_id = pw.IntegerField(index=True)
    session_uuid = pw.CharField(null=True)
    text = pw.TextField()
    staff_id = pw.IntegerField()
    created_at = UtcField()


ALL_MODELS: list[type[BaseModel]] = [
    StoreMeta,
    *DIRECTORY_MODELS,
    LocalSession,
    LocalLedger,
    Outbox,
    LocalClient,
    LocalCredential,
    LocalComment,
    RelinkedClient,
]

AnyClient = DirClient | LocalClient
AnyCredential = DirCredential | LocalCredential


# --- the lookups every tap makes ------------------------------------------------------------
#
# Building a query through peewee's expression tree costs far more than SQLite takes to run
# it, and a tap makes several lookups and writes: profiled, most of a tap's time went to
# peewee's ``sql()``. So the tap's statements are written out once below as plain SQL with
# ``?`` parameters, ``_instance`` turns the rows read into model instances (converted as
# peewee's own selects convert them) and ``Store._insert`` writes new rows. Only names taken
# from the models go into the SQL text; values are always parameters.

M = TypeVar("M", bound=BaseModel)


def _select(rest: str, **models: type[BaseModel]) -> str:
    """``SELECT`` every column of each model (named by its alias), in ``_instance``'s order,
    followed by ``rest``."""
    columns = ", ".join(
        f'{alias}."{field.column_name}"'
        for alias, model in models.items()
        for field in model._meta.sorted_fields
    )
    return f"SELECT {columns} {rest}"


def _instance(model: type[M], values: Sequence[Any]) -> M:
    """A ``model`` row read with ``_select``, as a clean (not dirty) instance."""
    fields = model._meta.sorted_fields
    data = {f.name: f.python_value(v) for f, v in zip(fields, values, strict=True)}
    instance = model(__no_default__=1, **data)
    instance._dirty.clear()
    return instance


_DIR_CREDENTIAL_SQL = _select(
    'FROM "dir_credential" AS c JOIN "dir_client" AS k ON k."id" = c."client_id" '
    'WHERE c."kind" = ? AND c."value" = ?',
    c=DirCredential,
    k=DirClient,
)
_LOCAL_CREDENTIAL_SQL = _select(
    'FROM "local_credential" AS c JOIN "local_client" AS k ON k."id" = c."client_id" '
    'WHERE c."kind" = ? AND c."value" = ?',
    c=LocalCredential,
    k=LocalClient,
)
_DIR_CLIENT_SQL = _select('FROM "dir_client" AS k WHERE k."id" = ?', k=DirClient)
_LOCAL_CLIENT_SQL = _select('FROM "local_client" AS k WHERE k."id" = ?', k=LocalClient)
_OPEN_SESSION_SQL = _select(
    'FROM "local_session" AS s WHERE s."client_id" = ? AND s."ended_at" IS NULL', s=LocalSession
)
_TARIFF_VERSION_SQL = _select(
    'FROM "dir_tariff_version" AS v JOIN "dir_tariff" AS t ON t."id" = v."tariff_id" '
    'WHERE t."id" = ? AND t."active" AND v."effective_from" <= ? '
    'ORDER BY v."effective_from" DESC, v."id" DESC LIMIT 1',
    v=DirTariffVersion,
)
# The central balance held (0 for an unknown client) plus the local entries it lacks.
_DIR_BALANCE_SQL = (
    'SELECT COALESCE((SELECT "balance_kopecks" FROM "dir_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_kopecks"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled")'
)
_LOCAL_BALANCE_SQL = (
    'SELECT COALESCE((SELECT "balance_kopecks" FROM "local_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_kopecks"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled")'
)
# The same for bonus points (never below zero: a stand spends only what it has seen).
_DIR_POINTS_SQL = (
    'SELECT MAX(0, COALESCE((SELECT "points_balance" FROM "dir_client" WHERE "id" = ?), 0) '
    '+ (SELECT COALESCE(SUM("amount_points"), 0) FROM "local_ledger" '
    'WHERE "client_id" = ? AND NOT "settled"))'
)
_CLOSE_SESSION_SQL = (
    'UPDATE "local_session" SET "ended_at" = ?, "duration_s" = ?, "cost_kopecks" = ?, '
    '"end_method" = ?, "ended_by" = ?, "auto_ended" = ?, "comment" = ? '
    'WHERE "uuid" = ? AND "ended_at" IS NULL'
)
_META_SQL = 'SELECT "value" FROM "store_meta" WHERE "key" = ?'
_COUNTERS_SQL = 'SELECT "key", "value" FROM "store_meta" WHERE "key" IN (?, ?)'
_SET_META_SQL = 'INSERT OR REPLACE INTO "store_meta" ("key", "value") VALUES (?, ?)'
# An update, not a replace: the row is always there (``Store.__init__``), and an update
# rewrites only the table's page, not the key's index too (one page less per commit).
_NEXT_SEQ_SQL = "UPDATE store_meta SET value = ? WHERE key = 'next_seq'"


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), 500):
        yield rows[start : start + 500]


class Store:
    """The stand's database file. One per process: the models are bound to it on opening."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.database = pw.SqliteDatabase(str(path), pragmas=PRAGMAS, lock_type="IMMEDIATE")
        db.initialize(self.database)
        with self.atomic():
            self.database.create_tables(ALL_MODELS, safe=True)
            self._add_missing_columns()
            if 0 < self._int("schema_version", 0) < 2:
                self._set(DIRECTORY_CURSOR_KEY, "0")  # a copy without client uuids: walk again
            self._set("schema_version", str(SCHEMA_VERSION))
            last_seq = Outbox.select(pw.fn.MAX(Outbox.seq)).scalar() or 0
            self._set("next_seq", str(max(self._int("next_seq", 1), last_seq + 1)))

    def _add_missing_columns(self) -> None:
        """Bring a database of an older program up to these models: columns added since
        (e.g. a session's credential,
        bonus points and discounts) are added with their defaults, keeping the rows."""
        for model in ALL_MODELS:
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

    # --- plain SQL for the tap (see ``_select``) --------------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row of one of the tap's lookups (see ``_select``), or None."""
        row: tuple[Any, ...] | None = self.database.execute_sql(sql, params).fetchone()
        return row

    def _insert(self, row: M) -> M:
        """Insert ``row``, a new instance (its defaults filled), and return it with its
        automatic id if it has one. Plain SQL, as the tap's lookups (see ``_select``): peewee's
        ``create`` builds the statement afresh on every call."""
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
        """Copy the write-ahead log into the database file, waiting for no one (PASSIVE)."""
        self.database.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")

    # --- meta -------------------------------------------------------------------------------

    def _get(self, key: str) -> str | None:
        row = self._fetch(_META_SQL, (key,))
        return None if row is None else str(row[0])

    def _int(self, key: str, default: int) -> int:
        value = self._get(key)
        return default if value is None or value == "" else int(value)

    def _set(self, key: str, value: str) -> None:
        self.database.execute_sql(_SET_META_SQL, (key, value))

    def directory_version(self) -> int:
        """The version of the directory copy (0: none loaded)."""
        return self._int("directory_version", 0)

    def directory_loaded_at(self) -> datetime | None:
        value = self._get("directory_loaded_at")
        return None if value is None else datetime.fromisoformat(value)

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

    # --- the directory ----------------------------------------------------------------------

    def load_directory(
        self, directory: Directory, now: datetime, site_id: int = 0, allow_older: bool = False
    ) -> dict[str, int]:
        """Replace the directory copy with ``directory`` in one transaction and return the row
        counts. Refused (RuleError) if it is of another site than ``site_id`` (or, with 0, than
        the site loaded before), or older than the copy held unless ``allow_older``. Local
        sessions, entries and events are kept; entries acknowledged centrally are settled."""
        with self.atomic():
            expected_site = site_id or self.site_id()
            if expected_site and directory.site_id != expected_site:
                raise RuleError(
                    f"Справочник другой площадки (№{directory.site_id}, а стойка — "
                    f"на площадке №{expected_site})",
                    "wrong_site",
                )
            if directory.version < self.directory_version() and not allow_older:
                raise RuleError(
                    f"Справочник версии {directory.version} старше загруженного "
                    f"(версия {self.directory_version()})",
                    "older_directory",
                )
            self.settle_acknowledged()
            for model in reversed(DIRECTORY_MODELS):
                model.delete().execute()
            self._insert_directory(directory)
            self.relink_local_clients()
            self._set("directory_version", str(directory.version))
            self._set("directory_generated_at", directory.generated_at.isoformat())
            self._set("directory_loaded_at", now.astimezone(UTC).isoformat())
            self._set("site_id", str(directory.site_id))
            self._set("qr_public_key_pem", directory.qr_public_key_pem)
            self._set("default_tariff_id", str(directory.default_tariff_id or ""))
            self._set("points_value_kopecks", str(directory.points_value_kopecks))
        return {
            "tariffs": len(directory.tariffs),
            "clients": len(directory.clients),
            "credentials": len(directory.credentials),
            "revoked_qr": len(directory.revoked_qr_token_ids),
            "staff": len(directory.staff),
        }

    def settle_acknowledged(self, client_ids: list[int] | None = None) -> int:
        """Stop adding the local entries whose events the central service acknowledged to
        the central balance (of ``client_ids``, or of everyone): call it, in the transaction
        that stores them, when balances fetched after those acknowledgments arrive."""
        waiting = Outbox.select(Outbox.id).where(~Outbox.acked)
        settle = ~LocalLedger.settled & LocalLedger.event_id.not_in(waiting)
        if client_ids is not None:
            settle &= LocalLedger.client_id.in_(client_ids)
        return int(LocalLedger.update(settled=True).where(settle).execute())

    def _insert_directory(self, d: Directory) -> None:
        tables: list[tuple[type[BaseModel], list[dict[str, Any]]]] = [
            (DirTariff, [{"id": t.id, "name": t.name, "active": t.active} for t in d.tariffs]),
            (
                DirTariffVersion,
                [
                    {
                        "id": v.id,
                        "tariff": t.id,
                        "effective_from": v.effective_from,
                        "rates": rates_to_json(v.rates),
                    }
                    for t in d.tariffs
                    for v in t.versions
                ],
            ),
            (
                DirClient,
                [
                    {
                        "id": c.id,
                        "kind": c.kind,
                        "name": c.name,
                        "phones": list(c.phones),
                        "blocked": c.blocked,
                        "default_tariff_id": c.default_tariff_id,
                        "balance_kopecks": c.balance_kopecks,
                        "ledger_position": c.ledger_position,
                        "overdraft_limit_kopecks": c.overdraft_limit_kopecks,
                        "points_balance": c.points_balance,
                        "points_spending": c.points_spending,
                        "discount_percent": c.discount_percent,
                        "discount_kopecks": c.discount_kopecks,
                    }
                    for c in d.clients
                ],
            ),
            (
                DirClientUuid,
                [{"uuid": uuid, "client": c.id} for c in d.clients for uuid in c.uuids],
            ),
            (
                DirCredential,
                [
                    {
                        "client": c.client_id,
                        "kind": c.kind,
                        "value": c.value,
                        "lost": c.lost,
                        "daily_limit_kopecks": c.daily_limit_kopecks,
                    }
                    for c in d.credentials
                ],
            ),
            (
                DirStaff,
                [
                    {"id": s.id, "full_name": s.full_name, "role": s.role, "pin_hash": s.pin_hash}
                    for s in d.staff
                ],
            ),
            (DirRevokedQr, [{"token_id": t} for t in dict.fromkeys(d.revoked_qr_token_ids)]),
        ]
        for model, rows in tables:
            for chunk in _chunks(rows):
                model.insert_many(chunk).execute()

    def credential(self, kind: str, value: str) -> AnyCredential | None:
        """The directory's credential, else a local client's; its ``client`` is read with it
        (one query, no second one when the caller looks at the client)."""
        credential: AnyCredential
        client: AnyClient
        width = len(DirCredential._meta.sorted_fields)
        row = self._fetch(_DIR_CREDENTIAL_SQL, (kind, value))
        if row is not None:
            credential = _instance(DirCredential, row[:width])
            client = _instance(DirClient, row[width:])
        else:
            width = len(LocalCredential._meta.sorted_fields)
            row = self._fetch(_LOCAL_CREDENTIAL_SQL, (kind, value))
            if row is None:
                return None
            credential = _instance(LocalCredential, row[:width])
            client = _instance(LocalClient, row[width:])
        credential.client = client
        credential._dirty.clear()
        return credential

    def client(self, client_id: int) -> AnyClient | None:
        """A directory client (positive id) or a local one (negative id; a re-linked one
        answers its central client)."""
        if client_id < 0:
            row = self._fetch(_LOCAL_CLIENT_SQL, (client_id,))
            if row is not None:
                return _instance(LocalClient, row)
            link = RelinkedClient.get_or_none(RelinkedClient.local_id == client_id)
            return None if link is None else self.client(int(link.client_id))
        row = self._fetch(_DIR_CLIENT_SQL, (client_id,))
        return None if row is None else _instance(DirClient, row)

    def staff(self) -> list[DirStaff]:
        """The staff who may log in here, by name."""
        return list(DirStaff.select().order_by(DirStaff.full_name, DirStaff.id))

    def staff_member(self, staff_id: int) -> DirStaff | None:
        return DirStaff.get_or_none(DirStaff.id == staff_id)

    def active_tariffs(self, when: datetime) -> list[DirTariff]:
        """Active tariffs with a version in force at ``when``, by name."""
        in_force = DirTariffVersion.select(DirTariffVersion.tariff).where(
            DirTariffVersion.effective_from <= when
        )
        query = DirTariff.select().where(DirTariff.active & DirTariff.id.in_(in_force))
        return list(query.order_by(DirTariff.name, DirTariff.id))

    def tariff_name_of_version(self, version_id: int) -> str:
        version = DirTariffVersion.get_or_none(DirTariffVersion.id == version_id)
        return "" if version is None else str(version.tariff.name)

    def is_revoked(self, token_id: str) -> bool:
        return bool(DirRevokedQr.select().where(DirRevokedQr.token_id == token_id).exists())

    def tariff_version_at(self, tariff_id: int, when: datetime) -> DirTariffVersion | None:
        """The version of an active tariff in force at ``when``, or None."""
        moment = DirTariffVersion.effective_from.db_value(when)
        row = self._fetch(_TARIFF_VERSION_SQL, (tariff_id, moment))
        return None if row is None else _instance(DirTariffVersion, row)

    # --- clients registered here, and reads over both kinds --------------------------------

    def add_local_client(
        self,
        client_uuid: str,
        kind: str,
        name: str,
        phones: list[str],
        credentials: list[tuple[str, str]],
        created_at: datetime,
    ) -> LocalClient:
        """Create a local client with its ``(kind, value)`` credentials, in the caller's
        transaction; RuleError "credential_taken" if one already belongs to a client."""
        with self.atomic():
            for kind_, value in credentials:
                if self.credential(kind_, value) is not None:
                    raise RuleError(
                        f"«{value}» уже принадлежит другому клиенту", "credential_taken"
                    )
            # Below every id used so far, re-linked ones too: an old id never names another.
            lowest = min(
                LocalClient.select(pw.fn.MIN(LocalClient.id)).scalar() or 0,
                RelinkedClient.select(pw.fn.MIN(RelinkedClient.local_id)).scalar() or 0,
            )
            client = LocalClient.create(
                id=min(int(lowest), 0) - 1,
                uuid=client_uuid,
                kind=kind,
                name=name,
                phones=phones,
                created_at=created_at,
            )
            for kind_, value in credentials:
                LocalCredential.create(client=client, kind=kind_, value=value)
        return client

    def relink_local_clients(self) -> int:
        """Re-link the local clients the directory copy now holds under a central id (see
        the module's notes), in the caller's transaction; returns how many. A client with a
        session open both here and under its central id (two rows used meanwhile) waits for
        one of them to end."""
        found = (
            LocalClient.select(LocalClient.id, LocalClient.uuid, DirClientUuid.client)
            .join(DirClientUuid, on=(DirClientUuid.uuid == LocalClient.uuid))
            .tuples()
        )
        relinked = 0
        with self.atomic():
            for local_id, uuid, central_id in list(found):
                if self.open_session_of(local_id) and self.open_session_of(central_id):
                    continue
                for model in (LocalSession, LocalLedger, LocalComment):
                    model.update(client_id=central_id).where(model.client_id == local_id).execute()
                LocalClient.delete().where(LocalClient.id == local_id).execute()
                RelinkedClient.insert(
                    local_id=local_id, uuid=uuid, client_id=central_id
                ).on_conflict_replace().execute()
                relinked += 1
        return relinked

    def client_uuid_of(self, client_id: int) -> str | None:
        """The uuid a local client's events use (None for a directory client)."""
        client = self.client(client_id) if client_id < 0 else None
        return None if client is None else str(client.uuid)

    def credentials_of(self, client_id: int, kind: str) -> list[str]:
        """The values of a client's credentials of ``kind`` (lost ones too), in order."""
        if client_id < 0:
            query = LocalCredential.select(LocalCredential.value).where(
                (LocalCredential.client == client_id) & (LocalCredential.kind == kind)
            )
            return [row.value for row in query.order_by(LocalCredential.id)]
        rows = DirCredential.select(DirCredential.value).where(
            (DirCredential.client == client_id) & (DirCredential.kind == kind)
        )
        return [row.value for row in rows.order_by(DirCredential.id)]

    def first_plates(self, client_ids: set[int]) -> dict[int, str]:
        """Each client's first plate, for those that have one."""
        plates: dict[int, str] = {}
        central = (
            DirCredential.select()
            .where((DirCredential.kind == "plate") & DirCredential.client.in_(client_ids))
            .order_by(DirCredential.id)
        )
        local = (
            LocalCredential.select()
            .where((LocalCredential.kind == "plate") & LocalCredential.client.in_(client_ids))
            .order_by(LocalCredential.id)
        )
        for row in [*central, *local]:
            plates.setdefault(row.client_id, str(row.value))
        return plates

    def find_clients(
        self,
        *,
        plate: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[AnyClient]:
        """Clients whose plate contains ``plate`` (normalised), who have the phone ``phone``
        (normalised) or whose name contains ``name`` (any case, Cyrillic too)."""
        found: dict[int, AnyClient] = {}
        if plate:
            for model in (DirCredential, LocalCredential):
                rows = model.select(model.client).where(
                    (model.kind == "plate") & model.value.contains(plate)
                )
                for row in rows.limit(limit):
                    client = self.client(row.client_id)
                    if client is not None:
                        found.setdefault(int(client.id), client)
        if phone:
            needle = json.dumps(phone)
            for model in (DirClient, LocalClient):
                # instr, not LIKE: the value must not go through the JSON field's converter.
                query = model.select().where(pw.fn.instr(model.phones, needle) > 0)
                for client in query.limit(limit):
                    found.setdefault(int(client.id), client)
        if name:
            # SQLite's lower() knows only ASCII; casefold in Python finds Cyrillic in any case.
            wanted = name.casefold()
            for model in (DirClient, LocalClient):
                for row in model.select(model.id, model.name).where(model.name != "").tuples():
                    if wanted in str(row[1]).casefold():
                        client = self.client(int(row[0]))
                        if client is not None:
                            found.setdefault(int(client.id), client)
        return sorted(found.values(), key=lambda c: (str(c.name).casefold(), int(c.id)))[:limit]

    # --- what the screen shows and writes about a client -----------------------------------

    def add_comment(
        self,
        comment_uuid: str,
        client_id: int,
        text: str,
        staff_id: int,
        created_at: datetime,
        session_uuid: str | None = None,
    ) -> LocalComment:
        return LocalComment.create(
            uuid=comment_uuid,
            client_id=client_id,
            session_uuid=session_uuid,
            text=text,
            staff_id=staff_id,
            created_at=created_at,
        )

    def comments_of(self, client_id: int, limit: int = 20) -> list[tuple[datetime, str]]:
        """The client's comments written here (on its own or when a session ended), newest
        first, as ``(when, text)``."""
        written = [
            (row.created_at, str(row.text))
            for row in LocalComment.select()
            .where(LocalComment.client_id == client_id)
            .order_by(LocalComment.created_at.desc())
            .limit(limit)
        ]
        on_end = [
            (row.ended_at, str(row.comment))
            for row in LocalSession.select()
            .where(
                (LocalSession.client_id == client_id)
                & LocalSession.ended_at.is_null(False)
                & (LocalSession.comment != "")
            )
            .order_by(LocalSession.ended_at.desc())
            .limit(limit)
        ]
        return sorted([*written, *on_end], key=lambda pair: pair[0], reverse=True)[:limit]

    def sessions_of(self, client_id: int, limit: int = 10) -> list[LocalSession]:
        """The client's sessions at this stand, newest first."""
        query = LocalSession.select().where(LocalSession.client_id == client_id)
        return list(query.order_by(LocalSession.started_at.desc()).limit(limit))

    # --- sessions, money, events -------------------------------------------------------------

    def open_session_of(self, client_id: int) -> LocalSession | None:
        row = self._fetch(_OPEN_SESSION_SQL, (client_id,))
        return None if row is None else _instance(LocalSession, row)

    def add_session(self, session: LocalSession) -> LocalSession:
        """Store a new session (built by the caller), in the caller's transaction."""
        return self._insert(session)

    def close_session(
        self,
        session_uuid: str,
        *,
        ended_at: datetime,
        duration_s: int,
        cost_kopecks: int,
        end_method: str,
        ended_by: str,
        auto_ended: bool,
        comment: str,
    ) -> bool:
        """Record the end of an open session; False if it is not open (any more)."""
        cursor = self.database.execute_sql(
            _CLOSE_SESSION_SQL,
            (
                LocalSession.ended_at.db_value(ended_at),
                duration_s,
                cost_kopecks,
                end_method,
                ended_by,
                auto_ended,
                comment,
                session_uuid,
            ),
        )
        return cursor.rowcount == 1

    def open_sessions(self) -> list[LocalSession]:
        """Open sessions, oldest first."""
        query = LocalSession.select().where(LocalSession.ended_at.is_null())
        return list(query.order_by(LocalSession.started_at, LocalSession.uuid))

    def credential_spend(
        self, client_id: int, kind: str, value: str, since: datetime, until: datetime
    ) -> int:
        """What the client's ended sessions started here with this credential between
        ``since`` (inclusive) and ``until`` cost (a card's spend on a day, ``sync.limits``)."""
        spent = (
            LocalSession.select(pw.fn.COALESCE(pw.fn.SUM(LocalSession.cost_kopecks), 0))
            .where(
                (LocalSession.client_id == client_id)
                & (LocalSession.credential_kind == kind)
                & (LocalSession.credential_value == value)
                & (LocalSession.started_at >= since)
                & (LocalSession.started_at < until)
                & LocalSession.ended_at.is_null(False)
            )
            .scalar()
        )
        return int(spent)

    def points_of(self, client_id: int) -> int:
        """The bonus points this stand may spend for the client: the central points balance
        last seen less its own spends not settled yet, never below zero (a local client has
        none)."""
        if client_id < 0:
            return 0
        row = self._fetch(_DIR_POINTS_SQL, (client_id, client_id))
        assert row is not None
        return int(row[0])

    def points_value_kopecks(self) -> int:
        """What one bonus point is worth (from the directory)."""
        return self._int("points_value_kopecks", DEFAULT_POINT_VALUE_KOPECKS)

    def balance_of(self, client_id: int) -> int:
        """The central balance last seen plus the local entries it does not include yet."""
        sql = _LOCAL_BALANCE_SQL if client_id < 0 else _DIR_BALANCE_SQL
        row = self._fetch(sql, (client_id, client_id))
        assert row is not None  # an aggregate always gives a row
        return int(row[0])

    def append_event(
        self,
        event_id: str,
        event_type: str,
        payload: Payload,
        *,
        stand_id: int,
        occurred_at: datetime,
        boot_id: str,
        mono_ms: int,
        actor: str,
    ) -> Event:
        """Number an event and put it in the outbox, in the caller's transaction. The event
        is checked against the shared schema first: an invalid one is never stored."""
        with self.atomic():
            counters = ("next_seq", "directory_version")
            held = dict(self.database.execute_sql(_COUNTERS_SQL, counters).fetchall())
            seq = int(held.get("next_seq") or 1)
            event = validate_event(
                {
                    "id": event_id,
                    "stand_id": stand_id,
                    "seq": seq,
                    "type": event_type,
                    "occurred_at": format_utc(occurred_at),
                    "boot_id": boot_id,
                    "mono_ms": mono_ms,
                    "actor": actor,
                    "directory_version": int(held.get("directory_version") or 0),
                    "payload": payload,
                }
            )
            self._insert(
                Outbox(
                    seq=seq,
                    id=event.id,
                    type=event.type,
                    payload=event.payload,
                    occurred_at=event.occurred_at,
                    boot_id=event.boot_id,
                    mono_ms=event.mono_ms,
                    actor=event.actor,
                    directory_version=event.directory_version,
                    stand_id=event.stand_id,
                )
            )
            self.database.execute_sql(_NEXT_SEQ_SQL, (str(seq + 1),))
        return event

    def add_ledger_entry(
        self,
        event_id: str,
        client_id: int,
        kind: str,
        amount_kopecks: int,
        created_at: datetime,
        method: str | None = None,
        session_uuid: str | None = None,
        amount_points: int = 0,
    ) -> LocalLedger:
        if kind not in LEDGER_KINDS:
            raise ValueError(f"unknown ledger kind {kind!r}")
        return self._insert(
            LocalLedger(
                event_id=event_id,
                client_id=client_id,
                kind=kind,
                amount_kopecks=amount_kopecks,
                amount_points=amount_points,
                method=method,
                session_uuid=session_uuid,
                created_at=created_at,
            )
        )

    def pending_events(self, limit: int = 100) -> list[Event]:
        """Unacknowledged events in ``seq`` order, as the agent sends them."""
        rows = Outbox.select().where(~Outbox.acked).order_by(Outbox.seq).limit(limit)
        return [row.event() for row in rows]

    def outbox_size(self) -> int:
        return int(Outbox.select().where(~Outbox.acked).count())

    def acked_up_to(self) -> int:
        """The highest seq the central service acknowledged (every event up to it is), even
        after acknowledged events were pruned."""
        first_waiting = Outbox.select(pw.fn.MIN(Outbox.seq)).where(~Outbox.acked).scalar()
        return int(first_waiting) - 1 if first_waiting is not None else self.next_seq() - 1

    def resend_from(self, seq: int) -> bool:
        """Take back the acknowledgment of the events from ``seq`` on, so they are sent again
        (the central service lost them: a restore from a backup), and count their local
        entries again until a balance including them comes back. False, and nothing changed,
        if some of them were pruned already."""
        with self.atomic():
            upto = self.acked_up_to()
            if not 1 <= seq <= upto:
                return seq > upto  # nothing acknowledged from there: nothing to take back
            held = Outbox.select().where(Outbox.seq.between(seq, upto)).count()
            if held != upto - seq + 1:
                return False
            ids = Outbox.select(Outbox.id).where(Outbox.seq >= seq)
            LocalLedger.update(settled=False).where(LocalLedger.event_id.in_(ids)).execute()
            Outbox.update(acked=False).where(Outbox.seq >= seq).execute()
        return True

    def prune_acknowledged(self, older_than: datetime, keep_max: int) -> int:
        """Delete acknowledged events that occurred before ``older_than``, and the oldest ones
        beyond the newest ``keep_max``, so the outbox does not fill the card; returns how many.
        Until then they are kept to send again if the central service loses them."""
        with self.atomic():
            old = Outbox.acked & (Outbox.occurred_at < older_than)
            newest_kept = (
                Outbox.select(Outbox.seq)
                .where(Outbox.acked)
                .order_by(Outbox.seq.desc())
                .offset(keep_max)
                .limit(1)
                .scalar()
            )
            if newest_kept is not None:
                old |= Outbox.acked & (Outbox.seq <= newest_kept)
            return int(Outbox.delete().where(old).execute())

    def mark_acked(self, up_to_seq: int) -> int:
        """Record the central service's acknowledgment of every event up to ``up_to_seq``."""
        with self.atomic():
            return int(
                Outbox.update(acked=True).where(~Outbox.acked & (Outbox.seq <= up_to_seq)).execute()
            )
