"""The alert mails: one when an incident opens, one when it clears, each sent once to the
staff who chose its kind, through the mailings' SMTP sender (cloud/marketing/mailings.py).

A mail is claimed before the server is asked (``pending`` -> ``sending``, one conditional
UPDATE that one sender wins, committed), then marked ``sent``. A server that is down or
refuses puts it back to ``pending`` for the next run; a claim left behind by a sender that
died mid-message becomes ``interrupted`` (the mail may have gone out) and is never sent again,
so nobody gets the same alert twice. A recovery mail goes only after the opening one, and only
if the opening one may have reached someone.

    report = send_pending(config, clock)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.clock import Clock
from cloud.config import CloudConfig
from cloud.marketing.mailings import SendFailed, SmtpOutbox
from cloud.models import AlertIncident, AlertSubscription, User

STALE_CLAIM = timedelta(minutes=10)
MAX_ERROR = 300

KIND_TITLES: dict[str, Any] = {
    "stand_offline": _l("Пост не на связи"),
    "stand_alarm": _l("Тревога поста"),
    "long_session": _l("Долгая сессия"),
    "held_topup": _l("Пополнение задержано для проверки"),
    "receipts": _l("Сбой чеков"),
    "integrity": _l("Проверка целостности не пройдена"),
}


@dataclass
class MailReport:
    sent: int = 0
    failed: int = 0
    nobody: int = 0  # incidents no recipient chose
    interrupted: int = 0
    not_configured: bool = False


def recipients(kind: str) -> list[User]:
    """Active staff with an address who chose ``kind``."""
    query = (
        User.select()
        .join(AlertSubscription, on=(AlertSubscription.user == User.id))
        .where(
            (AlertSubscription.kind == kind)
            & User.active
            & User.deleted_at.is_null()
            & (User.email != "")
        )
        .order_by(User.id)
    )
    return list(query)


def _local(moment: datetime, config: CloudConfig) -> str:
    return moment.astimezone(ZoneInfo(config.timezone)).strftime("%d.%m.%Y %H:%M")


def _message(
    config: CloudConfig, incident: AlertIncident, to: Sequence[User], recovery: bool
) -> EmailMessage:
    title = str(KIND_TITLES[incident.kind])
    message = EmailMessage()
    if recovery:
        message["Subject"] = _("Устранено: %(title)s: %(label)s", title=title, label=incident.label)
    else:
        message["Subject"] = _("Тревога: %(title)s: %(label)s", title=title, label=incident.label)
    message["From"] = config.smtp_sender
    message["To"] = ", ".join(formataddr((user.full_name, user.email)) for user in to)
    domain = config.smtp_sender.rpartition("@")[2].strip("> ") or "aquastand.invalid"
    part = "recovery" if recovery else "open"
    # One id per incident and mail: a mail program shows a copy relayed twice once.
    message["Message-ID"] = f"<alert-{incident.id}-{part}@{domain}>"
    lines = [f"{title}: {incident.label}", "", incident.detail, ""]
    lines.append(_("Началось: %(at)s", at=_local(incident.opened_at, config)))
    if recovery and incident.closed_at is not None:
        minutes = int((incident.closed_at - incident.opened_at).total_seconds() // 60)
        lines.append(_("Устранено: %(at)s", at=_local(incident.closed_at, config)))
        lines.append(_("Длилось: %(n)s мин.", n=minutes))
    if config.public_url:
        lines += ["", config.public_url.rstrip("/") + "/alerts"]
    message.set_content("\n".join(lines) + "\n", cte="base64")
    return message


def _columns(recovery: bool) -> tuple[Any, Any]:
    if recovery:
        return AlertIncident.close_mail, AlertIncident.close_mail_at
    return AlertIncident.open_mail, AlertIncident.open_mail_at


def _claim(incident_id: int, recovery: bool, now: datetime) -> bool:
    state, at = _columns(recovery)
    claimed = (
        AlertIncident.update({state: "sending", at: now})
        .where((AlertIncident.id == incident_id) & (state == "pending"))
        .execute()
    )
    return claimed == 1


def _mark(incident_id: int, recovery: bool, value: str, now: datetime, **more: Any) -> None:
    state, at = _columns(recovery)
    values: dict[Any, Any] = {state: value, at: now}
    values.update({getattr(AlertIncident, name): v for name, v in more.items()})
    AlertIncident.update(values).where(AlertIncident.id == incident_id).execute()


def _fail_stale_claims(clock: Clock) -> int:
    cut = clock.now() - STALE_CLAIM
    count = 0
    for recovery in (False, True):
        state, at = _columns(recovery)
        count += (
            AlertIncident.update({state: "interrupted"})
            .where((state == "sending") & (at < cut))
            .execute()
        )
    return count


def _waiting(recovery: bool) -> list[AlertIncident]:
    state, _at = _columns(recovery)
    query = AlertIncident.select().where(state == "pending")
    if recovery:  # after the opening mail, never before it
        query = query.where(AlertIncident.open_mail.in_(("sent", "interrupted", "none")))
    return list(query.order_by(AlertIncident.id))


def _send_one(
    outbox: SmtpOutbox | None, incident_id: int, recovery: bool, clock: Clock, report: MailReport
) -> None:
    incident = AlertIncident.get_by_id(incident_id)
    to = recipients(incident.kind)
    if not to or (recovery and incident.open_mail == "none"):
        _mark(incident_id, recovery, "none", clock.now())
        report.nobody += 1
        return
    if outbox is None:
        report.not_configured = True
        return
    if not _claim(incident_id, recovery, clock.now()):
        return  # another sender has it
    try:
        outbox.send(_message(outbox.config, incident, to, recovery))
    except SendFailed as failure:
        _mark(
            incident_id,
            recovery,
            "pending",
            clock.now(),
            attempts=incident.attempts + 1,
            last_error=failure.reason[:MAX_ERROR],
        )
        report.failed += 1
    else:
        _mark(incident_id, recovery, "sent", clock.now(), last_error="")
        report.sent += 1


def send_pending(config: CloudConfig, clock: Clock) -> MailReport:
    """Send every mail that waits: opening mails first, then the recovery mails they allow."""
    report = MailReport(interrupted=_fail_stale_claims(clock))
    configured = bool(config.smtp_host and config.smtp_sender)
    outbox = SmtpOutbox(config) if configured else None
    try:
        for recovery in (False, True):
            for incident in _waiting(recovery):
                _send_one(outbox, incident.id, recovery, clock, report)
    finally:
        if outbox is not None:
            outbox.close()
    return report
