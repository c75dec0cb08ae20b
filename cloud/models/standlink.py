"""What the central service keeps of its link to each stand: commands sent down, heartbeats
and their log (cloud/standsync/commands.py, cloud/standsync/heartbeat.py), and the
directory's change log (cloud/changes.py)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, Client, Session, Stand, StandEvent, User

# --- commands to stands and their live state (cloud/standsync/commands.py, cloud/standsync/heartbeat.py) ---------


class StandCommand(BaseModel):
    """An order for a stand, repeated on every directory poll until done: ``end_session`` is
    done when the stand's session.ended event for that session is applied; ``start_session``
    (``client``) when the stand's ``command.result`` event says what it did: ``outcome``
    "done" with the session it started (``session``), or "refused" with the stand's
    ``reason`` code (sync.events.REFUSALS)."""

    stand = pw.ForeignKeyField(Stand, backref="commands", on_delete="CASCADE")
    type = pw.CharField(max_length=20)
    session = pw.ForeignKeyField(Session, backref="commands", on_delete="CASCADE", null=True)
    client = pw.ForeignKeyField(Client, null=True, on_delete="CASCADE", backref="+")
    session_uuid = pw.CharField(max_length=36, null=True)  # start_session: the uuid to start
    comment = pw.TextField(default="")
    issued_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = UtcDateTimeField(default=utcnow)
    done_at = UtcDateTimeField(null=True)
    outcome = pw.CharField(max_length=20, default="")  # "", done, refused, expired
    reason = pw.CharField(max_length=40, default="")


class ForcedClose(BaseModel):
    """A session an administrator ended centrally (cloud/sessions/forceclose.py): who, when,
    why, and the central end and price it was charged at. If the stand reports its own end
    later, ``stand_event`` is that event and ``correction_kopecks`` what the ledger was
    corrected by (the stand's charge minus the central one; docs/money-at-the-stand.md)."""

    session = pw.ForeignKeyField(Session, unique=True, backref="+", on_delete="CASCADE")
    closed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    closed_at = UtcDateTimeField()
    reason = pw.CharField(max_length=20)  # stand_silent, stand_revoked, not_from_stand
    comment = pw.TextField()
    duration_s = pw.IntegerField()
    cost_kopecks = pw.BigIntegerField()
    stand_event = pw.ForeignKeyField(StandEvent, null=True, on_delete="SET NULL", backref="+")
    stand_reported_at = UtcDateTimeField(null=True)
    correction_kopecks = pw.BigIntegerField(default=0)


# One pending command per session: a second request returns the first.
StandCommand.add_index(StandCommand.session, unique=True, where=StandCommand.done_at.is_null())


class StandHeartbeat(BaseModel):
    """The latest heartbeat of a stand (one row per stand): what the stands page shows."""

    stand = pw.ForeignKeyField(Stand, unique=True, backref="+", on_delete="CASCADE")
    received_at = UtcDateTimeField()
    version = pw.CharField(max_length=50)
    uptime_s = pw.BigIntegerField()
    outbox = pw.BigIntegerField()  # events not yet acknowledged
    oldest_unacked_at = UtcDateTimeField(null=True)
    cursor = pw.BigIntegerField()  # directory cursor
    last_sync_at = UtcDateTimeField(null=True)
    reader = pw.TextField(default="{}")  # JSON object as the stand sent it (scalars only)
    camera = pw.TextField(default="{}")
    # What the stand cannot repair by itself, e.g. events the central service lost in a restore
    # from a backup that the stand no longer keeps ("" when all is well).
    alarm = pw.TextField(default="")


class StandHeartbeatLog(BaseModel):
    """Heartbeats over time, at most one a minute per stand, for the stand health report."""

    stand = pw.ForeignKeyField(Stand, backref="+", on_delete="CASCADE")
    received_at = UtcDateTimeField()
    version = pw.CharField(max_length=50)
    uptime_s = pw.BigIntegerField()
    outbox = pw.BigIntegerField()
    oldest_unacked_at = UtcDateTimeField(null=True)
    cursor = pw.BigIntegerField()
    clock_skew_ms = pw.BigIntegerField(null=True)
    reader_state = pw.CharField(max_length=20, default="")
    camera_state = pw.CharField(max_length=20, default="")
    # Seconds since the stand's previous heartbeat when that silence was longer than
    # heartbeat.ONLINE_WITHIN (the heartbeat that ends an outage), else NULL.
    silence_s = pw.BigIntegerField(null=True)

    class Meta:
        indexes = ((("stand", "received_at"), False),)


# --- directory change tracking (cloud/changes.py) ----------------------------------------------


class DirectoryCounter(BaseModel):
    """One row (id 1): the last directory change position handed out. A writer bumps it inside
    its own transaction, which locks the row until commit, so positions commit in order."""

    id = pw.IntegerField(primary_key=True)
    position = pw.BigIntegerField(default=0)


class DirectoryChange(BaseModel):
    """The latest change of each directory row: ``entity`` is client, credential, tariff or
    staff and ``entity_id`` its row id. A new change of the row moves it to a new position."""

    position = pw.BigIntegerField(unique=True)
    entity = pw.CharField(max_length=20)
    entity_id = pw.BigIntegerField()
    changed_at = UtcDateTimeField(default=utcnow)

    class Meta:
        # The second: one entity's entries after a position (a head's staff and details)
        # without walking every other entity's (since version 31).
        indexes = ((("entity", "entity_id"), True), (("entity", "position"), False))
