"""The client cabinet's records (``cloud/cabinet/``): one-time log-in codes, the sends counted
against SMS-bombing, the clients' cabinet sessions, and each client's cabinet account (consent
to personal-data processing, last log-in, language). Schema version 16."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, Client

SESSION_KINDS = ("web", "api")


class LoginCode(BaseModel):
    """A one-time code sent to ``phone``: only its keyed hash is kept; it dies when used, when
    ``tries`` reach the limit, when it expires, or when a newer code is sent to the phone."""

    phone = pw.CharField(max_length=20, index=True)
    code_hash = pw.CharField(max_length=64)
    created_at = UtcDateTimeField(default=utcnow)
    expires_at = UtcDateTimeField()
    tries = pw.IntegerField(default=0)
    used_at = UtcDateTimeField(null=True)


class CodeSend(BaseModel):
    """One code sent, counted under its phone (``phone:+7…``) and its address (``addr:…``)."""

    key = pw.CharField(max_length=100)
    at = UtcDateTimeField()

    class Meta:
        indexes = ((("key", "at"), False),)


class CabinetSession(BaseModel):
    """A client's log-in to the cabinet (a browser's cookie, or a mobile app's bearer token):
    the token is 256 random bits, only its SHA-256 is kept; ended by the client or by staff."""

    client = pw.ForeignKeyField(Client, backref="cabinet_sessions", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=10, choices=[(k, k) for k in SESSION_KINDS])
    device = pw.CharField(max_length=120, default="")  # what the browser said it is, shortened
    created_at = UtcDateTimeField(default=utcnow)
    last_seen_at = UtcDateTimeField(default=utcnow)
    ended_at = UtcDateTimeField(null=True)


class CabinetAccount(BaseModel):
    """A client's use of the cabinet: the consent to personal-data processing (152-FZ) with the
    version of the text agreed to and when, the last log-in, the chosen language."""

    client = pw.ForeignKeyField(Client, unique=True, backref="+", on_delete="CASCADE")
    consent_version = pw.CharField(max_length=20, default="")
    consent_at = UtcDateTimeField(null=True)
    last_login_at = UtcDateTimeField(null=True)
    locale = pw.CharField(max_length=5, default="")


CABINET_MODELS: list[type[BaseModel]] = [LoginCode, CodeSend, CabinetSession, CabinetAccount]
