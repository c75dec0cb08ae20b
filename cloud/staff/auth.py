"""Staff credentials: password and PIN hashing, API tokens, and checking a log-in with throttling
of failures per account and per address (the pages are in ``cloud.staff.loginpages``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from cloud.config import CloudConfig
from cloud.db import db_proxy
from cloud.models import ApiToken, LoginThrottle, User
from sync.errors import RuleError
from sync.phones import normalise_phone

# Hashing method for passwords and PINs; the test suite lowers its cost (tests/cloud/conftest.py).
PASSWORD_METHOD = "scrypt"  # noqa: S105 (a method name, not a password)

# A real hash to compare against when the phone is unknown, so timing does not reveal it.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (API token): enough, since it cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token(user: User) -> str:
    token = "aqs_" + secrets.token_urlsafe(32)
    ApiToken.create(user=user, token_hash=hash_secret(token))
    return token


def user_for_api_token(token: str, now: datetime) -> User | None:
    """The active staff member whose unrevoked API token this is (its use noted at ``now``),
    or None."""
    digest = hash_secret(token)
    row = ApiToken.get_or_none((ApiToken.token_hash == digest) & ApiToken.revoked_at.is_null())
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    user = row.user
    if not user.active or user.deleted_at is not None:
        return None
    ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < 8:
        raise RuleError(_("Пароль должен быть не короче 8 символов"), "weak_password")
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    user.session_version += 1


MIN_PIN_DIGITS, MAX_PIN_DIGITS = 6, 8


def set_pin(user: User, pin: str) -> None:
    """A new PIN: 6 to 8 digits (a stand locks a staff member out after a few wrong tries, so
    a million PINs hold for years). PINs of 4 or 5 digits set before keep working: only the
    hash reaches the stand."""
    if not (pin.isascii() and pin.isdigit() and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise RuleError(_("PIN — от 6 до 8 цифр"), "bad_pin")
    user.pin_hash = generate_password_hash(pin, method=PASSWORD_METHOD)


def _throttle_locked(keys: list[str], now: datetime) -> bool:
    return (
        LoginThrottle.select()
        .where(LoginThrottle.key.in_(keys) & (LoginThrottle.locked_until > now))
        .exists()
    )


def _record_failure(key: str, limit: int, window: timedelta, now: datetime) -> None:
    """Count a failure under ``key``; the ``limit``-th within the lock window locks the key.

    Failures older than the window are forgotten, so a typo a week does not add up to a lock.
    The increment is done by the database, so parallel attempts cannot slip past the limit."""
    with db_proxy.atomic():
        LoginThrottle.insert(key=key, failures=0, updated_at=now).on_conflict_ignore().execute()
        LoginThrottle.update(failures=0).where(
            (LoginThrottle.key == key) & (LoginThrottle.updated_at < now - window)
        ).execute()
        LoginThrottle.update(failures=LoginThrottle.failures + 1, updated_at=now).where(
            LoginThrottle.key == key
        ).execute()
        row = LoginThrottle.get(LoginThrottle.key == key)
        if row.failures >= limit:
            row.locked_until = now + window
            row.failures = 0
            row.save()


def authenticate(
    phone_text: str, password: str, address: str, config: CloudConfig, now: datetime
) -> User | None:
    """The user for these credentials, or None; counts failures per account and per address
    (limits and lock window from ``config``) at ``now``."""
    try:
        phone = normalise_phone(phone_text)
    except RuleError:
        phone = phone_text.strip()[:40]
    keys = [f"phone:{phone}", f"addr:{address}"]
    if _throttle_locked(keys, now):
        return None
    user = User.get_or_none((User.phone == phone) & User.deleted_at.is_null())
    ok = check_password_hash(
        user.password_hash if user and user.password_hash else _DUMMY_HASH, password
    )
    if user is not None and ok and user.active:
        LoginThrottle.delete().where(LoginThrottle.key == keys[0]).execute()
        return user
    window = timedelta(minutes=config.login_lock_minutes)
    _record_failure(keys[0], config.login_max_failures, window, now)
    _record_failure(keys[1], config.login_max_failures_per_address, window, now)
    return None
