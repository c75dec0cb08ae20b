"""The central schema as released in version 1, frozen: the migration tests build a version-1
database from it and upgrade it in place. Never change this file; change cloud/models.py and
add a migration."""

from __future__ import annotations

from typing import Any

import peewee as pw

from cloud.db import UtcDateTimeField, db_proxy, utcnow
from sync.pricing import Rates

ROLES = ("attendant", "operator", "administrator", "owner")
CLIENT_KINDS = ("member", "guest")
CREDENTIAL_KINDS = ("card", "plate", "qr")
LEDGER_KINDS = ("topup", "charge", "adjustment", "refund")
PAYMENT_METHODS = ("cash", "card", "transfer")


class BaseModel(pw.Model):
    class Meta:
        database = db_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField()
    applied_at = UtcDateTimeField(default=utcnow)


class Site(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    created_at = UtcDateTimeField(default=utcnow)


class Stand(BaseModel):
    site = pw.ForeignKeyField(Site, backref="stands", on_delete="RESTRICT")
    name = pw.CharField(max_length=100)
    created_at = UtcDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("site", "name"), True),)


class User(BaseModel):
    """A staff member: logs in to the central app with phone and password, to stands with a PIN."""

    full_name = pw.CharField(max_length=200)
    phone = pw.CharField(max_length=20)
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
    """A per-user bearer token for the JSON API; only its SHA-256 is stored."""

    user = pw.ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = UtcDateTimeField(default=utcnow)
    last_used_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)


class LoginThrottle(BaseModel):
    """Failed log-ins per account (``phone:+7…``) and per address (``addr:1.2.3.4``)."""

    key = pw.CharField(max_length=100, unique=True)
    failures = pw.IntegerField(default=0)
    locked_until = UtcDateTimeField(null=True)
    updated_at = UtcDateTimeField(default=utcnow)


class Tariff(BaseModel):
    name = pw.CharField(max_length=100, unique=True)
    active = pw.BooleanField(default=True)
    created_at = UtcDateTimeField(default=utcnow)


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
        )


def name_search_key(text: str) -> str:
    """The form names are searched by: case-folded in Python (SQLite's LOWER() knows only
    ASCII, PostgreSQL's depends on the locale), with Ё read as Е."""
    return text.casefold().replace("ё", "е")[:200]


class Client(BaseModel):
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
    # A cache of sum(LedgerEntry.amount_kopecks), updated in the same transaction as each entry.
    balance_kopecks = pw.BigIntegerField(default=0)
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
        if "balance_kopecks" in self._dirty:
            raise RuntimeError("a balance changes only through cloud.ledger.service.post_entry")
        fields = only or [f for f in self._meta.sorted_fields if f.name != "balance_kopecks"]
        return super().save(only=fields)


class ClientPhone(BaseModel):
    client = pw.ForeignKeyField(Client, backref="phone_rows", on_delete="CASCADE")
    phone = pw.CharField(max_length=20, index=True)
    position = pw.IntegerField(default=0)


class Credential(BaseModel):
    """An NFC card UID, a car plate or a QR token id; each active one points to one client."""

    client = pw.ForeignKeyField(Client, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField(max_length=10, choices=[(k, k) for k in CREDENTIAL_KINDS])
    value = pw.CharField(max_length=64)
    lost = pw.BooleanField(default=False)
    created_at = UtcDateTimeField(default=utcnow)
    unlinked_at = UtcDateTimeField(null=True)


# A UID, plate or token id belongs to one client at a time (unlinked rows stay as history).
Credential.add_index(
    Credential.kind, Credential.value, unique=True, where=Credential.unlinked_at.is_null()
)


class Session(BaseModel):
    """A wash session, written by the stand and brought here by sync."""

    client = pw.ForeignKeyField(Client, backref="sessions", on_delete="RESTRICT")
    stand = pw.ForeignKeyField(Stand, backref="sessions", on_delete="RESTRICT")
    site = pw.ForeignKeyField(Site, backref="sessions", on_delete="RESTRICT")
    tariff_version = pw.ForeignKeyField(TariffVersion, on_delete="RESTRICT")
    client_kind = pw.CharField(max_length=10)
    started_at = UtcDateTimeField(index=True)
    ended_at = UtcDateTimeField(null=True, index=True)
    duration_s = pw.IntegerField(null=True)
    cost_kopecks = pw.BigIntegerField(null=True)
    start_method = pw.CharField(max_length=20)  # card, qr, screen, plate
    end_method = pw.CharField(max_length=20, null=True)  # card, qr, screen, dashboard, auto
    started_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    ended_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    comment = pw.TextField(default="")


class LedgerEntry(BaseModel):
    """Every movement of money; a balance is the sum of its client's entries."""

    client = pw.ForeignKeyField(Client, backref="ledger", on_delete="RESTRICT")
    kind = pw.CharField(max_length=20, choices=[(k, k) for k in LEDGER_KINDS], index=True)
    amount_kopecks = pw.BigIntegerField()
    method = pw.CharField(max_length=20, null=True)
    session = pw.ForeignKeyField(Session, null=True, on_delete="RESTRICT", backref="ledger")
    site = pw.ForeignKeyField(Site, null=True, on_delete="SET NULL")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    reason = pw.CharField(max_length=300, default="")
    created_at = UtcDateTimeField(default=utcnow, index=True)


class Comment(BaseModel):
    client = pw.ForeignKeyField(Client, backref="comments", on_delete="CASCADE")
    session = pw.ForeignKeyField(Session, null=True, on_delete="SET NULL", backref="comments")
    author = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    text = pw.TextField()
    created_at = UtcDateTimeField(default=utcnow, index=True)


ALL_MODELS: list[type[BaseModel]] = [
    SchemaVersion,
    Site,
    Stand,
    User,
    UserSite,
    ApiToken,
    LoginThrottle,
    Tariff,
    TariffVersion,
    Client,
    ClientPhone,
    Credential,
    Session,
    LedgerEntry,
    Comment,
]
