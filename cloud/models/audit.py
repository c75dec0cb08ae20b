"""The staff audit log (cloud/audit/service.py): one row per staff action that changed money,
access, prices or clients. Append-only: the database itself refuses to change or delete a row
(triggers made by ``cloud.audit.service.install_guard``)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel


class AuditEntry(BaseModel):
    """Who (a staff id and their name and role as they were: no foreign key, so a row outlives
    the person's deletion), when, from where (the client address the app sees, the API token
    when the action came through the API), what (an action code), on what (a kind, an id and a
    label as they were), the values before and after (JSON objects) and a comment."""

    at = UtcDateTimeField(index=True)
    actor_id = pw.IntegerField(null=True, index=True)  # None: the command line or the system
    actor_name = pw.CharField(max_length=200, default="")
    actor_role = pw.CharField(max_length=20, default="")
    address = pw.CharField(max_length=64, default="")  # "" outside a request (command line)
    api_token_id = pw.IntegerField(null=True)
    action = pw.CharField(max_length=40, index=True)
    target_kind = pw.CharField(max_length=20)
    target_id = pw.BigIntegerField(null=True)
    target_label = pw.CharField(max_length=200, default="")
    before = pw.TextField(null=True)  # JSON object, or None (the thing did not exist)
    after = pw.TextField(null=True)  # JSON object, or None (the thing is gone)
    comment = pw.TextField(default="")

    class Meta:
        table_name = "audit_entry"
        indexes = ((("target_kind", "target_id"), False),)
