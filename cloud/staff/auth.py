"""Staff credentials: password and PIN hashing, API tokens, and checking a log-in with throttling
of failures (the pages are in ``cloud.staff.loginpages``).

Log-in throttling (``authenticate``), so that guessing is slow and nobody can lock anyone out:

1. A try is counted under several keys *before* the password is checked, in one transaction
   (rows locked on PostgreSQL, the writer's lock on SQLite): parallel tries cannot slip past.
2. From a browser not known for the account, the keys are the account from this address
   (``pair:``), the account from anywhere (``phone:``) and the address (``addr:``; an IPv6
   address by its /64). From a known browser (``KnownBrowser``: a signed cookie set at the
   account's last successful log-in there) the only key is that browser (``device:``): failures
   from elsewhere never slow its owner down.
3. Each key allows a number of free failures (``CloudConfig.login_free_failures*``); each
   failure past them earns a delay, ``login_delay_seconds`` doubled at each further failure, at
   most ``login_max_delay_seconds``. A try within a key's delay is refused unchecked, and not
   counted, with the seconds to wait (never a lock of the account: the owner waits at most the
   delay, from a known browser not at all). A key with no try for ``login_forget_hours`` starts
   again from zero.
4. The right password clears the account's keys and gives the address back its try; the owner
   can clear any key (``clear_throttle``). Each failure is kept ``FAILED_LOGINS_KEPT`` for the
   owner to see (``recent_failed_logins``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from cloud.audit import service as audit
from cloud.config import DEFAULT_API_TOKEN_DAYS, CloudConfig
from cloud.db import db_proxy, is_postgresql, utcnow
from cloud.errors import DomainError, ValidationFailed
from cloud.fields import MAX_PIN_DIGITS, MIN_PIN_DIGITS
from cloud.models import ApiToken, FailedLogin, LoginThrottle, User
from sync.errors import RuleError
from sync.phones import normalise_phone

# Hashing method for passwords and PINs; the test suite lowers its cost (tests/cloud/conftest.py).
PASSWORD_METHOD = "scrypt"  # noqa: S105 (a method name, not a password)

# A real hash to compare against when the phone is unknown, so timing does not reveal it.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (API token): enough, since it cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token(
    user: User,
    issued_by: User | None = None,
    days: int = DEFAULT_API_TOKEN_DAYS,
    now: datetime | None = None,
) -> str:
    """A new API token for ``user``, working ``days`` from ``now``; only its hash is kept.
    Who may issue it is ``cloud.staff.service.issue_token``'s rule."""
    token = "aqs_" + secrets.token_urlsafe(32)
    now = now or utcnow()
    ApiToken.create(
        user=user,
        issued_by=issued_by,
        token_hash=hash_secret(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return token


def user_for_api_token(token: str, now: datetime) -> User | None:
    """The active staff member whose unrevoked, unexpired API token this is (its use noted at
    ``now``), or None."""
    digest = hash_secret(token)
    row = ApiToken.get_or_none(
        (ApiToken.token_hash == digest)
        & ApiToken.revoked_at.is_null()
        & (ApiToken.expires_at > now)
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    user = row.user
    if not user.active or user.deleted_at is not None:
        return None
    ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    user.api_token_id = row.id  # for the audit log: which token acted (cloud/audit/service.py)
    return user


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (from leaked password sets, in lower
    case; the ``zxcvbn`` package, MIT licence): none of them is accepted (ASVS 6.2.4)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def set_password(user: User, password: str) -> None:
    """A new password: at least 8 characters and none of the common ones (in any case)."""
    if len(password) < 8:
        raise RuleError(_("Пароль должен быть не короче 8 символов"), "weak_password")
    if password.casefold() in common_passwords():
        raise RuleError(
            _("Это один из самых распространённых паролей: придумайте другой"), "common_password"
        )
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    user.session_version += 1


def set_pin(user: User, pin: str) -> None:
    """A new PIN: 6 to 8 digits (a stand locks a staff member out after a few wrong tries, so
    a million PINs hold for years). PINs of 4 or 5 digits set before keep working: only the
    hash reaches the stand."""
    if not (pin.isascii() and pin.isdigit() and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise RuleError(_("PIN — от 6 до 8 цифр"), "bad_pin")
    user.pin_hash = generate_password_hash(pin, method=PASSWORD_METHOD)


FAILED_LOGINS_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class KnownBrowser:
    """What a browser's signed device cookie says: it logged in to ``user_id`` before."""

    user_id: int
    device_id: str


@dataclass(frozen=True)
class LoginResult:
    """``user`` when the log-in succeeded; else ``wait_s`` > 0 when it was refused unchecked
    (throttled), 0 for a wrong phone or password."""

    user: User | None = None
    wait_s: int = 0


def delay_s(failures: int, free: int, config: CloudConfig) -> int:
    """Seconds to wait after ``failures`` counted under a key that allows ``free``."""
    if failures < free:
        return 0
    doublings = min(failures - free, 30)
    return min(config.login_delay_seconds * 2**doublings, config.login_max_delay_seconds)


def address_key(address: str) -> str:
    """``addr:`` and the address; an IPv6 address by its /64, which one client usually holds."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "addr:" + address[:60]
    if parsed.version == 6:
        return f"addr:{ipaddress.ip_network(f'{parsed}/64', strict=False)}"
    return f"addr:{parsed}"


def _keys(
    phone: str, address: str, user: User | None, browser: KnownBrowser | None, config: CloudConfig
) -> dict[str, int]:
    """The keys a try is counted under, each with the free failures it allows."""
    if user is not None and browser is not None and browser.user_id == user.id:
        return {f"device:{browser.device_id}": config.login_free_failures}
    addr = address_key(address)
    return {
        f"pair:{phone}@{addr[5:]}"[:100]: config.login_free_failures,
        f"phone:{phone}": config.login_free_failures_per_account,
        addr: config.login_free_failures_per_address,
    }


def _count_try(keys: dict[str, int], config: CloudConfig, now: datetime) -> int:
    """Count a try under every key, or none if one of them is within its delay: then the
    seconds to wait (0: counted, check the password)."""
    forget_before = now - timedelta(hours=config.login_forget_hours)
    with db_proxy.atomic():
        for key in sorted(keys):
            LoginThrottle.insert(key=key, failures=0, updated_at=now).on_conflict_ignore().execute()
        rows = LoginThrottle.select().where(LoginThrottle.key.in_(list(keys)))
        rows = list(rows.order_by(LoginThrottle.key).for_update() if is_postgresql() else rows)
        waits = [
            row.locked_until - now for row in rows if row.locked_until and row.locked_until > now
        ]
        if waits:
            return math.ceil(max(waits).total_seconds())
        for row in rows:
            failures = 0 if row.updated_at < forget_before else row.failures
            row.failures, row.updated_at = failures + 1, now
            row.locked_until = now + timedelta(seconds=delay_s(row.failures, keys[row.key], config))
            row.save()
    return 0


def _forgive(keys: dict[str, int], phone: str, config: CloudConfig) -> None:
    """The right password: the account's keys are cleared, the address gets its try back."""
    with db_proxy.atomic():
        LoginThrottle.delete().where(
            LoginThrottle.key.startswith(f"pair:{phone}@")
            | (LoginThrottle.key == f"phone:{phone}")
            | (LoginThrottle.key.in_([key for key in keys if key.startswith("device:")]))
        ).execute()
        for key in (key for key in keys if key.startswith("addr:")):
            row = LoginThrottle.get_or_none(LoginThrottle.key == key)
            if row is not None and row.failures > 0:
                row.failures -= 1
                row.locked_until = row.updated_at + timedelta(
                    seconds=delay_s(row.failures, keys[key], config)
                )
                row.save()


def authenticate(
    phone_text: str,
    password: str,
    address: str,
    browser: KnownBrowser | None,
    config: CloudConfig,
    now: datetime,
) -> LoginResult:
    """Check a log-in at ``now`` from ``address`` (and ``browser``, if it carries a valid
    device cookie), throttled as the module's notes say."""
    try:
        phone = normalise_phone(phone_text)
    except RuleError:
        phone = phone_text.strip()[:40]
    user = User.get_or_none((User.phone == phone) & User.deleted_at.is_null())
    keys = _keys(phone, address, user, browser, config)
    wait_s = _count_try(keys, config, now)
    if wait_s:
        return LoginResult(wait_s=wait_s)
    ok = check_password_hash(
        user.password_hash if user and user.password_hash else _DUMMY_HASH, password
    )
    if user is not None and ok and user.active:
        _forgive(keys, phone, config)
        return LoginResult(user=user)
    FailedLogin.delete().where(FailedLogin.at < now - FAILED_LOGINS_KEPT).execute()
    FailedLogin.create(
        at=now,
        phone=phone,
        address=address[:64],
        known_browser=any(k.startswith("device:") for k in keys),
    )
    return LoginResult()


def check_current_password(user: User, password: str, config: CloudConfig, now: datetime) -> None:
    """Refuse unless ``password`` is ``user``'s (asked before they change their own). Tries
    are counted like log-ins, under ``own:<id>``: a session left open must not become a way
    to guess the password."""
    key = {f"own:{user.id}": config.login_free_failures}
    wait_s = _count_try(key, config, now)
    if wait_s:
        message = _("Слишком много неудачных попыток. Повторите через %(s)d с.", s=wait_s)
        raise DomainError(message, "throttled", 429)
    if not check_password_hash(user.password_hash or _DUMMY_HASH, password):
        raise ValidationFailed(_("Текущий пароль введён неверно"), "wrong_current_password")
    LoginThrottle.delete().where(LoginThrottle.key.in_(list(key))).execute()


def current_throttles(now: datetime) -> list[LoginThrottle]:
    """The keys whose delay is running at ``now``, the longest first."""
    return list(
        LoginThrottle.select()
        .where(LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc(), LoginThrottle.key)
    )


def recent_failed_logins(limit: int = 100) -> list[FailedLogin]:
    return list(
        FailedLogin.select().order_by(FailedLogin.at.desc(), FailedLogin.id.desc()).limit(limit)
    )


def clear_throttle(throttle_id: int) -> bool:
    """Lift one key's delay and forget its failures (the owner's decision); False: no such key."""
    with db_proxy.atomic():
        row = LoginThrottle.get_or_none(LoginThrottle.id == throttle_id)
        if row is None or not LoginThrottle.delete().where(LoginThrottle.id == row.id).execute():
            return False
        before = audit.fields_of(row, "key", "failures", "locked_until")
        audit.record("login.lock_cleared", audit.target("login", row.id, row.key), before, None)
    return True
