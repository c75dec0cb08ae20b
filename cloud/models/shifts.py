"""Attendants' shifts at the stands (cloud/shifts/): stored from the stands' ``shift.opened``
and ``shift.closed`` events; the report is computed from the ledger, never stored."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel, Site, Stand, StandEvent, User


class Shift(BaseModel):
    """One attendant's shift at one stand: opened with ``opening_kopecks`` in the drawer,
    closed with ``counted_kopecks`` counted. ``opened_seq``/``closed_seq`` are the stand's
    event numbers of the two events: the shift's top-ups are the attendant's top-ups at the
    stand between them (``cloud.shifts.service``)."""

    # The raw ids beside the foreign keys, for mypy (as in cloud/modelkeys.py).
    stand_id: int
    site_id: int
    user_id: int | None

    uuid = pw.CharField(max_length=36, unique=True)  # the stand's shift_uuid
    stand = pw.ForeignKeyField(Stand, on_delete="RESTRICT", backref="+")
    site = pw.ForeignKeyField(Site, on_delete="RESTRICT", backref="+")
    # The attendant (the events' actor), None when the stand named no accepted staff member.
    user = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    opening_kopecks = pw.BigIntegerField()
    opened_at = UtcDateTimeField(index=True)  # corrected time of the opening event
    opened_seq = pw.BigIntegerField()
    opened_event = pw.ForeignKeyField(StandEvent, on_delete="RESTRICT", backref="+")
    counted_kopecks = pw.BigIntegerField(null=True)
    closed_at = UtcDateTimeField(null=True, index=True)
    closed_seq = pw.BigIntegerField(null=True)
    closed_event = pw.ForeignKeyField(StandEvent, null=True, on_delete="RESTRICT", backref="+")
