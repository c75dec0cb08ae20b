"""Attendants' shifts and cash reconciliation (issue 17): shifts stored from the stands'
``shift.opened``/``shift.closed`` events (cloud/standsync/ingest/appliers/), each shift's
report computed from the ledger (``service``), the Shifts page with its CSV (``pages``) and
``GET /api/v1/shifts`` (``api``)."""
