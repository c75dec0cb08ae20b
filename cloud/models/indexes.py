"""Indexes the reports read by (cloud/reports/pages.py; migration 6)."""

from __future__ import annotations

import peewee as pw

from cloud.models.core import VISIT_METHODS, BaseModel, Client, LedgerEntry, Session
from cloud.models.standlink import StandHeartbeatLog

# --- indexes the reports read by (cloud/reports/pages.py; migration 6) ------------------------------

# Partial where the report reads a small part of a large table. Plain SQL, the same text on
# SQLite and PostgreSQL, run by create_tables on a fresh database and by the migration.
REPORT_INDEXES: list[tuple[type[BaseModel], str]] = [
    (
        LedgerEntry,
        'CREATE INDEX IF NOT EXISTS "ledgerentry_kind_created_at" '
        'ON "ledger_entry" ("kind", "created_at")',
    ),
    (
        Client,
        'CREATE INDEX IF NOT EXISTS "client_debt" ON "client" ("balance_kopecks") '
        'WHERE "balance_kopecks" < 0',
    ),
    (
        Session,
        'CREATE INDEX IF NOT EXISTS "session_repriced" ON "session" ("ended_at") '
        'WHERE "price_mismatch"',
    ),
    (
        StandHeartbeatLog,
        'CREATE INDEX IF NOT EXISTS "stand_heartbeat_log_silence" '
        'ON "stand_heartbeat_log" ("received_at", "stand_id", "silence_s") '
        'WHERE "silence_s" IS NOT NULL',
    ),
    # "stand_heartbeat_log_outbox" (received_at, stand_id, outbox) WHERE outbox > 0 was here
    # until migration 29 put "stand_heartbeat_log_peak" in its place.
]

# Migration 29 (cloud/schemasteps.py add_report_lookups): the stand health report's outbox
# peak of a stand is the first entry of its part of "stand_heartbeat_log_peak" that falls in
# the period (cloud/reports/stands.py outbox_peaks), and the debts report finds a session's
# overlapping ones among the client's sessions that ended after it began
# (cloud/reports/debts.py), by "session_client_id_ended_at", which also serves every lookup
# by client that the foreign key's own index "session_client_id" did (dropped).
REPORT_LOOKUPS: list[tuple[type[BaseModel], str]] = [
    (
        StandHeartbeatLog,
        'CREATE INDEX IF NOT EXISTS "stand_heartbeat_log_peak" ON "stand_heartbeat_log" '
        '("stand_id", "outbox" DESC, "received_at") WHERE "outbox" > 0',
    ),
    (
        Session,
        'CREATE INDEX IF NOT EXISTS "session_client_id_ended_at" '
        'ON "session" ("client_id", "ended_at")',
    ),
]
REPLACED_BY_LOOKUPS = ("stand_heartbeat_log_outbox", "session_client_id")

# Migration 31: a client's visits to a site (cloud/clients/scope.py), which the directory's
# change triggers look up for every session written (is it the client's first visit there?
# cloud/changetriggers.py): one probe of the client's and site's part instead of a walk over
# all the client's sessions.
_VISITS = ", ".join(f"'{method}'" for method in VISIT_METHODS)
VISIT_LOOKUP = (
    Session,
    'CREATE INDEX IF NOT EXISTS "session_client_visit" ON "session" ("client_id", "site_id", "id") '
    f'WHERE "start_method" IN ({_VISITS})',
)
for _model, _sql in [*REPORT_INDEXES, *REPORT_LOOKUPS, VISIT_LOOKUP]:
    _model.add_index(pw.SQL(_sql))
