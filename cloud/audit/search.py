"""Reading the audit log (the owner's page, its CSV and ``GET /api/v1/audit``): a filter by who,
action, target and period read from a request's arguments, newest rows first, paged."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.audit.service import ACTIONS
from cloud.clock import iso_utc
from cloud.errors import ValidationFailed
from cloud.fields import query_row_id
from cloud.models import AuditEntry
from cloud.periods import check_order, parse_day

# What actions are done to, with their labels on the page.
TARGET_KINDS: dict[str, Any] = {
    "client": _l("Клиент"),
    "staff": _l("Сотрудник"),
    "tariff": _l("Тариф"),
    "site": _l("Площадка"),
    "stand": _l("Пост"),
    "login": _l("Вход"),
    "settings": _l("Настройки"),
}
CSV_LIMIT = 100_000  # rows in one CSV file, newest first


@dataclass(frozen=True)
class AuditFilter:
    """Which rows to show: by staff member, action, target (kind, and id), calendar days
    ``first``..``last`` in the service's time zone (either may be open)."""

    timezone: str
    actor_id: int | None = None
    action: str | None = None
    target_kind: str | None = None
    target_id: int | None = None
    first: date | None = None
    last: date | None = None

    def args(self) -> dict[str, Any]:
        """The filter as query arguments (for paging links and the CSV link)."""
        values = {
            "actor_id": self.actor_id,
            "action": self.action,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
        }
        return {name: value for name, value in values.items() if value is not None}


def _choice(args: Mapping[str, str], name: str, choices: Mapping[str, Any]) -> str | None:
    value = args.get(name) or None
    if value is not None and value not in choices:
        raise ValidationFailed(_("%(name)s: неизвестное значение", name=name), "bad_parameter")
    return value


def parse_filter(args: Mapping[str, str], timezone: str) -> AuditFilter:
    """The filter of a request's arguments (``actor_id``, ``action``, ``target_kind``,
    ``target_id``, ``from``, ``to``; empty ones are absent); a bad value is a 400, a period
    ending before it starts a 422."""
    first_text, last_text = args.get("from") or "", args.get("to") or ""
    first = parse_day(first_text, "from") if first_text else None
    last = parse_day(last_text, "to") if last_text else None
    check_order(first, last)
    return AuditFilter(
        timezone,
        actor_id=query_row_id(args.get("actor_id"), "actor_id"),
        action=_choice(args, "action", ACTIONS),
        target_kind=_choice(args, "target_kind", TARGET_KINDS),
        target_id=query_row_id(args.get("target_id"), "target_id"),
        first=first,
        last=last,
    )


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(timezone)).astimezone(UTC)


def _query(chosen: AuditFilter) -> pw.ModelSelect:
    query = AuditEntry.select()
    if chosen.actor_id is not None:
        query = query.where(AuditEntry.actor_id == chosen.actor_id)
    if chosen.action is not None:
        query = query.where(AuditEntry.action == chosen.action)
    if chosen.target_kind is not None:
        query = query.where(AuditEntry.target_kind == chosen.target_kind)
    if chosen.target_id is not None:
        query = query.where(AuditEntry.target_id == chosen.target_id)
    if chosen.first is not None:
        query = query.where(AuditEntry.at >= _midnight(chosen.first, chosen.timezone))
    if chosen.last is not None:
        following = chosen.last + timedelta(days=1)
        query = query.where(AuditEntry.at < _midnight(following, chosen.timezone))
    return query


def find(chosen: AuditFilter, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """One page of the matching rows, newest first, and how many match in all."""
    query = _query(chosen)
    rows = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return list(rows), query.count()


def every(chosen: AuditFilter) -> Iterator[AuditEntry]:
    """The matching rows, newest first, at most ``CSV_LIMIT`` (read as they are written out)."""
    query = _query(chosen).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return iter(query.limit(CSV_LIMIT).iterator())


def actors() -> list[tuple[int, str]]:
    """The staff members the log names (for the filter), by name: the latest name of each."""
    latest = (
        AuditEntry.select(pw.fn.MAX(AuditEntry.id))
        .where(AuditEntry.actor_id.is_null(False))
        .group_by(AuditEntry.actor_id)
    )
    names = AuditEntry.select(AuditEntry.actor_id, AuditEntry.actor_name).where(
        AuditEntry.id.in_(latest)
    )
    return sorted(((row.actor_id, row.actor_name) for row in names), key=lambda p: (p[1], p[0]))


def _values(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text is not None else None


def action_label(code: str) -> str:
    return str(ACTIONS.get(code, code))


def entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso_utc(entry.at),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "actor_role": entry.actor_role,
        "address": entry.address,
        "api_token_id": entry.api_token_id,
        "action": entry.action,
        "target_kind": entry.target_kind,
        "target_id": entry.target_id,
        "target_label": entry.target_label,
        "before": _values(entry.before),
        "after": _values(entry.after),
        "comment": entry.comment,
    }


def csv_header() -> list[str]:
    return [
        _("Когда"),
        _("Сотрудник №"),
        _("Сотрудник"),
        _("Роль"),
        _("Адрес"),
        _("API-токен №"),
        _("Действие"),
        _("Код действия"),
        _("Объект"),
        _("Объект №"),
        _("Название объекта"),
        _("Было"),
        _("Стало"),
        _("Комментарий"),
    ]


# Cells people or stands typed (names, labels, comments, values): kept from being read as
# formulas by ``cloud.csvexport``.
CSV_SAFE = {2, 4, 10, 11, 12, 13}


def csv_row(entry: AuditEntry, when: str) -> list[Any]:
    """One CSV row; ``when`` is the row's time as the page shows it (local)."""
    return [
        when,
        entry.actor_id if entry.actor_id is not None else "",
        entry.actor_name,
        entry.actor_role,
        entry.address,
        entry.api_token_id if entry.api_token_id is not None else "",
        action_label(entry.action),
        entry.action,
        str(TARGET_KINDS.get(entry.target_kind, entry.target_kind)),
        entry.target_id if entry.target_id is not None else "",
        entry.target_label,
        entry.before or "",
        entry.after or "",
        entry.comment,
    ]
