"""Mailings: a subject and a body sent by e-mail to the clients of a segment.

Creating a mailing records every recipient at once (``queued``, or ``skipped`` with the reason
for a client without an address or who unsubscribed); nothing is sent in the web request, which
must not hang for the minutes thousands of messages take. ``send_queued`` (the
``aquastand-cloud send-mailings`` command, run every minute by a systemd timer) sends them.

Nobody gets a message twice, even when sending is interrupted and resumed or two senders run
at once: a sender claims a recipient (``queued`` -> ``sending``, one UPDATE that only one
sender can win) and commits before talking to the server, then marks it ``sent`` or
``failed``. A resumed run sends only the ``queued`` ones. A claim left behind by a sender that
died mid-message is marked ``failed`` ("interrupted"), never sent again: the message may have
gone out.

One recipient never stops the run: a message the server refuses, or one that cannot even be
built (a name stored before names were cleaned, with a line break that no mail header may
hold), is logged and recorded as ``failed`` with the reason, and the run goes on.

``{name}`` in the subject and body becomes the client's name: a plain text replacement, not
``str.format``, so a body with other braces or a name like ``{0.__class__}`` stays literal."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

import peewee as pw
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.clock import Clock, iso_utc
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import NotFound, ValidationFailed
from cloud.marketing import segments as segmentbook
from cloud.marketing.unsubscribe import unsubscribe_url
from cloud.models import MAILING_STATUSES, Client, Mailing, MailingRecipient, Segment, User

LOG = logging.getLogger(__name__)
NAME_PLACEHOLDER = "{name}"
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_REASON = 300
INSERT_CHUNK = 500
SECURITY_MODES = ("starttls", "ssl", "none")
STALE_CLAIM = timedelta(minutes=10)  # far longer than one message takes

# Why a recipient was skipped: stored as the code, shown in the reader's language.
SKIP_REASONS = {
    "no_email": _l("Нет адреса электронной почты"),
    "unsubscribed": _l("Отписан от рассылок"),
    "deleted": _l("Клиент удалён"),
}
INTERRUPTED = "interrupted"
FAILURE_REASONS = {INTERRUPTED: _l("Отправка прервана: письмо могло уйти, повторно не отправлено")}


class MailNotConfigured(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            _("Почтовый сервер не настроен: укажите smtp_host и smtp_sender в настройках"),
            "smtp_not_configured",
        )
        self.status = 409


def check_mail_config(config: CloudConfig) -> None:
    if not config.smtp_host or not config.smtp_sender:
        raise MailNotConfigured()
    if not config.public_url.startswith(("https://", "http://")):
        raise ValidationFailed(
            _(
                "Укажите public_url (адрес сервиса для клиентов): в каждом письме ссылка для отписки"
            ),
            "public_url_not_configured",
            status=409,
        )
    if config.smtp_security not in SECURITY_MODES:
        raise ValidationFailed(
            _("smtp_security: starttls, ssl или none"), "bad_smtp_security", status=409
        )


# --- writing a mailing -----------------------------------------------------------------------


def _clean_text(text: str, limit: int, required: str, too_long: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(required, "text_required")
    if len(text) > limit:
        raise ValidationFailed(too_long, "text_too_long")
    return text


def clean_message(subject: str, body: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())  # a header: no line breaks
    subject = _clean_text(
        subject,
        MAX_SUBJECT,
        _("Укажите тему письма"),
        _("Тема — не длиннее %(n)s символов", n=MAX_SUBJECT),
    )
    body = _clean_text(
        body,
        MAX_BODY,
        _("Напишите текст письма"),
        _("Текст — не длиннее %(n)s символов", n=MAX_BODY),
    )
    return subject, body


def display_name(client: Client) -> str:
    """What ``{name}`` becomes: the client's name, else a neutral word."""
    return client.name or _("клиент")


def personalise(text: str, client: Client) -> str:
    return text.replace(NAME_PLACEHOLDER, display_name(client))


def _skip_reason(client: Client) -> str:
    if client.deleted_at is not None:
        return "deleted"
    if client.unsubscribed:
        return "unsubscribed"
    if not client.email:
        return "no_email"
    return ""


@dataclass(frozen=True)
class Preview:
    client: Client
    subject: str
    body: str


def preview(segment: Segment, subject: str, body: str, timezone: str) -> Preview | None:
    """The message as the segment's first reachable client would get it (else its first
    client; None for an empty segment)."""
    members = segmentbook.members(segment, timezone)
    reachable = members.where((Client.email != "") & ~Client.unsubscribed)
    client = reachable.first() or members.first()
    if client is None:
        return None
    return Preview(client, personalise(subject, client), personalise(body, client))


def create_mailing(
    actor: User | None, segment: Segment, subject: str, body: str, config: CloudConfig
) -> Mailing:
    """Record the mailing and all its recipients in one transaction; sending comes later."""
    check_mail_config(config)
    subject, body = clean_message(subject, body)
    query = segmentbook.members(segment, config.timezone)
    now = utcnow()
    with db_proxy.atomic():
        mailing = Mailing.create(
            segment=segment,
            segment_name=segment.name,
            subject=subject,
            body=body,
            created_by=actor,
            created_at=now,
        )
        rows = []
        for client in query.iterator():
            reason = _skip_reason(client)
            status = "skipped" if reason else "queued"
            rows.append((mailing.id, client.id, client.email, status, reason, now))
        fields = [
            MailingRecipient.mailing,
            MailingRecipient.client,
            MailingRecipient.email,
            MailingRecipient.status,
            MailingRecipient.reason,
            MailingRecipient.updated_at,
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            MailingRecipient.insert_many(rows[start : start + INSERT_CHUNK], fields).execute()
        if not any(row[3] == "queued" for row in rows):
            mailing.finished_at = now
            mailing.save()
    return mailing


# --- reading ---------------------------------------------------------------------------------


def get_mailing(mailing_id: int) -> Mailing:
    mailing = Mailing.get_or_none(Mailing.id == mailing_id)
    if mailing is None:
        raise NotFound(_("Рассылка не найдена"))
    return mailing


def status_counts(mailing_ids: list[int]) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = {mailing_id: Counter() for mailing_id in mailing_ids}
    if not mailing_ids:
        return counts
    query = (
        MailingRecipient.select(
            MailingRecipient.mailing, MailingRecipient.status, pw.fn.COUNT(MailingRecipient.id)
        )
        .where(MailingRecipient.mailing.in_(mailing_ids))
        .group_by(MailingRecipient.mailing, MailingRecipient.status)
        .tuples()
    )
    for mailing_id, status, number in query:
        counts[mailing_id][status] = number
    return counts


def state_of(mailing: Mailing, counts: Counter[str]) -> str:
    """``sending`` while any recipient waits, then ``done``."""
    return "sending" if counts["queued"] or counts["sending"] else "done"


def mailing_dicts(mailings: list[Mailing]) -> list[dict[str, Any]]:
    counts = status_counts([mailing.id for mailing in mailings])
    return [_mailing_dict(mailing, counts[mailing.id]) for mailing in mailings]


def _mailing_dict(mailing: Mailing, counts: Counter[str]) -> dict[str, Any]:
    return {
        "id": mailing.id,
        "segment_id": mailing.segment_id,
        "segment_name": mailing.segment_name,
        "subject": mailing.subject,
        "body": mailing.body,
        "state": state_of(mailing, counts),
        "counts": {status: counts[status] for status in MAILING_STATUSES},
        "created_by_id": mailing.created_by_id,
        "created_at": iso_utc(mailing.created_at),
        "finished_at": iso_utc(mailing.finished_at),
    }


def mailing_to_dict(mailing: Mailing) -> dict[str, Any]:
    return mailing_dicts([mailing])[0]


def mailing_page(limit: int, offset: int) -> tuple[list[Mailing], int]:
    query = Mailing.select().order_by(Mailing.id.desc())
    return list(query.limit(limit).offset(offset)), query.count()


def recipient_page(mailing: Mailing, limit: int, offset: int) -> tuple[list[Any], int]:
    """Recipients with their client's name, by id."""
    query = (
        MailingRecipient.select(MailingRecipient, Client)
        .join(Client, pw.JOIN.LEFT_OUTER, on=(MailingRecipient.client == Client.id))
        .where(MailingRecipient.mailing == mailing.id)
        .order_by(MailingRecipient.id)
    )
    return list(query.limit(limit).offset(offset)), query.count()


def reason_text(recipient: MailingRecipient) -> str:
    known = {**SKIP_REASONS, **FAILURE_REASONS}
    return str(known[recipient.reason]) if recipient.reason in known else recipient.reason


def recipient_to_dict(recipient: MailingRecipient) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "client_id": recipient.client_id,
        "email": recipient.email,
        "status": recipient.status,
        "reason": reason_text(recipient),
        "updated_at": iso_utc(recipient.updated_at),
    }


# --- sending ---------------------------------------------------------------------------------


class SendFailed(Exception):
    """The server did not take one message; ``reason`` says why (its reply or the error)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:MAX_REASON]


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


class SmtpOutbox:
    """One connection to the configured server, opened on first use and again after a failure
    that lost it. ``send`` raises ``SendFailed`` for a message the server did not take."""

    def __init__(self, config: CloudConfig):
        self.config = config
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        context = ssl.create_default_context()
        connection: smtplib.SMTP
        if config.smtp_security == "ssl":
            connection = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=config.smtp_timeout, context=context
            )
        else:
            connection = smtplib.SMTP(
                config.smtp_host, config.smtp_port, timeout=config.smtp_timeout
            )
            if config.smtp_security == "starttls":
                connection.starttls(context=context)
        if config.smtp_username:
            connection.login(config.smtp_username, config.smtp_password)
        return connection

    def send(self, message: EmailMessage) -> None:
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:  # smtplib reset the transaction
            replies = [_reply(code, text) for code, text in refused.recipients.values()]
            raise SendFailed("; ".join(replies)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise SendFailed(_reply(error.smtp_code, error.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise SendFailed(str(error) or type(error).__name__) from None

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def build_message(
    mailing: Mailing, client: Client, sender: str, unsubscribe_link: str
) -> EmailMessage:
    """The message with its unsubscribe link: in the text and as RFC 8058 headers, which
    mail programs show as their own one-click "unsubscribe" button."""
    message = EmailMessage()
    message["Subject"] = personalise(mailing.subject, client)
    message["From"] = sender
    message["To"] = formataddr((client.name, client.email)) if client.name else client.email
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    # base64: any server takes it, including one without 8BITMIME.
    footer = _("Отписаться от рассылки: %(link)s", link=unsubscribe_link)
    message["List-Unsubscribe"] = f"<{unsubscribe_link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(f"{personalise(mailing.body, client)}\n\n-- \n{footer}\n", cte="base64")
    return message


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    mailings: set[int] = field(default_factory=set)


def _mark(
    clock: Clock, recipient_id: int, status: str, reason: str = "", email: str | None = None
) -> None:
    values: dict[Any, Any] = {
        MailingRecipient.status: status,
        MailingRecipient.reason: reason[:MAX_REASON],
        MailingRecipient.updated_at: clock.now(),
    }
    if email is not None:
        values[MailingRecipient.email] = email
    MailingRecipient.update(values).where(MailingRecipient.id == recipient_id).execute()


def _claim(clock: Clock, recipient_id: int) -> bool:
    """Take a queued recipient for this sender; False if another sender took it first."""
    claimed = (
        MailingRecipient.update(status="sending", updated_at=clock.now())
        .where((MailingRecipient.id == recipient_id) & (MailingRecipient.status == "queued"))
        .execute()
    )
    return claimed == 1


def _fail_stale_claims(config: CloudConfig, clock: Clock) -> int:
    """Claims older than any sender could hold one: their sender died mid-message."""
    hold = max(STALE_CLAIM, timedelta(seconds=4 * config.smtp_timeout))
    now = clock.now()
    return int(
        MailingRecipient.update(status="failed", reason=INTERRUPTED, updated_at=now)
        .where((MailingRecipient.status == "sending") & (MailingRecipient.updated_at < now - hold))
        .execute()
    )


def _send_one(
    outbox: SmtpOutbox, clock: Clock, mailing: Mailing, recipient_id: int, report: SendReport
) -> None:
    """Send to the client as they are now: one who unsubscribed, lost the address or was
    deleted since the mailing was queued is skipped; a changed address is used and recorded."""
    recipient = MailingRecipient.get_by_id(recipient_id)
    client = Client.get_or_none(Client.id == recipient.client_id)
    reason = _skip_reason(client) if client is not None else "deleted"
    if client is None or reason:
        _mark(clock, recipient_id, "skipped", reason)
        report.skipped += 1
        return
    try:
        link = unsubscribe_url(outbox.config, current_app.secret_key or "", client.id)
        outbox.send(build_message(mailing, client, outbox.config.smtp_sender, link))
    except SendFailed as failure:
        _mark(clock, recipient_id, "failed", failure.reason, client.email)
        report.failed += 1
    except Exception as error:  # one recipient's message must not stop the run
        LOG.exception("mailing %s: message to client %s failed", mailing.id, client.id)
        outbox.close()  # whatever state the connection was left in
        _mark(clock, recipient_id, "failed", f"{type(error).__name__}: {error}", client.email)
        report.failed += 1
    else:
        _mark(clock, recipient_id, "sent", "", client.email)
        report.sent += 1


def _queued_ids(mailing: Mailing) -> list[int]:
    query = (
        MailingRecipient.select(MailingRecipient.id)
        .where((MailingRecipient.mailing == mailing.id) & (MailingRecipient.status == "queued"))
        .order_by(MailingRecipient.id)
    )
    return [row.id for row in query]


def _finish_if_done(clock: Clock, mailing: Mailing) -> None:
    waiting = MailingRecipient.select().where(
        (MailingRecipient.mailing == mailing.id)
        & MailingRecipient.status.in_(["queued", "sending"])
    )
    if not waiting.exists():
        Mailing.update(finished_at=clock.now()).where(
            (Mailing.id == mailing.id) & Mailing.finished_at.is_null()
        ).execute()


def send_queued(
    config: CloudConfig, clock: Clock, stop: threading.Event | None = None
) -> SendReport:
    """Send every queued message, oldest mailing first; returns early once ``stop`` is set
    (the rest stay queued for the next run). The sender runs for long, so it takes a clock,
    not a moment."""
    check_mail_config(config)
    report = SendReport(interrupted=_fail_stale_claims(config, clock))
    outbox = SmtpOutbox(config)
    unfinished = list(Mailing.select().where(Mailing.finished_at.is_null()).order_by(Mailing.id))
    try:
        for mailing in unfinished:
            for recipient_id in _queued_ids(mailing):
                if stop is not None and stop.is_set():
                    return report
                if _claim(clock, recipient_id):
                    report.mailings.add(mailing.id)
                    _send_one(outbox, clock, mailing, recipient_id, report)
            _finish_if_done(clock, mailing)
    finally:
        outbox.close()
    return report
