"""Corporate accounts' drivers (cloud/clients/corporate.py)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, Client, Credential, Session

# --- corporate accounts (cloud/clients/corporate.py) ---------------------------------------------------


class ClientDriver(BaseModel):
    """A person allowed to wash on a corporate account, optionally tied to one of its cards."""

    client = pw.ForeignKeyField(Client, backref="drivers", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    card = pw.ForeignKeyField(Credential, null=True, on_delete="SET NULL", backref="+")
    created_at = UtcDateTimeField(default=utcnow)


# The spend of a card (or a plate's sessions) on a day: sessions by credential and start.
Session.add_index(Session.credential_value, Session.started_at)
