"""Indexes the reports read by (cloud/reports/pages.py; migration 6)."""

from __future__ import annotations

import peewee as pw

from cloud.models.core import BaseModel, Client, LedgerEntry, Session
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
    (
        StandHeartbeatLog,
        'CREATE INDEX IF NOT EXISTS "stand_heartbeat_log_outbox" '
        'ON "stand_heartbeat_log" ("received_at", "stand_id", "outbox") WHERE "outbox" > 0',
    ),
]
for _model, _sql in REPORT_INDEXES:
    _model.add_index(pw.SQL(_sql))
