"""The business records: sites and stands, staff and their log-ins, tariffs, clients and
their credentials, sessions, the events stands sent, the ledger, comments."""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

from cloud.db import UtcDateTimeField, db_proxy, utcnow
from cloud.modelkeys import CredentialKeys, SessionKeys, StandKeys
from sync.pricing import Rates
from sync.schedule import Schedule, Window, schedule_from_json, schedule_to_json

ROLES = ("attendant", "operator", "administrator", "owner")
CLIENT_KINDS = ("member", "guest")
CREDENTIAL_KINDS = ("card", "plate", "qr")
MONEY_KINDS = ("topup", "charge", "adjustment", "refund")
# Bonus points (cloud/loyalty/bonus.py): their entries move amount_points, never amount_kopecks.
POINTS_KINDS = ("bonus_welcome", "bonus_accrual", "bonus_spend", "bonus_expiry", "bonus_adjustment")
LEDGER_KINDS = MONEY_KINDS + POINTS_KINDS
POINTS_SPENDING = ("points_first", "money_first", "off")
PAYMENT_METHODS = ("cash", "card", "transfer")  # what staff and stands may record
# A top-up paid online through the acquirer (cloud/payments/): only that path posts it.
ONLINE_METHOD = "online"
LEDGER_METHODS = (*PAYMENT_METHODS, ONLINE_METHOD)


class BaseModel(pw.Model):
    id = pw.AutoField()  # the key peewee would add by itself, declared so mypy knows it

    class Meta:
        database = db_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField()
    applied_at = UtcDateTimeField(default=utcnow)


class ScheduleField(pw.TextField):
    """A tariff version's schedule (``sync.schedule``) as JSON text, "" for none; written from
    windows or their ``asdict`` form, read as windows."""

    def db_value(self, value: Any) -> str:
        if not value:
            return ""
        windows = tuple(
            w if isinstance(w, Window) else Window(**{**w, "days": tuple(w["days"])}) for w in value
        )
        return json.dumps(schedule_to_json(windows))

    def python_value(self, value: str | None) -> Schedule:
        return schedule_from_json(json.loads(value)) if value else ()


class Tariff(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    active = pw.BooleanField(default=True)
    created_at = UtcDateTimeField(default=utcnow)


class Site(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    created_at = UtcDateTimeField(default=utcnow)
    # The tariff the site's stands start with when a client has none of their own (None: the
    # oldest active tariff; cloud/catalog/defaults.py).
    default_tariff = pw.ForeignKeyField(Tariff, null=True, on_delete="SET NULL", backref="+")


class Stand(BaseModel, StandKeys):
    site = pw.ForeignKeyField(Site, backref="stands", on_delete="RESTRICT")
    name = pw.CharField(max_length=100)
    created_at = UtcDateTimeField(default=utcnow)
    # This stand's own default tariff, before its site's (cloud/catalog/defaults.py).
    default_tariff = pw.ForeignKeyField(Tariff, null=True, on_delete="SET NULL", backref="+")
    # Enrolment and authentication (cloud/standsync/standauth.py): only SHA-256 hashes of the secrets.
    token_hash = pw.CharField(max_length=64, null=True)
    enrol_code_hash = pw.CharField(max_length=64, null=True, unique=True)
    enrol_code_expires_at = UtcDateTimeField(null=True)
    enrol_code_used_at = UtcDateTimeField(null=True)
    enrolled_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)
    # Measured at every sync request: server time minus the stand's clock, and its boot.
    last_seen_at = UtcDateTimeField(null=True)
    clock_skew_ms = pw.BigIntegerField(null=True)
    boot_id = pw.CharField(max_length=36, null=True)

    class Meta:
        indexes = ((("site", "name"), True),)


class User(BaseModel):
    """A staff member: logs in to the central app with phone and password, to stands with a PIN."""

    full_name = pw.CharField(max_length=200)
    phone = pw.CharField(max_length=20)
    email = pw.CharField(max_length=254, default="")  # where alerts go (cloud/alerts/)
    password_hash = pw.CharField(max_length=255, default="")
    pin_hash = pw.CharField(max_length=255, default="")
    role = pw.CharField(max_length=20, choices=[(r, r) for r in ROLES])
    active = pw.BooleanField(default=True)
    # Bumped on log-out, deactivation, role or password change: ends every web session at once.
    session_version = pw.IntegerField(default=1)
    created_at = UtcDateTimeField(default=utcnow)
    deleted_at = UtcDateTimeField(null=True)


User.add_index(User.phone, unique=True, where=User.deleted_at.is_null())


class UserSite(BaseModel):
    user = pw.ForeignKeyField(User, backref="site_links", on_delete="CASCADE")
    site = pw.ForeignKeyField(Site, backref="staff_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "site"), True),)


class ApiToken(BaseModel):
    """A per-user bearer token for the JSON API; only its SHA-256 is stored. It works until
    ``expires_at`` (none: never works) unless revoked (by hand, a password change, deletion)."""

    user = pw.ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    # Who issued it: the user or an owner (None: the command line).
    issued_by = pw.ForeignKeyField(User, null=True, backref="tokens_issued", on_delete="SET NULL")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = UtcDateTimeField(default=utcnow)
    expires_at = UtcDateTimeField(null=True)
    last_used_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)


class LoginThrottle(BaseModel):
    """Log-in tries counted under one key (``cloud.staff.auth``): an account from one address
    (``pair:+7…@1.2.3.4``), an account from anywhere (``phone:+7…``), an address
    (``addr:1.2.3.4``) or a known browser (``device:…``). ``locked_until``: no try under this
    key is checked before then; ``updated_at``: the last try counted."""

    key = pw.CharField(max_length=100, unique=True)
    failures = pw.IntegerField(default=0)
    locked_until = UtcDateTimeField(null=True)
    updated_at = UtcDateTimeField(default=utcnow)


class FailedLogin(BaseModel):
    """A failed log-in, shown to the owner (``cloud.staff.auth.FAILED_LOGINS_KEPT`` long)."""

    at = UtcDateTimeField(index=True)
    phone = pw.CharField(max_length=40)  # as typed (normalised when it reads as a phone)
    address = pw.CharField(max_length=64)
    known_browser = pw.BooleanField(default=False)


class TariffVersion(BaseModel):
    """Rates of a tariff from ``effective_from`` on; a change is a new version, never an edit,
    so a past session keeps the price it was started with."""

    tariff = pw.ForeignKeyField(Tariff, backref="versions", on_delete="CASCADE")
    effective_from = UtcDateTimeField(index=True)
    member_per_minute = pw.IntegerField()
    guest_per_minute = pw.IntegerField()
    step_s = pw.IntegerField(default=60)
    min_charge = pw.IntegerField(default=0)
    cap = pw.IntegerField(null=True)
    grace_s = pw.IntegerField(default=0)
    # Rates by time of day and weekday (sync.schedule), JSON; empty: none.
    schedule = ScheduleField(default=())
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UtcDateTimeField(default=utcnow)

    def rates(self) -> Rates:
        """These rates in the form the shared pricing code takes."""
        return Rates(
            member_per_minute=self.member_per_minute,
            guest_per_minute=self.guest_per_minute,
            step_s=self.step_s,
            min_charge=self.min_charge,
            cap=self.cap,
            grace_s=self.grace_s,
            schedule=self.schedule,
        )


def name_search_key(text: str) -> str:
    """The form names are searched by: case-folded in Python (SQLite's LOWER() knows only
    ASCII, PostgreSQL's depends on the locale), with Ё read as Е."""
    return text.casefold().replace("ё", "е")[:200]


class Client(BaseModel):
    # Set for a client registered at a stand (the stand's id for it before it knew ours).
    uuid = pw.CharField(max_length=36, null=True, unique=True)
    kind = pw.CharField(max_length=10, choices=[(k, k) for k in CLIENT_KINDS], index=True)
    name = pw.CharField(max_length=200, default="")
    # name_search_key(name), kept by save(); a bulk Client.update(name=...) must set it too.
    search_name = pw.CharField(max_length=200, default="", index=True)
    email = pw.CharField(max_length=200, default="")
    note = pw.TextField(default="")
    default_tariff = pw.ForeignKeyField(Tariff, null=True, on_delete="SET NULL")
    home_site = pw.ForeignKeyField(Site, null=True, on_delete="SET NULL", backref="clients")
    blocked = pw.BooleanField(default=False)
    blocked_reason = pw.CharField(max_length=300, default="")
    # Asked not to receive mailings (cloud/marketing/mailings.py skips them).
    unsubscribed = pw.BooleanField(default=False)

    # One account with several cards, plates and drivers, one balance (cloud/clients/corporate.py).
    corporate = pw.BooleanField(default=False)
    # A cache of sum(LedgerEntry.amount_kopecks), updated in the same transaction as each entry.
    balance_kopecks = pw.BigIntegerField(default=0)
    # The same for sum(LedgerEntry.amount_points) (cloud/loyalty/bonus.py); points spending order and
    # the personal discount (sync.bonus, sync.pricing.Discount).
    points_balance = pw.BigIntegerField(default=0)
    points_spending = pw.CharField(max_length=20, default="points_first")
    discount_percent = pw.IntegerField(default=0)
    discount_kopecks = pw.BigIntegerField(default=0)
    # The client's own credit at the stands (sync.funds; None: the stand's configured default).
    overdraft_limit_kopecks = pw.BigIntegerField(null=True)
    member_since = UtcDateTimeField(null=True)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)
    deleted_at = UtcDateTimeField(null=True, index=True)

    def save(self, force_insert: bool = False, only: Any = None) -> Any:
        """Save the client but never its balance: ``cloud.ledger.service.post_entry`` alone moves it,
        with an SQL expression, so a client read before a top-up cannot write an old balance
        back. Assigning ``balance_kopecks`` and saving is a programming error."""
        self.search_name = name_search_key(self.name or "")
        if self._pk is None or force_insert:
            return super().save(force_insert=force_insert, only=only)
        if self._dirty & set(CACHED_BALANCES):
            raise RuntimeError("a balance changes only through cloud.ledger.service.post_entry")
        fields = only or [f for f in self._meta.sorted_fields if f.name not in CACHED_BALANCES]
        return super().save(only=fields)


CACHED_BALANCES = ("balance_kopecks", "points_balance")


class ClientPhone(BaseModel):
    client = pw.ForeignKeyField(Client, backref="phone_rows", on_delete="CASCADE")
    phone = pw.CharField(max_length=20, index=True)
    position = pw.IntegerField(default=0)


class Credential(BaseModel, CredentialKeys):
    """An NFC card UID, a car plate or a QR token id; each active one points to one client."""

    client = pw.ForeignKeyField(Client, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField(max_length=10, choices=[(k, k) for k in CREDENTIAL_KINDS])
    value = pw.CharField(max_length=64)
    lost = pw.BooleanField(default=False)
    created_at = UtcDateTimeField(default=utcnow)
    unlinked_at = UtcDateTimeField(null=True)
    # A card's charges on one local day may not exceed this (None: no limit; cloud/clients/corporate.py).
    daily_limit_kopecks = pw.BigIntegerField(null=True)
    # A plate entered as foreign: it matches none of the Russian formats (sync.plates).
    is_foreign = pw.BooleanField(default=False)


# A UID, plate or token id belongs to one client at a time (unlinked rows stay as history).
Credential.add_index(
    Credential.kind, Credential.value, unique=True, where=Credential.unlinked_at.is_null()
)


class Session(BaseModel, SessionKeys):
    """A wash session, written by the stand and brought here by sync."""

    uuid = pw.CharField(max_length=36, null=True, unique=True)  # the stand's session_uuid

    # Looked up by the index on (client, ended_at) (cloud/models/indexes.py, migration 29).
    client = pw.ForeignKeyField(Client, backref="sessions", on_delete="RESTRICT", index=False)
    stand = pw.ForeignKeyField(Stand, backref="sessions", on_delete="RESTRICT")
    site = pw.ForeignKeyField(Site, backref="sessions", on_delete="RESTRICT")
    # No index on the tariff version and staff columns: no lookup goes through them (joins go
    # to those tables' keys), and every index costs each session a stand sends (migration 11).
    tariff_version = pw.ForeignKeyField(TariffVersion, on_delete="RESTRICT", index=False)
    client_kind = pw.CharField(max_length=10)
    started_at = UtcDateTimeField(index=True)
    ended_at = UtcDateTimeField(null=True, index=True)
    duration_s = pw.IntegerField(null=True)
    cost_kopecks = pw.BigIntegerField(null=True)
    start_method = pw.CharField(max_length=20)  # card, qr, screen, plate
    end_method = pw.CharField(max_length=20, null=True)  # card, qr, screen, dashboard, auto
    started_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
    ended_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+", index=False)
    comment = pw.TextField(default="")
    # What the shared pricing code makes of the duration here; the charge stays what the stand
    # told the customer (cost_kopecks), a difference is flagged for a person to look at.
    repriced_cost_kopecks = pw.BigIntegerField(null=True)
    price_mismatch = pw.BooleanField(default=False)
    # The card UID, plate or QR token id the session was started with (None: not known, e.g.
    # a screen start without a plate), and whether it took its card past the daily limit.
    credential_kind = pw.CharField(max_length=10, null=True)
    credential_value = pw.CharField(max_length=64, null=True)
    over_daily_limit = pw.BooleanField(default=False)
    # Ended centrally by an administrator because no stand could end it (cloud/sessions/
    # forceclose.py; who, when, why and the central price: ``ForcedClose``). A database default,
    # since the stands' sessions are inserted without it (cloud/standsync/ingest/run.py).
    force_closed = pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT FALSE")])


# How a session starts when the client is there with their own credential (sync.events): a
# visit to the site (cloud/clients/scope.py).
VISIT_METHODS = ("card", "qr")

# The event types that register a client at a stand (its uuid there: cloud/standsync/).
REGISTRATIONS = ("guest.registered", "client.registered")


class StandEvent(BaseModel):
    """Every event a stand sent, as received (cloud/standsync/ingest/): unique per (stand, seq) and by
    its id, so a resent event is recognised and never applied twice."""

    stand = pw.ForeignKeyField(Stand, backref="events", on_delete="RESTRICT")
    seq = pw.BigIntegerField()
    event_uuid = pw.CharField(max_length=36, unique=True)
    type = pw.CharField(max_length=40)
    occurred_at_raw = pw.CharField(max_length=40)  # the stand's wall clock, as sent
    occurred_at = UtcDateTimeField(index=True)  # corrected (see cloud/standsync/ingest/)
    time_source = pw.CharField(max_length=10)  # clock, mono, raw, received
    boot_id = pw.CharField(max_length=36)
    mono_ms = pw.BigIntegerField()
    actor = pw.CharField(max_length=18)
    directory_version = pw.BigIntegerField()
    payload = pw.TextField()  # JSON
    # The uuid the payload is about (session, top-up, comment, client registered), if any.
    subject_uuid = pw.CharField(max_length=36, null=True, index=True)
    client = pw.ForeignKeyField(Client, null=True, on_delete="SET NULL", backref="+")
    # Set when the event was recorded without its usual effect (e.g. a session ended twice).
    flag = pw.CharField(max_length=40, default="", index=True)
    flag_note = pw.TextField(default="")
    received_at = UtcDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("stand", "seq"), True),)


class LedgerEntry(BaseModel):
    """Every movement of money or bonus points; a balance is the sum of its client's entries.
    A points entry (``POINTS_KINDS``) has ``amount_kopecks`` 0, a money entry
    ``amount_points`` 0."""

    client = pw.ForeignKeyField(Client, backref="ledger", on_delete="RESTRICT")
    # Not indexed (migration 11): two values, read within a client's entries; and no lookup
    # goes by created_by. Each index costs every entry a stand's batch posts.
    kind = pw.CharField(max_length=20, choices=[(k, k) for k in LEDGER_KINDS])
    amount_kopecks = pw.BigIntegerField()
    amount_points = pw.BigIntegerField(default=0)
    method = pw.CharField(max_length=20, null=True)
    session = pw.ForeignKeyField(Session, null=True, on_delete="RESTRICT", backref="ledger")
    site = pw.ForeignKeyField(Site, null=True, on_delete="SET NULL")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    reason = pw.CharField(max_length=300, default="")
    created_at = UtcDateTimeField(default=utcnow, index=True)
    # The stand event that caused the entry: one entry of a kind per event, so no event moves
    # money or points twice (a session's end may charge, spend points and accrue points).
    event = pw.ForeignKeyField(StandEvent, null=True, on_delete="RESTRICT")

    class Meta:
        indexes = ((("event", "kind"), True),)


class Comment(BaseModel):
    """A note on a client, and maybe one of their sessions: written in the central app, at a
    stand (comment.added), or given when a session ended (cloud/standsync/ingest/)."""

    client = pw.ForeignKeyField(Client, backref="comments", on_delete="CASCADE")
    session = pw.ForeignKeyField(Session, null=True, on_delete="SET NULL", backref="comments")
    author = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    text = pw.TextField()
    created_at = UtcDateTimeField(default=utcnow, index=True)
    # The stand it was written at; None for the central app (schema version 9).
    stand = pw.ForeignKeyField(Stand, null=True, on_delete="SET NULL", backref="+")
