"""Stands' credentials: provisioning with a one-time enrolment code, the secret token a stand
exchanges it for, revocation, and checking the token and the stand's clock on every request.

Both secrets come from ``secrets`` and only their SHA-256 is stored. The enrolment code is
160 random bits written in base32 in groups of four (``ABCD-EFGH-…``) so that a person can type
it; it works once and for :data:`CODE_LIFETIME`. The token is ``<stand id>.<256 random bits>``:
the id finds the stand, the hash is compared with ``hmac.compare_digest``.

Re-provisioning a stand issues a new code; its current token keeps working until the new code
is used, then the new token replaces it (a replaced Raspberry Pi takes over without a gap).
Revoking clears the token and any pending code at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee as pw
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.catalog.sites import create_stand
from cloud.catalog.tariffs import clean_name, same_name
from cloud.db import db_proxy
from cloud.errors import Conflict, DomainError
from cloud.models import Site, Stand
from cloud.prepared import Prepared

CODE_LIFETIME = timedelta(hours=24)
CODE_BYTES = 20  # 160 bits: 32 base32 characters
TOKEN_BYTES = 32
_CODE_GROUP = 4
# What people mistype in base32 (which has no 0, 1, 8): read as the letters they look like.
_LOOK_ALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_code(text: str) -> str:
    """A code as typed (any case, spaces or dashes) in the form its hash is taken of."""
    raw = text if isinstance(text, str) else ""
    return "".join(raw.split()).replace("-", "").upper().translate(_LOOK_ALIKES)


def _new_code() -> str:
    letters = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode().rstrip("=")
    groups = [letters[i : i + _CODE_GROUP] for i in range(0, len(letters), _CODE_GROUP)]
    return "-".join(groups)


@dataclass
class Provisioned:
    stand: Stand
    code: str
    expires_at: datetime


def issue_code(stand: Stand, now: datetime) -> Provisioned:
    """A new enrolment code for ``stand`` (any earlier unused code stops working)."""
    code = _new_code()
    expires = now + CODE_LIFETIME
    with db_proxy.atomic():
        before = _audited(stand)
        Stand.update(
            enrol_code_hash=_sha256(normalise_code(code)),
            enrol_code_expires_at=expires,
            enrol_code_used_at=None,
        ).where(Stand.id == stand.id).execute()
        # The log keeps no code, not even hashed: only that one was issued, and until when.
        what = audit.target("stand", stand.id, stand.name)
        audit.record("stand.provisioned", what, before, _audited(stand), now=now)
    stand.enrol_code_expires_at = expires
    stand.enrol_code_used_at = None
    return Provisioned(stand, code, expires)


def provision_stand(site: Site, name: str, now: datetime) -> Provisioned:
    """The stand of ``site`` named ``name`` (created if there is none) with a new code."""
    name = clean_name(name)
    with db_proxy.atomic():
        query = Stand.select(Stand.id, Stand.name).where(Stand.site == site)
        existing = same_name(query, name)
        if existing is None:
            stand = create_stand(site, name)
        else:
            stand = Stand.get((Stand.site == site) & (Stand.name == existing))
        return issue_code(stand, now)


def _audited(stand: Stand) -> dict[str, object]:
    """What the audit log keeps of a stand's access (never its secrets)."""
    row = Stand.get_by_id(stand.id)
    return {
        "site_id": row.site_id,
        "enrolled": row.token_hash is not None,
        "enrol_code_expires_at": audit.fields_of(row, "enrol_code_expires_at")[
            "enrol_code_expires_at"
        ],
        "revoked_at": audit.fields_of(row, "revoked_at")["revoked_at"],
    }


def enrol(code: str, now: datetime) -> tuple[Stand, str]:
    """Exchange an enrolment code for the stand's new secret token (returned once)."""
    normal = normalise_code(code)
    if not normal:
        raise Unauthorized(_("Укажите код подключения"), "code_required")
    code_hash = _sha256(normal)
    stand = Stand.get_or_none(Stand.enrol_code_hash == code_hash)
    if stand is None or not hmac.compare_digest(stand.enrol_code_hash, code_hash):
        raise Unauthorized(_("Код подключения не найден"), "unknown_code")
    if stand.enrol_code_used_at is not None:
        raise Conflict(_("Код подключения уже использован"), "code_used")
    if stand.enrol_code_expires_at is None or stand.enrol_code_expires_at <= now:
        raise Unauthorized(
            _("Срок действия кода подключения истёк: получите новый код"), "code_expired"
        )
    token = f"{stand.id}.{secrets.token_urlsafe(TOKEN_BYTES)}"
    # The code is consumed by the same statement that checks it is unused: of two enrolments
    # racing with one code, one wins.
    taken = (
        Stand.update(
            enrol_code_used_at=now,
            token_hash=_sha256(token),
            enrolled_at=now,
            revoked_at=None,
        )
        .where((Stand.id == stand.id) & Stand.enrol_code_used_at.is_null())
        .execute()
    )
    if taken != 1:
        raise Conflict(_("Код подключения уже использован"), "code_used")
    return Stand.get_by_id(stand.id), token


def revoke(stand: Stand, now: datetime) -> None:
    """The stand's token and any pending code stop working at once."""
    with db_proxy.atomic():
        before = _audited(stand)
        Stand.update(
            token_hash=None, enrol_code_hash=None, enrol_code_expires_at=None, revoked_at=now
        ).where(Stand.id == stand.id).execute()
        after = _audited(Stand.get_by_id(stand.id))
        audit.record(
            "stand.revoked", audit.target("stand", stand.id, stand.name), before, after, now=now
        )
    stand.token_hash = None
    stand.revoked_at = now


# Every request of every stand reads its stand by id first (cloud/prepared.py).
_STAND = Prepared(lambda stand_id: Stand.select().where(Stand.id == stand_id))


def stand_for_token(token: str) -> Stand | None:
    """The enrolled, unrevoked stand whose token this is, or None."""
    stand_id, dot, _secret = token.partition(".")
    if not dot or not stand_id.isdigit() or len(stand_id) > 10:
        return None
    found = _STAND.rows(int(stand_id))
    stand = found[0] if found else None
    if stand is None or stand.token_hash is None:
        return None
    if not hmac.compare_digest(stand.token_hash, _sha256(token)):
        return None
    return stand


def state_of(stand: Stand, now: datetime) -> str:
    """``connected``, ``awaiting`` (a code is out), ``revoked`` or ``new``, for the site page."""
    code_pending = (
        stand.enrol_code_hash is not None
        and stand.enrol_code_used_at is None
        and stand.enrol_code_expires_at is not None
        and stand.enrol_code_expires_at > now
    )
    if code_pending:
        return "awaiting"
    if stand.token_hash is not None:
        return "connected"
    if stand.revoked_at is not None:
        return "revoked"
    return "new"


# A contact this recent, with the same boot and the skew within the tolerance, is not written
# again: a stand's poll follows its push at once, and a write per request cost every poll a
# commit (bench/fleet.py). The stands page counts a stand online for 30 s after its contact
# (cloud/standsync/heartbeat.py, ONLINE_WITHIN).
CONTACT_REFRESH = timedelta(seconds=5)
SKEW_TOLERANCE_MS = 500


def record_contact(stand: Stand, stand_clock: datetime, boot_id: str | None, now: datetime) -> int:
    """Store the stand's clock skew (server now − stand clock, ms), boot and last contact,
    unless the stored ones say the same (see CONTACT_REFRESH); returns the skew."""
    skew_ms = round((now - stand_clock).total_seconds() * 1000)
    if not _contact_is_news(stand, skew_ms, boot_id, now):
        return skew_ms
    values: dict[pw.Field, object] = {Stand.last_seen_at: now, Stand.clock_skew_ms: skew_ms}
    if boot_id is not None:
        values[Stand.boot_id] = boot_id
    Stand.update(values).where(Stand.id == stand.id).execute()
    return skew_ms


def _contact_is_news(stand: Stand, skew_ms: int, boot_id: str | None, now: datetime) -> bool:
    seen, known_skew = stand.last_seen_at, stand.clock_skew_ms
    return (
        seen is None
        or not timedelta(0) <= now - seen < CONTACT_REFRESH
        or known_skew is None
        or abs(skew_ms - known_skew) > SKEW_TOLERANCE_MS
        or boot_id not in (None, stand.boot_id)
    )
