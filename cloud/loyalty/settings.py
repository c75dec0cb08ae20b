"""The bonus programme's settings as the owner saved them on the settings page: the welcome
bonus, the accrual (percent and what it is of), the points' lifetime and what a point is worth.

The configuration file's ``points_*`` values (cloud/config.py) are the defaults: a setting the
owner never saved keeps following the file. ``effective_rules`` is what every use of the rules
reads (the welcome bonus, the accrual on top-ups and charges, the expiry job, the point value
sent to the stands); each save is one audit log row with the values before and after."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import ValidationFailed
from cloud.loyalty.bonus import ACCRUAL_BASES, MAX_POINTS, PointsRules
from cloud.models import LoyaltySetting, User

# The rules' field -> the configuration key it overrides (one row of LoyaltySetting each).
KEYS = {
    "welcome": "points_welcome",
    "accrual_percent": "points_accrual_percent",
    "accrual_on": "points_accrual_on",
    "expiry_days": "points_expiry_days",
    "value_kopecks": "points_value_kopecks",
}
MAX_EXPIRY_DAYS = 3650
MAX_POINT_VALUE_KOPECKS = 100_000


def effective_rules(config: CloudConfig) -> PointsRules:
    """The configuration's rules with the owner's saved settings over them."""
    rules = PointsRules.from_config(config)
    saved = {row.name: row.value for row in LoyaltySetting.select()}
    changes: dict[str, Any] = {}
    for field, key in KEYS.items():
        if key in saved:
            changes[field] = saved[key] if field == "accrual_on" else int(saved[key])
    return replace(rules, **changes) if changes else rules


def saved_keys() -> set[str]:
    """The configuration keys the owner has saved (the others follow the file)."""
    return {row.name for row in LoyaltySetting.select(LoyaltySetting.name)}


@dataclass(frozen=True)
class _Limit:
    low: int
    high: int
    message: str


def _whole(text: Any, limit: _Limit, code: str) -> int:
    raw = str(text if text is not None else "").strip().replace(" ", "").replace("\u00a0", "")
    if not raw.isdigit() or len(raw) > 9 or not limit.low <= int(raw) <= limit.high:
        raise ValidationFailed(limit.message, code)
    return int(raw)


def parse(values: dict[str, Any]) -> PointsRules:
    """The rules the owner typed (every field), each checked with a message naming it."""
    accrual_on = str(values.get("accrual_on", ""))
    if accrual_on not in ACCRUAL_BASES:
        raise ValidationFailed(_("Начислять: с пополнений или со списаний"), "bad_accrual_on")
    limits = {
        "welcome": _Limit(
            0, MAX_POINTS, _("Приветственный бонус — от 0 до %(n)s баллов", n=MAX_POINTS)
        ),
        "accrual_percent": _Limit(0, 100, _("Процент начисления — от 0 до 100")),
        "expiry_days": _Limit(
            0, MAX_EXPIRY_DAYS, _("Срок жизни баллов — от 0 (бессрочно) до %(n)s дней", n=3650)
        ),
        "value_kopecks": _Limit(
            1, MAX_POINT_VALUE_KOPECKS, _("Стоимость балла — от 1 копейки до 1 000 ₽")
        ),
    }
    numbers = {
        field: _whole(values.get(field), limit, f"bad_{field}") for field, limit in limits.items()
    }
    rules = PointsRules(accrual_on=accrual_on, **numbers)
    rules.validate()
    return rules


def save(actor: User | None, config: CloudConfig, rules: PointsRules) -> PointsRules:
    """Store the settings of ``rules`` that differ from the effective ones (a setting never
    changed keeps following the file) and record them in the audit log, before and after;
    nothing changed writes nothing."""
    before = effective_rules(config)
    old, new = asdict(before), asdict(rules)
    changed = sorted(field for field in KEYS if old[field] != new[field])
    if not changed:
        return before
    now = utcnow()
    with db_proxy.atomic():
        for field in changed:
            key, value = KEYS[field], str(new[field])
            row = LoyaltySetting.get_or_none(LoyaltySetting.name == key)
            if row is None:
                LoyaltySetting.create(name=key, value=value, updated_by=actor, updated_at=now)
            else:
                row.value, row.updated_by, row.updated_at = value, actor, now
                row.save()
        if changed:
            audit.record(
                "loyalty.settings",
                audit.target("settings", None, _("Бонусная программа")),
                {KEYS[f]: old[f] for f in changed},
                {KEYS[f]: new[f] for f in changed},
                actor=actor,
            )
    return rules


def reset(actor: User | None, config: CloudConfig) -> PointsRules:
    """Forget the saved settings: the configuration file's values apply again (audited)."""
    before = asdict(effective_rules(config))
    with db_proxy.atomic():
        LoyaltySetting.delete().execute()
        after = asdict(effective_rules(config))
        changed = sorted(f for f in KEYS if before[f] != after[f])
        if changed:
            audit.record(
                "loyalty.settings",
                audit.target("settings", None, _("Бонусная программа")),
                {KEYS[f]: before[f] for f in changed},
                {KEYS[f]: after[f] for f in changed},
                actor=actor,
            )
    return effective_rules(config)
