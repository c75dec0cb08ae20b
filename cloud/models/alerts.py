"""Alerts to staff by e-mail (cloud/alerts/): who gets which kinds, and the incidents that
``aquastand-cloud check-alerts`` opens and closes."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel, User

# What can go wrong, in the order the Alerts page lists them (cloud/alerts/probes.py).
ALERT_KINDS = (
    "stand_offline",
    "stand_alarm",
    "long_session",
    "held_topup",
    "receipts",
    "integrity",
)
# An incident's mail (the opening one and the recovery one): ``pending`` waits for a sender;
# ``sending`` is claimed by one (committed before the server is asked); ``sent``; ``none``:
# nobody was to be told (no recipient chose the kind, or the opening mail never went out);
# ``interrupted``: its sender died mid-message, so it may have gone out and is not sent again.
MAIL_STATES = ("pending", "sending", "sent", "none", "interrupted")


class AlertSubscription(BaseModel):
    """A staff member gets the alerts of one kind (at ``User.email``)."""

    user_id: int

    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="+")
    kind = pw.CharField(max_length=20, choices=[(k, k) for k in ALERT_KINDS])

    class Meta:
        indexes = ((("user", "kind"), True),)


class AlertIncident(BaseModel):
    """One incident: ``kind`` about ``subject`` (``stand:3``, ``session:41``, a check's code)
    from ``opened_at`` until ``closed_at``. At most one open incident per kind and subject
    (a unique index over the open ones): two checkers that find the same trouble at once
    insert one row, so one mail."""

    kind = pw.CharField(max_length=20, choices=[(k, k) for k in ALERT_KINDS])
    subject = pw.CharField(max_length=100)
    label = pw.CharField(max_length=300)  # what it is about, in words ("Пост 1 (Ленина)")
    detail = pw.TextField(default="")  # what was found when it opened
    opened_at = UtcDateTimeField(index=True)
    closed_at = UtcDateTimeField(null=True)
    open_mail = pw.CharField(max_length=12, default="pending")
    open_mail_at = UtcDateTimeField(null=True)  # claimed, then sent
    close_mail = pw.CharField(max_length=12, default="none")
    close_mail_at = UtcDateTimeField(null=True)
    attempts = pw.IntegerField(default=0)  # failed sends (the server down, a refusal)
    last_error = pw.CharField(max_length=300, default="")


AlertIncident.add_index(
    AlertIncident.kind,
    AlertIncident.subject,
    unique=True,
    where=AlertIncident.closed_at.is_null(),
)
