"""Staff members: create, edit, assign to sites, deactivate, delete, and their API tokens.

Rules beyond the permission matrix (pages and API share them through this module):

- only an owner creates, edits, deactivates or deletes an owner, or makes someone an owner;
  an administrator manages every other role, other administrators included;
- nobody deactivates or deletes themselves, and the last active owner is never demoted,
  deactivated or deleted, so the system always keeps someone who can manage it;
- changing a role or a password, deactivating and deleting bump ``session_version``: every web
  session of that user ends at once. A deactivated user's API tokens stop working while the
  user is inactive (``user_for_api_token`` checks the flag); a password change and deleting
  revoke them for good;
- an API token is issued only by the staff member themselves or an owner (an administrator
  cannot act as another administrator or an operator through one); the issuer is recorded and
  the token expires (``CloudConfig.api_token_days``).

``actor`` is the staff member acting (None for the command line, which is trusted).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from cloud.audit import service as audit
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cloud.models import ROLES, ApiToken, Site, User, UserSite, name_search_key
from cloud.permissions import Capability, role_can
from cloud.staff.auth import (
    check_current_password,
    hash_secret,
    new_api_token,
    set_password,
    set_pin,
)
from sync.errors import RuleError
from sync.lengths import MAX_NAME
from sync.phones import normalise_phone

ROLE_LABELS = {
    "attendant": lazy_gettext("Аквастендист"),
    "operator": lazy_gettext("Оператор"),
    "administrator": lazy_gettext("Администратор"),
    "owner": lazy_gettext("Владелец"),
}
# Ids beyond a 32-bit key are no row of ours; PostgreSQL would fail on them rather than say no.
MAX_ID = 2**31 - 1


# ---- rules -------------------------------------------------------------------------------


def may_manage(actor: User | None, target: User) -> bool:
    """Whether ``actor`` may change ``target`` at all (only owners manage owners)."""
    return actor is None or target.role != "owner" or actor.role == "owner"


def assignable_roles(actor: User | None) -> list[str]:
    """The roles ``actor`` may give someone: every role for an owner, all but owner otherwise."""
    if actor is None or actor.role == "owner":
        return list(ROLES)
    return [role for role in ROLES if role != "owner"]


def _check_may_manage(actor: User | None, target: User) -> None:
    if not may_manage(actor, target):
        raise Forbidden(_("Изменять владельцев может только владелец"), "owner_only")


def _check_role(actor: User | None, role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed(_("Неизвестная роль"), "bad_role")
    if role not in assignable_roles(actor):
        raise Forbidden(_("Назначать владельцев может только владелец"), "owner_only")


def _check_not_self(actor: User | None, target: User, message: str) -> None:
    if actor is not None and actor.id == target.id:
        raise Forbidden(message, "self")


def _check_keeps_an_owner(target: User) -> None:
    """Refuse to take away the owner status of the last active owner."""
    if target.role != "owner" or not target.active:
        return
    others = User.select().where(
        (User.role == "owner") & User.active & User.deleted_at.is_null() & (User.id != target.id)
    )
    if not others.exists():
        raise Conflict(_("Нельзя оставить систему без активного владельца"), "last_owner")


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed(_("Укажите ФИО"), "name_required")
    if len(name) > MAX_NAME:
        raise ValidationFailed(_("ФИО длиннее %(n)d символов", n=MAX_NAME), "name_too_long")
    return name


def _phone_taken() -> Conflict:
    return Conflict(_("Сотрудник с таким телефоном уже есть"), "phone_taken")


def _clean_phone(phone: str, exclude: User | None = None) -> str:
    normalised = normalise_phone(phone)
    taken = User.select().where((User.phone == normalised) & User.deleted_at.is_null())
    if exclude is not None:
        taken = taken.where(User.id != exclude.id)
    if taken.exists():
        raise _phone_taken()
    return normalised


def _clean_sites(site_ids: Iterable[int]) -> list[Site]:
    wanted = sorted(set(site_ids))
    unknown = NotFound(_("Неизвестная площадка"), "bad_site")
    if any(not 0 < site_id <= MAX_ID for site_id in wanted):
        raise unknown
    sites = list(Site.select().where(Site.id.in_(wanted))) if wanted else []
    if len(sites) != len(wanted):
        raise unknown
    return sites


def _save_sites(user: User, sites: list[Site]) -> None:
    UserSite.delete().where(UserSite.user == user).execute()
    for site_id in sorted({site.id for site in sites}):
        UserSite.create(user=user, site=site_id)


def _audited(user: User) -> dict[str, Any]:
    """What the audit log keeps of a staff member before and after a change."""
    sites = UserSite.select(UserSite.site).where(UserSite.user == user.id).order_by(UserSite.site)
    values = audit.fields_of(user, "full_name", "phone", "role", "active")
    return {**values, "site_ids": [link.site_id for link in sites]}


def _record(
    action: str,
    actor: User | None,
    user: User,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    audit.record(action, audit.target("staff", user.id, user.full_name), before, after, actor=actor)


# ---- reading -----------------------------------------------------------------------------


def get_staff(user_id: int) -> User:
    """A staff member who is not deleted, or NotFound."""
    user = None
    if 0 < user_id <= MAX_ID:
        user = User.get_or_none((User.id == user_id) & User.deleted_at.is_null())
    if user is None:
        raise NotFound(_("Сотрудник не найден"))
    return user


def _matches(user: User, text: str, digits: str, phone: str | None) -> bool:
    if phone is not None:
        return user.phone == phone
    if name_search_key(text) in name_search_key(user.full_name):
        return True
    if len(digits) < 3:
        return False
    # "8 900 …" is how people type a Russian number that is stored as "+7900…".
    trunk = "7" + digits[1:] if digits.startswith("8") else digits
    return digits in user.phone or trunk in user.phone


def list_staff(q: str = "", active: bool | None = None) -> list[User]:
    """Staff (not deleted) by name, filtered by a name or phone fragment and the active flag.

    The filtering is done here rather than in SQL: the staff list is short, and SQLite's
    LIKE does not fold the case of Cyrillic letters (nor read Ё as Е)."""
    query = User.select().where(User.deleted_at.is_null()).order_by(User.full_name, User.id)
    if active is not None:
        query = query.where(User.active == active)
    users = list(query)
    text = q.strip().casefold()
    if not text:
        return users
    digits = "".join(ch for ch in text if ch.isdigit())
    try:
        phone: str | None = normalise_phone(text)
    except RuleError:
        phone = None
    return [user for user in users if _matches(user, text, digits, phone)]


def sites_of(users: list[User]) -> dict[int, list[Site]]:
    """Each user's sites (by name), for a list of users, in one query."""
    found: dict[int, list[Site]] = {user.id: [] for user in users}
    if not users:
        return found
    links = (
        UserSite.select(UserSite, Site)
        .join(Site)
        .where(UserSite.user.in_([user.id for user in users]))
        .order_by(Site.name)
    )
    for link in links:
        found[link.user_id].append(link.site)
    return found


def staff_dict(user: User, sites: list[Site] | None = None) -> dict[str, Any]:
    """What the API shows of a staff member: never a password or PIN hash."""
    if sites is None:
        sites = sites_of([user])[user.id]
    return {
        "id": user.id,
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "active": user.active,
        "site_ids": [site.id for site in sites],
        "sites": [{"id": site.id, "name": site.name} for site in sites],
        "has_pin": bool(user.pin_hash),
        "created_at": user.created_at.isoformat(),
    }


# ---- changing ----------------------------------------------------------------------------


def create_staff(
    *,
    name: str,
    phone: str,
    role: str,
    password: str,
    pin: str = "",
    site_names: list[str] | None = None,
    site_ids: list[int] | None = None,
    actor: User | None = None,
) -> User:
    """Create an active staff member.

    ``site_ids`` must name existing sites; ``site_names`` (the command line's way) creates
    sites that are missing."""
    name = _clean_name(name)
    _check_role(actor, role)
    user = User(full_name=name, role=role)
    set_password(user, password)
    if pin:
        set_pin(user, pin)
    try:
        with db_proxy.atomic():
            user.phone = _clean_phone(phone)
            sites = _clean_sites(site_ids or [])
            for site_name in site_names or []:
                site, _created = Site.get_or_create(name=site_name.strip())
                sites.append(site)
            user.save()
            _save_sites(user, sites)
            _record("staff.created", actor, user, None, _audited(user))
    except peewee.IntegrityError:  # the unique phone index, when two writers race the check
        raise _phone_taken() from None
    return user


@dataclass
class StaffChanges:
    """Fields of a staff member to change; None leaves a field as it is."""

    full_name: str | None = None
    phone: str | None = None
    role: str | None = None
    site_ids: list[int] | None = None
    active: bool | None = None


def update_staff(actor: User | None, user: User, changes: StaffChanges) -> User:
    """Apply ``changes`` after checking every one of them; all or nothing."""
    _check_may_manage(actor, user)
    before = _audited(user)
    if changes.full_name is not None:
        user.full_name = _clean_name(changes.full_name)
    if changes.role is not None and changes.role != user.role:
        _check_role(actor, changes.role)
        _check_keeps_an_owner(user)
        user.role = changes.role
        user.session_version += 1
    if changes.active is not None and changes.active != user.active:
        if not changes.active:
            _check_not_self(actor, user, _("Нельзя деактивировать самого себя"))
            _check_keeps_an_owner(user)
            user.session_version += 1
        user.active = changes.active
    try:
        with db_proxy.atomic():
            if changes.phone is not None:
                user.phone = _clean_phone(changes.phone, exclude=user)
            sites = _clean_sites(changes.site_ids) if changes.site_ids is not None else None
            user.save()
            if sites is not None:
                _save_sites(user, sites)
            _record(
                _update_action(before, user), actor, user, *audit.changes(before, _audited(user))
            )
    except peewee.IntegrityError:  # the unique phone index, when two writers race the check
        raise _phone_taken() from None
    return user


def _update_action(before: dict[str, Any], user: User) -> str:
    if before["active"] != user.active:
        return "staff.activated" if user.active else "staff.deactivated"
    return "staff.updated"


def change_password(actor: User | None, user: User, password: str) -> None:
    """Set someone else's new password; every web session and API token of the user ends.
    One's own goes through ``change_own_password``, which asks for the current one."""
    _check_may_manage(actor, user)
    if actor is not None and actor.id == user.id:
        raise Forbidden(_("Свой пароль меняют, указав текущий"), "own_password")
    _save_password(actor, user, password)


def change_own_password(
    user: User, current: str, password: str, config: CloudConfig, now: datetime
) -> None:
    """``user`` changes their own password, giving the current one first."""
    check_current_password(user, current, config, now)
    _save_password(user, user, password)


def _save_password(actor: User | None, user: User, password: str) -> None:
    set_password(user, password)
    with db_proxy.atomic():
        user.save()
        revoked = _revoke_tokens(user, utcnow())
        # The log keeps no password, not even hashed: only that it changed.
        _record("staff.password", actor, user, None, {"tokens_revoked": revoked})


def change_pin(actor: User | None, user: User, pin: str) -> None:
    """Set the PIN for stand screens (6–8 digits, stored hashed)."""
    _check_may_manage(actor, user)
    set_pin(user, pin)
    with db_proxy.atomic():
        user.save()
        _record("staff.pin", actor, user)


def delete_staff(actor: User | None, user: User) -> None:
    """Soft-delete: the user cannot log in, their tokens are revoked and the phone is free."""
    if actor is not None and not role_can(actor.role, Capability.DELETE_STAFF):
        raise Forbidden()
    _check_may_manage(actor, user)
    _check_not_self(actor, user, _("Нельзя удалить самого себя"))
    _check_keeps_an_owner(user)
    now = utcnow()
    with db_proxy.atomic():
        before = _audited(user)
        User.update(deleted_at=now, active=False, session_version=User.session_version + 1).where(
            User.id == user.id
        ).execute()
        revoked = _revoke_tokens(user, now)
        _record("staff.deleted", actor, user, before, {"deleted": True, "tokens_revoked": revoked})


# ---- API tokens --------------------------------------------------------------------------


def list_tokens(user: User) -> list[ApiToken]:
    return list(ApiToken.select().where(ApiToken.user == user).order_by(ApiToken.created_at.desc()))


def _revoke_tokens(user: User, now: datetime) -> int:
    return int(
        ApiToken.update(revoked_at=now)
        .where((ApiToken.user == user) & ApiToken.revoked_at.is_null())
        .execute()
    )


def may_issue_token(actor: User | None, user: User) -> bool:
    """Only the staff member themselves or an owner (or the command line) issue their tokens."""
    return actor is None or actor.id == user.id or actor.role == "owner"


def issue_token(actor: User | None, user: User, days: int, now: datetime) -> str:
    """A new API token for ``user``, working ``days`` from ``now``; the caller shows it once,
    only its hash is kept."""
    if not may_issue_token(actor, user):
        raise Forbidden(
            _("Токен выпускает только сам сотрудник или владелец"), "token_self_or_owner"
        )
    if not user.active:
        raise Conflict(_("Сотрудник неактивен: токен не будет работать"), "inactive")
    if not 0 < days <= 3650:
        raise ValidationFailed(_("Срок токена — от 1 до 3650 дней"), "bad_token_days")
    with db_proxy.atomic():
        token = new_api_token(user, issued_by=actor, days=days, now=now)
        row = ApiToken.get(ApiToken.token_hash == hash_secret(token))
        after = {"token_id": row.id, "expires_at": audit.fields_of(row, "expires_at")["expires_at"]}
        _record("token.issued", actor, user, None, after)
    return token


def revoke_token(actor: User | None, user: User, token_id: int) -> None:
    _check_may_manage(actor, user)
    token = None
    if 0 < token_id <= MAX_ID:
        token = ApiToken.get_or_none((ApiToken.id == token_id) & (ApiToken.user == user))
    if token is None:
        raise NotFound(_("Токен не найден"))
    if token.revoked_at is None:
        with db_proxy.atomic():
            token.revoked_at = utcnow()
            token.save()
            after = {
                "token_id": token.id,
                "revoked_at": audit.fields_of(token, "revoked_at")["revoked_at"],
            }
            _record("token.revoked", actor, user, {"token_id": token.id, "revoked_at": None}, after)
