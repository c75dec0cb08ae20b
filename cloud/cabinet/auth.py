"""Clients' log-in to the cabinet: one-time SMS codes, cabinet sessions, and what other areas'
pages under ``/my/`` use (``client_required``, ``current_client``).

1. A code is 6 random digits, valid ``CODE_LIFETIME``; only an HMAC of it (keyed by the app's
   secret, so a copy of the database does not give the codes away in a million tries) is kept.
   A newer code for the phone ends the older ones; ``CODE_TRIES`` wrong tries end a code.
2. Sending is limited per phone and per address (``cabinet_codes_per_phone`` and
   ``cabinet_codes_per_address`` within ``SEND_WINDOW``): nobody can bomb a stranger's phone,
   and the tries against one phone stay few (5 codes × 5 tries an hour out of a million).
   The answer never says whether a client has the phone: a new phone may join the club.
3. A session's token is 256 random bits (``aqc_`` + urlsafe text), kept as SHA-256 only; it
   lasts ``cabinet_session_days`` since its last use, and the client (or staff) can end it.
   A browser holds it in the ``aq_my`` cookie (HttpOnly, SameSite=Lax), an app as a bearer
   token. Staff tokens (``aqs_``, ``ApiToken``) and client tokens live in different tables,
   so neither can reach the other's routes.
4. Logs name a phone only masked (``mask_phone``), never a code or a token.

Pages of any area use it so::

    @bp.get("/my/topup")
    @client_required
    def topup() -> Any:
        client = current_client()
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext as _

from cloud.clock import app_now
from cloud.config import CloudConfig
from cloud.db import db_proxy, is_postgresql
from cloud.errors import DomainError, ValidationFailed
from cloud.models import CabinetAccount, CabinetSession, Client, ClientPhone, CodeSend, LoginCode
from cloud.notify.sms import SmsError, sms_sender
from cloud.staff.auth import address_key, hash_secret
from sync.errors import RuleError
from sync.phones import normalise_phone

log = logging.getLogger("aquastand.cabinet")

CODE_LIFETIME = timedelta(minutes=5)
CODE_TRIES = 5
CODE_DIGITS = 6
SEND_WINDOW = timedelta(hours=1)
COOKIE = "aq_my"
TOKEN_PREFIX = "aqc_"  # noqa: S105 (a prefix, not a secret)
SEEN_EVERY = timedelta(hours=1)  # last_seen_at is written at most this often


class TooManyCodes(DomainError):
    status = 429
    code = "too_many_codes"


class WrongCode(DomainError):
    status = 400
    code = "wrong_code"


def mask_phone(phone: str) -> str:
    """A phone as logs may show it: ``+7916*****67``."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]


def clean_phone(text: str) -> str:
    try:
        return normalise_phone(text)
    except RuleError as error:
        raise ValidationFailed(
            _("Введите номер телефона, например +7 900 123-45-67"), error.code
        ) from None


def _code_hash(phone: str, code: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _count_send(phone: str, address: str, config: CloudConfig, now: datetime) -> None:
    """Count a send under the phone and the address, or refuse it (429) past either limit."""
    limits = {
        f"phone:{phone}": config.cabinet_codes_per_phone,
        address_key(address): config.cabinet_codes_per_address,
    }
    if is_postgresql():
        # Counted one request at a time per key, on every worker of every instance: without
        # the lock, parallel requests each counted the same rows and all passed the last free
        # send (tests/deploy/test_instances.py). Held until the transaction ends; SQLite has
        # one writer at a time already.
        for key in sorted(limits):
            db_proxy.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"codes:{key}",))
    CodeSend.delete().where(CodeSend.at < now - SEND_WINDOW).execute()
    for key, limit in limits.items():
        sent = CodeSend.select().where((CodeSend.key == key) & (CodeSend.at > now - SEND_WINDOW))
        if sent.count() >= limit:
            log.info("cabinet code refused: limit for %s", _key_for_log(key))
            raise TooManyCodes(_("Слишком много кодов подряд. Повторите позже."))
    CodeSend.insert_many([{"key": key, "at": now} for key in limits]).execute()


def _key_for_log(key: str) -> str:
    kind, _sep, value = key.partition(":")
    return f"{kind}:{mask_phone(value)}" if kind == "phone" else key


def request_code(phone_text: str, address: str, config: CloudConfig, secret: str) -> str:
    """Send a new code to the phone (the phone normalised is returned); 429 past the limits,
    503 when the SMS backend did not take it."""
    phone = clean_phone(phone_text)
    now = app_now()
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with db_proxy.atomic():
        _count_send(phone, address, config, now)
        LoginCode.update(used_at=now).where(
            (LoginCode.phone == phone) & LoginCode.used_at.is_null()
        ).execute()
        LoginCode.create(
            phone=phone,
            code_hash=_code_hash(phone, code, secret),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    text = _("Код для входа в Аквастенд: %(code)s. Никому его не сообщайте.", code=code)
    try:
        sms_sender(config).send(phone, text)
    except SmsError as error:
        log.warning("cabinet code to %s not sent: %s", mask_phone(phone), error)
        raise DomainError(
            _("Не удалось отправить SMS. Повторите позже."), "sms_failed", 503
        ) from None
    log.info("cabinet code sent to %s", mask_phone(phone))
    return phone


def check_code(phone_text: str, code: str, secret: str) -> str:
    """The phone (normalised) if ``code`` is its live code, which is used up; else 400. A
    wrong code costs one of the code's tries."""
    phone = clean_phone(phone_text)
    code = (code or "").strip()
    now = app_now()
    if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()):
        raise WrongCode(_("Код — 6 цифр из SMS"))
    with db_proxy.atomic():
        query = (
            LoginCode.select()
            .where(
                (LoginCode.phone == phone)
                & LoginCode.used_at.is_null()
                & (LoginCode.expires_at > now)
                & (LoginCode.tries < CODE_TRIES)
            )
            .order_by(LoginCode.id.desc())
        )
        row = (query.for_update() if is_postgresql() else query).first()
        matches = row is not None and hmac.compare_digest(
            row.code_hash, _code_hash(phone, code, secret)
        )
        if row is not None:
            row.tries += 0 if matches else 1
            row.used_at = now if matches else None
            row.save()
    if not matches:
        log.info("cabinet code wrong or dead for %s", mask_phone(phone))
        raise WrongCode(_("Код неверен или устарел: запросите новый"))
    return phone


# --- clients and sessions ---------------------------------------------------------------------


def client_by_phone(phone: str) -> Client | None:
    """The live client with this phone: a member first, then a guest; the oldest of each."""
    rows = (
        Client.select()
        .join(ClientPhone, on=ClientPhone.client == Client.id)
        .where((ClientPhone.phone == phone) & Client.deleted_at.is_null())
        .order_by(Client.kind.desc(), Client.id)  # "member" sorts after "guest"
    )
    return rows.first()


def open_session(client: Client, kind: str, device: str = "") -> str:
    """A new cabinet session for ``client`` (log-in noted); the token is returned once."""
    now = app_now()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db_proxy.atomic():
        CabinetSession.create(
            client=client,
            token_hash=hash_secret(token),
            kind=kind,
            device=device[:120],
            created_at=now,
            last_seen_at=now,
        )
        account, _created = CabinetAccount.get_or_create(client=client)
        account.last_login_at = now
        account.save()
    log.info("cabinet log-in of client %s (%s)", client.id, kind)
    return token


def session_for_token(token: str, config: CloudConfig) -> CabinetSession | None:
    """The live session whose token this is (its use noted), or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = app_now()
    digest = hash_secret(token)
    row = CabinetSession.get_or_none(
        (CabinetSession.token_hash == digest) & CabinetSession.ended_at.is_null()
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.last_seen_at < now - timedelta(days=config.cabinet_session_days):
        return None
    if row.client.deleted_at is not None:
        return None
    if now - row.last_seen_at > SEEN_EVERY:
        row.last_seen_at = now
        CabinetSession.update(last_seen_at=now).where(CabinetSession.id == row.id).execute()
    return row


def live_sessions(client: Client) -> list[CabinetSession]:
    return list(
        CabinetSession.select()
        .where((CabinetSession.client == client.id) & CabinetSession.ended_at.is_null())
        .order_by(CabinetSession.last_seen_at.desc(), CabinetSession.id.desc())
    )


def end_sessions(client: Client, *, session_id: int | None = None) -> int:
    """End one of the client's sessions (404 if not theirs) or, with no id, all of them."""
    query = CabinetSession.update(ended_at=app_now()).where(
        (CabinetSession.client == client.id) & CabinetSession.ended_at.is_null()
    )
    if session_id is not None:
        query = query.where(CabinetSession.id == session_id)
    ended = query.execute()
    if session_id is not None and not ended:
        raise DomainError(_("Нет такого сеанса"), "not_found", 404)
    log.info("cabinet sessions of client %s ended: %s", client.id, ended)
    return int(ended)


# --- what pages use ---------------------------------------------------------------------------


def _config() -> CloudConfig:
    config: CloudConfig = current_app.config["AQ"]
    return config


def cookie_session() -> CabinetSession | None:
    """The cabinet session of this request's cookie (read once per request)."""
    if "cabinet_session" not in g:
        token = request.cookies.get(COOKIE, "")
        g.cabinet_session = session_for_token(token, _config()) if token else None
    session: CabinetSession | None = g.cabinet_session
    return session


def use_session(session: CabinetSession) -> None:
    """Make ``session`` this request's (the client API's bearer token does so)."""
    g.cabinet_session = session


def current_session() -> CabinetSession:
    session = cookie_session()
    if session is None:
        raise RuntimeError("current_session() outside a client_required route")
    return session


def current_client() -> Client:
    """The client logged in to the cabinet in this request (inside ``client_required``)."""
    client: Client = current_session().client
    return client


def client_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page of a logged-in client: anyone else goes to the cabinet's log-in page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if cookie_session() is None:
            return redirect(url_for("cabinet.login", next=request.path))
        return view(*args, **kwargs)

    wrapped.client_route = True  # type: ignore[attr-defined]
    return wrapped


def set_cookie(response: Any, token: str) -> Any:
    config = _config()
    response.set_cookie(
        COOKIE,
        token,
        max_age=config.cabinet_session_days * 86400,
        path="/my",
        httponly=True,
        samesite="Lax",
        secure=config.cookies_need_tls,
    )
    return response


def clear_cookie(response: Any) -> Any:
    response.delete_cookie(COOKIE, path="/my")
    return response
