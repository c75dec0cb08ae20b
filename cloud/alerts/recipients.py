"""Who gets which alerts: a staff member's e-mail address and the kinds they chose, set by an
administrator or the owner on the Alerts page; each change goes to the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.clients.service import _clean_email as clean_email
from cloud.db import db_proxy
from cloud.errors import NotFound, ValidationFailed
from cloud.models import ALERT_KINDS, AlertSubscription, User


@dataclass(frozen=True)
class Recipient:
    user: User
    kinds: frozenset[str]


def staff_choices() -> list[Recipient]:
    """Every active staff member with the kinds they get, by name."""
    users = list(
        User.select()
        .where(User.active & User.deleted_at.is_null())
        .order_by(User.full_name, User.id)
    )
    chosen: dict[int, set[str]] = {}
    for row in AlertSubscription.select():
        chosen.setdefault(row.user_id, set()).add(row.kind)
    return [Recipient(user, frozenset(chosen.get(user.id, ()))) for user in users]


def kinds_of(user_id: int) -> frozenset[str]:
    query = AlertSubscription.select(AlertSubscription.kind).where(
        AlertSubscription.user == user_id
    )
    return frozenset(row.kind for row in query)


def set_choice(actor: User | None, user_id: int, email: str, kinds: Iterable[str]) -> User:
    """Give the staff member ``email`` and exactly ``kinds``; refused (nothing changed) for an
    unknown kind, a bad address, or kinds without an address."""
    user = User.get_or_none((User.id == user_id) & User.deleted_at.is_null())
    if user is None:
        raise NotFound(_("Сотрудник не найден"))
    wanted = frozenset(kinds)
    unknown = wanted - set(ALERT_KINDS)
    if unknown:
        raise ValidationFailed(_("Неизвестный вид оповещений"), "bad_alert_kind")
    email = clean_email(email)
    if wanted and not email:
        raise ValidationFailed(
            _("Укажите адрес электронной почты: оповещения приходят на него"), "email_required"
        )
    before = {"email": user.email, "kinds": sorted(kinds_of(user.id))}
    after = {"email": email, "kinds": sorted(wanted)}
    if before == after:
        return user
    with db_proxy.atomic():
        User.update(email=email).where(User.id == user.id).execute()
        AlertSubscription.delete().where(AlertSubscription.user == user.id).execute()
        for kind in ALERT_KINDS:
            if kind in wanted:
                AlertSubscription.create(user=user.id, kind=kind)
        audit.record(
            "staff.alerts",
            audit.target("staff", user.id, user.full_name),
            before=before,
            after=after,
            actor=actor,
        )
    user.email = email
    return user
