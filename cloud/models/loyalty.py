"""The loyalty settings the owner saved (cloud/loyalty/settings.py): one row per setting,
absent until saved, so the configuration file's value is the default until then."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField, utcnow
from cloud.models.core import BaseModel, User


class LoyaltySetting(BaseModel):
    """One saved ``points_*`` setting (its name in cloud/config.py) and its value as text."""

    name = pw.CharField(max_length=40, unique=True)
    value = pw.CharField(max_length=40)
    updated_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    updated_at = UtcDateTimeField(default=utcnow)


def stored_setting(name: str, default: int) -> int:
    """The saved value of a whole-number setting, else ``default`` (the configuration's)."""
    row = LoyaltySetting.get_or_none(LoyaltySetting.name == name)
    return whole_setting(row.value if row is not None else None, default)


def whole_setting(value: str | None, default: int) -> int:
    """A whole-number setting's saved text ``value`` as a number, else ``default``."""
    return int(value) if value is not None else default
