"""Schema versions. A fresh database gets the current schema and the latest version stamp;
an older one gets each later migration in order, in place, keeping its data.

To change the schema: change ``cloud/models.py`` and append ``(N, function)`` to
``MIGRATIONS`` where the function brings a version ``N-1`` database to version ``N``
(``playhouse.migrate`` for columns, ``create_tables`` for new tables; a migration that changes
what the directory reads calls ``changetriggers.install`` again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from cloud import changetriggers, rolluptriggers, schemasteps
from cloud.audit.service import install_guard as install_audit_guard
from cloud.changes import CLIENT, adopt_unlogged, record_change
from cloud.config import DEFAULT_API_TOKEN_DAYS
from cloud.db import utcnow
from cloud.models import (
    ALL_MODELS,
    CABINET_MODELS,
    REPORT_INDEXES,
    ApiToken,
    AuditEntry,
    Client,
    ClientDriver,
    Comment,
    Credential,
    DirectoryChange,
    DirectoryCounter,
    FailedLogin,
    HeldTopup,
    LedgerEntry,
    Mailing,
    MailingRecipient,
    OnlinePayment,
    OnlineRefund,
    Receipt,
    SchemaVersion,
    Segment,
    Session,
    Shift,
    Stand,
    StandCommand,
    StandEvent,
    StandHeartbeat,
    StandHeartbeatLog,
)
from cloud.standsync.heartbeat import LOG_EVERY, ONLINE_WITHIN

Migration = Callable[[peewee.Database], None]


def _add_sync(database: peewee.Database) -> None:
    """Version 2: stand enrolment and clocks, the events stands send, and the uuids and
    re-pricing columns that applying them needs (cloud/standsync/standauth.py, cloud/standsync/ingest/)."""
    database.create_tables([StandEvent])
    migrator = SchemaMigrator.from_database(database)
    stand_fields = (
        "token_hash",
        "enrol_code_hash",
        "enrol_code_expires_at",
        "enrol_code_used_at",
        "enrolled_at",
        "revoked_at",
        "last_seen_at",
        "clock_skew_ms",
        "boot_id",
    )
    stand = Stand._meta.table_name
    session = Session._meta.table_name
    steps = [migrator.add_column(stand, name, Stand._meta.fields[name]) for name in stand_fields]
    steps += [
        migrator.add_column(Client._meta.table_name, "uuid", Client.uuid),
        migrator.add_column(session, "uuid", Session.uuid),
        migrator.add_column(session, "repriced_cost_kopecks", Session.repriced_cost_kopecks),
        # NOT NULL with a database default in one statement: SQLite would otherwise rebuild
        # the session table, which the ledger's foreign keys forbid.
        migrator.add_column(
            session,
            "price_mismatch",
            peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")]),
            allow_not_null=True,
        ),
        migrator.add_column(LedgerEntry._meta.table_name, "event_id", LedgerEntry.event),
    ]
    migrate(*steps)


def _add_commands_and_heartbeats(database: peewee.Database) -> None:
    """Version 4: commands to stands (remote end of a session) and their heartbeats, latest
    and over time (cloud/standsync/commands.py, cloud/standsync/heartbeat.py)."""
    database.create_tables([StandCommand, StandHeartbeat, StandHeartbeatLog])


def _add_directory_changes(database: peewee.Database) -> None:
    """Version 3: directory change tracking (cloud/changes.py); every existing client,
    credential, tariff and staff member gets an entry, so cursors start after them."""
    database.create_tables([DirectoryCounter, DirectoryChange])
    adopt_unlogged()


def _add_comment_stands(database: peewee.Database) -> None:
    """Version 9: the stand a comment was written at, and the comment history complete: a
    comment given when a session ended (so far only in ``Session.comment``) becomes a comment
    of its client and session, as cloud/standsync/ingest/ now records it; a comment that came from a
    stand learns its stand from the comment.added event it was made from."""
    migrator = SchemaMigrator.from_database(database)
    migrate(migrator.add_column(Comment._meta.table_name, "stand_id", Comment.stand))
    recorded = Comment.select(Comment.id).where(
        (Comment.session == Session.id) & (Comment.text == Session.comment)
    )
    given = Session.select(
        Session.client,
        Session.id,
        Session.ended_by,
        Session.stand,
        Session.comment,
        Session.ended_at,
    ).where((Session.comment != "") & Session.ended_at.is_null(False) & ~peewee.fn.EXISTS(recorded))
    columns = [Comment.client, Comment.session, Comment.author, Comment.stand, Comment.text]
    Comment.insert_from(given, [*columns, Comment.created_at]).execute()
    database.execute_sql(
        'UPDATE "comment" SET stand_id = (SELECT e.stand_id FROM stand_event e'
        " WHERE e.type = 'comment.added' AND e.client_id = \"comment\".client_id"
        ' AND e.occurred_at = "comment".created_at ORDER BY e.id LIMIT 1)'
        " WHERE stand_id IS NULL"
    )
    database.execute_sql(
        'UPDATE "comment" SET stand_id = (SELECT s.stand_id FROM "session" s'
        ' WHERE s.id = "comment".session_id AND s.comment = "comment".text)'
        " WHERE stand_id IS NULL AND session_id IS NOT NULL"
    )


def _add_segments_and_mailings(database: peewee.Database) -> None:
    """Version 5: segments, mailings and their recipients (cloud/marketing/segments.py,
    cloud/marketing/mailings.py), and the client's unsubscribe flag."""
    database.create_tables([Segment, Mailing, MailingRecipient])
    migrator = SchemaMigrator.from_database(database)
    unsubscribed = schemasteps.with_default(peewee.BooleanField(default=False), "FALSE")
    migrate(
        migrator.add_column(
            Client._meta.table_name, "unsubscribed", unsubscribed, allow_not_null=True
        )
    )


def _silence_backfill_sql(database: peewee.Database) -> str:
    """For the heartbeat log rows already kept (one a minute): a gap to the stand's previous
    row longer than ``LOG_EVERY + ONLINE_WITHIN`` means at least ``gap - LOG_EVERY`` seconds
    without a heartbeat, which is what ``silence_s`` of those rows becomes (a lower bound)."""
    if isinstance(database, peewee.PostgresqlDatabase):
        gap = "EXTRACT(EPOCH FROM received_at - LAG(received_at) OVER w)::bigint"
    else:
        gap = "CAST(ROUND((julianday(received_at) - julianday(LAG(received_at) OVER w)) * 86400) AS INTEGER)"
    log_s, online_s = int(LOG_EVERY.total_seconds()), int(ONLINE_WITHIN.total_seconds())
    return (
        f"UPDATE stand_heartbeat_log SET silence_s = g.gap - {log_s} FROM ("  # noqa: S608
        f"SELECT id, {gap} AS gap FROM stand_heartbeat_log "
        "WINDOW w AS (PARTITION BY stand_id ORDER BY received_at)) AS g "
        f"WHERE g.id = stand_heartbeat_log.id AND g.gap > {log_s + online_s}"
    )


def _add_report_indexes(database: peewee.Database) -> None:
    """Version 6: what the reports need to answer fast on a large chain (cloud/reports/pages.py):
    the heartbeat log's silences (filled in from the log kept so far) and the indexes of
    ``REPORT_INDEXES``."""
    schemasteps.add_missing_column(database, StandHeartbeatLog, "silence_s")
    database.execute_sql(_silence_backfill_sql(database))
    for _model, sql in REPORT_INDEXES:
        database.execute_sql(sql)


def _add_corporate_accounts(database: peewee.Database) -> None:
    """Version 8: corporate accounts (cloud/clients/corporate.py): the corporate flag, drivers, a
    per-card daily limit, and the credential each session was started with."""
    database.create_tables([ClientDriver])
    migrator = SchemaMigrator.from_database(database)
    session = Session._meta.table_name
    migrate(
        migrator.add_column(
            Client._meta.table_name,
            "corporate",
            schemasteps.with_default(peewee.BooleanField(default=False), "FALSE"),
            allow_not_null=True,
        ),
        migrator.add_column(
            Credential._meta.table_name, "daily_limit_kopecks", Credential.daily_limit_kopecks
        ),
        migrator.add_column(session, "credential_kind", Session.credential_kind),
        migrator.add_column(session, "credential_value", Session.credential_value),
        migrator.add_column(
            session,
            "over_daily_limit",
            schemasteps.with_default(peewee.BooleanField(default=False), "FALSE"),
            allow_not_null=True,
        ),
        migrator.add_index(session, ("credential_value", "started_at")),
    )


def _add_points_and_discounts(database: peewee.Database) -> None:
    """Version 7: bonus points on the ledger and the client's points spending order and
    personal discount (cloud/loyalty/bonus.py). A ledger entry's event is unique per kind now (a
    session's end may charge money, spend points and accrue points)."""
    migrator = SchemaMigrator.from_database(database)
    client = Client._meta.table_name
    ledger = LedgerEntry._meta.table_name
    steps = [
        migrator.add_column(
            client,
            "points_balance",
            schemasteps.with_default(peewee.BigIntegerField(default=0), "0"),
            allow_not_null=True,
        ),
        migrator.add_column(
            client,
            "points_spending",
            schemasteps.with_default(
                peewee.CharField(max_length=20, default="points_first"), "'points_first'"
            ),
            allow_not_null=True,
        ),
        migrator.add_column(
            client,
            "discount_percent",
            schemasteps.with_default(peewee.IntegerField(default=0), "0"),
            allow_not_null=True,
        ),
        migrator.add_column(
            client,
            "discount_kopecks",
            schemasteps.with_default(peewee.BigIntegerField(default=0), "0"),
            allow_not_null=True,
        ),
        migrator.add_column(
            ledger,
            "amount_points",
            schemasteps.with_default(peewee.BigIntegerField(default=0), "0"),
            allow_not_null=True,
        ),
        migrator.drop_index(ledger, f"{ledger}_event_id"),
        migrator.add_index(ledger, ("event_id", "kind"), True),
    ]
    migrate(*steps)


# Indexes no lookup uses, dropped for the ingest rate (bench/sync_ingest.py): every session
# and ledger entry a stand sends paid for each of them.
UNUSED_INDEXES = (
    "session_tariff_version_id",
    "session_started_by_id",
    "session_ended_by_id",
    "ledger_entry_kind",
    "ledger_entry_created_by_id",
)


def _sync_repairs(database: peewee.Database) -> None:
    """Version 11: a stand's alarm in its latest heartbeat (cloud/standsync/heartbeat.py; version 4
    creates the table from today's model, with the column already), and ``UNUSED_INDEXES``
    dropped."""
    for index in UNUSED_INDEXES:
        database.execute_sql(f'DROP INDEX IF EXISTS "{index}"')
    table = StandHeartbeat._meta.table_name
    if "alarm" in {column.name for column in database.get_columns(table)}:
        return
    migrator = SchemaMigrator.from_database(database)
    # NOT NULL with a database default in one statement (no table rebuild on SQLite).
    alarm = peewee.TextField(default="", constraints=[peewee.SQL("DEFAULT ''")])
    migrate(migrator.add_column(table, "alarm", alarm, allow_not_null=True))


def _add_change_triggers(database: peewee.Database) -> None:
    """Version 12: directory changes recorded by triggers (cloud/changetriggers.py) instead of
    by each service; rows written around the services so far get their entries first. The
    triggers are made from today's ``SOURCES``, so the columns they name that a later version
    adds come first (13: the client's overdraft; 22: a tariff version's schedule)."""
    adopt_unlogged()
    schemasteps.add_missing_column(database, Client, "overdraft_limit_kopecks")
    schemasteps.add_tariff_schedule(database)  # 22
    changetriggers.install(database)


def _add_client_funds(database: peewee.Database) -> None:
    """Version 13: a client's own overdraft (credit) limit, and where a client's session is
    open in the directory (cloud/changetriggers.py: the session table is a source now); the
    clients washing now move, so stands learn of their open sessions at the next poll."""
    schemasteps.add_missing_column(database, Client, "overdraft_limit_kopecks")
    changetriggers.install(database)
    washing = Session.select(Session.client).where(Session.ended_at.is_null()).distinct()
    record_change(CLIENT, [client_id for (client_id,) in washing.tuples()])


def _add_held_topups(database: peewee.Database) -> None:
    """Version 14: top-ups over a ceiling held for review (cloud/standsync/ingest/held.py)."""
    database.create_tables([HeldTopup])


def _add_account_safety(database: peewee.Database) -> None:
    """Version 15: failed log-ins kept for the owner (cloud/staff/auth.py; ``login_throttle``
    keeps its columns, its keys now also name an account at an address and known browsers);
    who issued an API token and when it expires: a token issued before expires
    ``DEFAULT_API_TOKEN_DAYS`` after this upgrade (none expires at once, none works for ever)."""
    database.create_tables([FailedLogin])
    schemasteps.add_missing_column(database, ApiToken, "issued_by")
    schemasteps.add_missing_column(database, ApiToken, "expires_at")
    expiry = utcnow() + timedelta(days=DEFAULT_API_TOKEN_DAYS)
    ApiToken.update(expires_at=expiry).where(ApiToken.expires_at.is_null()).execute()


def _add_cabinet(database: peewee.Database) -> None:
    """Version 16: the client cabinet (cloud/cabinet/): log-in codes, the sends counted per
    phone and address, clients' cabinet sessions, consent and last log-in."""
    database.create_tables(CABINET_MODELS)


def _add_online_payments(database: peewee.Database) -> None:
    """Version 17: online top-ups through an acquirer and their refunds (cloud/payments/)."""
    database.create_tables([OnlinePayment, OnlineRefund])


def _add_receipts(database: peewee.Database) -> None:
    """Version 18: the outbox of fiscal receipts (cloud/fiscal/). Entries made before it get
    none: the integrity check counts top-ups from the first receipt on."""
    database.create_tables([Receipt])


def _add_site_details(database: peewee.Database) -> None:
    """Version 21: a client's details go only to the stands of the client's sites
    (cloud/standsync/directory.py): a client's home site and sessions are sources of its changes
    now, and every live client moves, so each stand receives every client again as its site
    may see them (the details it held of other sites' clients are replaced at its next poll)."""
    changetriggers.install(database)
    live = Client.select(Client.id).where(Client.deleted_at.is_null())
    record_change(CLIENT, [client_id for (client_id,) in live.tuples()])


def _add_shifts(database: peewee.Database) -> None:
    """Version 19: attendants' shifts from the stands' shift events (cloud/shifts/)."""
    database.create_tables([Shift])


def _add_audit_log(database: peewee.Database) -> None:
    """Version 20: the staff audit log (cloud/audit/service.py), which the database itself keeps
    append-only (triggers refuse UPDATE and DELETE)."""
    database.create_tables([AuditEntry])
    install_audit_guard(database)


# Version 1 is the first released schema; nothing comes before it.
MIGRATIONS: list[tuple[int, Migration]] = [
    (2, _add_sync),
    (3, _add_directory_changes),
    (4, _add_commands_and_heartbeats),
    (5, _add_segments_and_mailings),
    (6, _add_report_indexes),
    (7, _add_points_and_discounts),
    (8, _add_corporate_accounts),
    (9, _add_comment_stands),
    (11, _sync_repairs),
    (12, _add_change_triggers),
    (13, _add_client_funds),
    (14, _add_held_topups),
    (15, _add_account_safety),
    (16, _add_cabinet),
    (17, _add_online_payments),
    (18, _add_receipts),
    (19, _add_shifts),
    (20, _add_audit_log),
    (21, _add_site_details),
    (22, schemasteps.add_pricing),
    (23, schemasteps.add_foreign_plates_and_loyalty_settings),
    (24, schemasteps.add_forced_closes),
    (25, schemasteps.add_alerts),
    (27, schemasteps.add_rollups),
    (28, schemasteps.add_receipt_credit),
    (29, schemasteps.add_report_lookups),
    (30, schemasteps.record_changes_per_statement),
    (31, schemasteps.add_client_details_changes),
    (32, schemasteps.skip_home_site_visits),
    (33, schemasteps.positions_at_commit),
]
BASE_VERSION = 1


def latest_version(migrations: list[tuple[int, Migration]] | None = None) -> int:
    steps = MIGRATIONS if migrations is None else migrations
    return max([BASE_VERSION, *(number for number, _ in steps)])


def current_version(database: peewee.Database) -> int | None:
    if not database.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def upgrade(
    database: peewee.Database, migrations: list[tuple[int, Migration]] | None = None
) -> tuple[int | None, int]:
    """Create or upgrade the schema; safe to run any number of times. Returns (before, after)."""
    steps = sorted(MIGRATIONS if migrations is None else migrations, key=lambda step: step[0])
    target = latest_version(steps)
    with database.atomic():
        before = current_version(database)
        if before is None:
            database.create_tables(ALL_MODELS)
            changetriggers.install(database)
            rolluptriggers.install(database)
            install_audit_guard(database)
            SchemaVersion.create(version=target)
            return None, target
        if before > target:
            raise RuntimeError(f"database schema {before} is newer than this program ({target})")
        if before < target:  # the steps may record changes before they make the triggers
            changetriggers.install_pending(database)
        for number, migrate in steps:
            if number > before:
                migrate(database)
                SchemaVersion.create(version=number)
    return before, target
