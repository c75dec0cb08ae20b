"""Segments and mailings (cloud/marketing/segments.py, cloud/marketing/mailings.py)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, Client, User

# --- segments and mailings (cloud/marketing/segments.py, cloud/marketing/mailings.py) --------------------------

MAILING_STATUSES = ("queued", "sending", "sent", "failed", "skipped")


class Segment(BaseModel):
    """A saved filter over clients; ``filters`` is the JSON of ``segmentbook.SegmentFilter``."""

    name = pw.CharField(max_length=100, unique=True)
    filters = pw.TextField(default="{}")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)


class Mailing(BaseModel):
    """A message to a segment's clients. Its recipients are recorded when it is created; the
    ``send-mailings`` command sends the queued ones."""

    segment = pw.ForeignKeyField(Segment, null=True, on_delete="SET NULL", backref="mailings")
    segment_name = pw.CharField(max_length=100)  # kept when the segment is deleted
    subject = pw.CharField(max_length=200)
    body = pw.TextField()
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UtcDateTimeField(default=utcnow, index=True)
    finished_at = UtcDateTimeField(null=True)


class MailingRecipient(BaseModel):
    """One client of a mailing: queued, then sending (claimed by a sender), then sent or
    failed; skipped at once when there is no address or the client unsubscribed."""

    mailing = pw.ForeignKeyField(Mailing, backref="recipients", on_delete="CASCADE")
    client = pw.ForeignKeyField(Client, null=True, on_delete="SET NULL", backref="+")
    email = pw.CharField(max_length=200, default="")
    status = pw.CharField(max_length=10, choices=[(s, s) for s in MAILING_STATUSES], index=True)
    reason = pw.CharField(max_length=300, default="")
    updated_at = UtcDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("mailing", "client"), True),)
