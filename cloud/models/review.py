"""What a stand sent that waits for a person: top-ups held for review
(cloud/standsync/ingest/held.py)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel, Client, LedgerEntry, Site, Stand, StandEvent, User

HELD_STATUSES = ("held", "released", "rejected")
# Over the ceiling per top-up or per stand per day, or for a client deleted (never credited).
HELD_REASONS = ("topup", "stand_day", "deleted_client")


class HeldTopup(BaseModel):
    """A ``topup.recorded`` over a ceiling of the configuration: stored, not credited, until an
    administrator or the owner releases it (credited then, once: ``entry``) or rejects it
    (never credited; ``note`` says why)."""

    # The raw ids beside the foreign keys, for mypy (as in cloud/modelkeys.py).
    event_id: int
    client_id: int
    stand_id: int
    site_id: int | None
    actor_id: int | None
    decided_by_id: int | None
    entry_id: int | None

    event = pw.ForeignKeyField(StandEvent, unique=True, on_delete="RESTRICT", backref="+")
    client = pw.ForeignKeyField(Client, on_delete="RESTRICT", backref="+")
    stand = pw.ForeignKeyField(Stand, on_delete="RESTRICT", backref="+")
    site = pw.ForeignKeyField(Site, null=True, on_delete="SET NULL", backref="+")
    amount_kopecks = pw.BigIntegerField()
    method = pw.CharField(max_length=20)
    # The staff member the event named, when accepted as its actor (else None: unknown).
    actor = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    occurred_at = UtcDateTimeField()
    reason = pw.CharField(max_length=20, choices=[(r, r) for r in HELD_REASONS])
    status = pw.CharField(
        max_length=10, choices=[(s, s) for s in HELD_STATUSES], default="held", index=True
    )
    decided_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    decided_at = UtcDateTimeField(null=True)
    note = pw.CharField(max_length=300, default="")
    entry = pw.ForeignKeyField(LedgerEntry, null=True, on_delete="RESTRICT", backref="+")
