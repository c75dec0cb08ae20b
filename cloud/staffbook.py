"""Staff members: create, edit, assign to sites, deactivate, delete."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.auth import set_password, set_pin
from cloud.db import db_proxy
from cloud.errors import Conflict, ValidationFailed
from cloud.models import ROLES, Site, User, UserSite
from sync.phones import normalise_phone


def create_staff(
    *, name: str, phone: str, role: str, password: str, pin: str = "", site_names: list[str] | None = None
) -> User:
    """Create an active staff member; sites named in ``site_names`` are created if missing."""
    name = name.strip()
    if not name:
        raise ValidationFailed(_("Укажите ФИО"), "name_required")
    if role not in ROLES:
        raise ValidationFailed(_("Неизвестная роль"), "bad_role")
    normalised = normalise_phone(phone)
    with db_proxy.atomic():
        if User.select().where((User.phone == normalised) & User.deleted_at.is_null()).exists():
            raise Conflict(_("Сотрудник с таким телефоном уже есть"), "phone_taken")
        user = User(full_name=name, phone=normalised, role=role)
        set_password(user, password)
        if pin:
            set_pin(user, pin)
        user.save()
        for site_name in site_names or []:
            site, _created = Site.get_or_create(name=site_name.strip())
            UserSite.get_or_create(user=user, site=site)
    return user
