"""The bonus history (seed 004): points entries of one client, of the clients with a phone,
or of every client the caller may see, filtered by operation (accrual, spending, expiry,
manual), method (automatically or by a person, or one staff member) and period; with its sums,
as a page (cloud/loyalty/pages.py), CSV and JSON (cloud/loyalty/api.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.clock import iso_utc
from cloud.csvexport import CSV_SEPARATOR, safe_cell
from cloud.errors import ValidationFailed
from cloud.fields import PHONE_PATTERN, query_row_id
from cloud.models import POINTS_KINDS, Client, ClientPhone, LedgerEntry, User
from cloud.periods import parse_period
from cloud.permissions import site_scope
from sync.errors import RuleError
from sync.phones import normalise_phone

OPERATIONS: dict[str, tuple[str, ...]] = {
    "accrual": ("bonus_welcome", "bonus_accrual"),
    "spending": ("bonus_spend",),
    "expiry": ("bonus_expiry",),
    "manual": ("bonus_adjustment",),
}
METHODS = ("auto", "staff")


@dataclass(frozen=True)
class HistoryFilter:
    """What the bonus history shows: one client, the clients with a phone, or all the caller
    may see; an operation
    (``OPERATIONS``), a method (``auto`` or ``staff``) or one staff member, a period of days."""

    client_id: int | None = None
    phone: str | None = None  # normalised: the clients with this phone
    operation: str | None = None
    method: str | None = None
    staff_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def parse_filter(
    args: Any, timezone: str, now: datetime, client_id: int | None = None
) -> HistoryFilter:
    """A filter from query arguments (``phone``, ``operation``, ``method``, ``staff_id``,
    ``from``, ``to``; a period is read as of ``now``); ValidationFailed on a bad one."""
    operation = args.get("operation") or None
    if operation is not None and operation not in OPERATIONS:
        raise ValidationFailed(_("Неизвестная операция с баллами"), "bad_operation")
    method = args.get("method") or None
    if method is not None and method not in METHODS:
        raise ValidationFailed(_("Способ: auto или staff"), "bad_method")
    staff_id = query_row_id(args.get("staff_id"), "staff_id")
    phone_text = args.get("phone") or ""
    try:
        if phone_text and not re.fullmatch(PHONE_PATTERN, phone_text):
            raise RuleError("", "bad_phone")
        phone = normalise_phone(phone_text) if phone_text else None
    except RuleError:
        raise ValidationFailed(_("Некорректный номер телефона"), "bad_phone") from None
    first, last = args.get("from") or "", args.get("to") or ""
    start = end = None
    if first or last:
        today = now.date()
        period = parse_period(first or "2000-01-01", last or "2100-12-31", timezone, today)
        start, end = (period.start if first else None), (period.end if last else None)
    return HistoryFilter(
        client_id=client_id,
        phone=phone,
        operation=operation,
        method=method,
        staff_id=staff_id,
        start=start,
        end=end,
    )


def _history_query(actor: User, wanted: HistoryFilter) -> pw.ModelSelect:
    where = LedgerEntry.kind.in_(POINTS_KINDS) & Client.deleted_at.is_null()
    if wanted.client_id is not None:
        where &= LedgerEntry.client == wanted.client_id
    if wanted.phone is not None:
        holders = ClientPhone.select(ClientPhone.client).where(ClientPhone.phone == wanted.phone)
        where &= LedgerEntry.client.in_(holders)
    if wanted.operation is not None:
        where &= LedgerEntry.kind.in_(OPERATIONS[wanted.operation])
    if wanted.method == "auto":
        where &= LedgerEntry.created_by.is_null()
    elif wanted.method == "staff":
        where &= LedgerEntry.created_by.is_null(False)
    if wanted.staff_id is not None:
        where &= LedgerEntry.created_by == wanted.staff_id
    if wanted.start is not None:
        where &= LedgerEntry.created_at >= wanted.start
    if wanted.end is not None:
        where &= LedgerEntry.created_at < wanted.end
    scope = site_scope(actor)
    if scope is not None and wanted.client_id is None:  # one client: already looked up in scope
        where &= Client.home_site.in_(sorted(scope) or [0])
    return (
        LedgerEntry.select(LedgerEntry, Client, User)
        .join(Client, on=(LedgerEntry.client == Client.id))
        .switch(LedgerEntry)
        .join(User, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.created_by == User.id))
        .where(where)
    )


@dataclass(frozen=True)
class History:
    entries: list[LedgerEntry]
    total: int
    accrued: int  # points in, over the whole filtered history
    spent: int  # points out (spends, deductions, expiries), as a positive number


def history(actor: User, wanted: HistoryFilter, limit: int = 50, offset: int = 0) -> History:
    """The filtered points entries, newest first, with their count and sums."""
    query = _history_query(actor, wanted)
    sums = query.select(
        pw.fn.COALESCE(
            pw.fn.SUM(
                pw.Case(None, [(LedgerEntry.amount_points > 0, LedgerEntry.amount_points)], 0)
            ),
            0,
        ),
        pw.fn.COALESCE(
            pw.fn.SUM(
                pw.Case(None, [(LedgerEntry.amount_points < 0, LedgerEntry.amount_points)], 0)
            ),
            0,
        ),
        pw.fn.COUNT(LedgerEntry.id),
    ).tuples()
    accrued, spent, total = sums.get()
    rows = query.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    return History(list(rows.limit(limit).offset(offset)), int(total), int(accrued), -int(spent))


def operation_of(kind: str) -> str:
    return next(name for name, kinds in OPERATIONS.items() if kind in kinds)


def operation_labels() -> dict[str, str]:
    return {
        "accrual": _("Начисление"),
        "spending": _("Списание"),
        "expiry": _("Сгорание"),
        "manual": _("Вручную"),
    }


def kind_labels() -> dict[str, str]:
    return {
        "bonus_welcome": _("Приветственные баллы"),
        "bonus_accrual": _("Начисление"),
        "bonus_spend": _("Оплата сеанса баллами"),
        "bonus_expiry": _("Сгорание"),
        "bonus_adjustment": _("Вручную"),
    }


def method_text(entry: LedgerEntry) -> str:
    return entry.created_by.full_name if entry.created_by_id else _("автоматически")


def entry_to_dict(entry: LedgerEntry) -> dict[str, Any]:
    """The API form of a points entry."""
    return {
        "id": entry.id,
        "client_id": entry.client_id,
        "kind": entry.kind,
        "operation": operation_of(entry.kind),
        "points": entry.amount_points,
        "method": "staff" if entry.created_by_id else "auto",
        "created_by_id": entry.created_by_id,
        "reason": entry.reason,
        "session_id": entry.session_id,
        "site_id": entry.site_id,
        "created_at": iso_utc(entry.created_at),
    }


def history_csv(entries: Iterable[LedgerEntry]) -> str:
    """The entries as CSV for Excel (";" separated; the caller adds the byte order mark)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR)
    writer.writerow(
        [
            _("Когда (UTC)"),
            _("Клиент №"),
            _("Клиент"),
            _("Операция"),
            _("Баллы"),
            _("Кто"),
            _("Причина"),
        ]
    )
    labels = kind_labels()
    for entry in entries:
        writer.writerow(
            [
                iso_utc(entry.created_at),
                entry.client_id,
                safe_cell(entry.client.name),
                labels[entry.kind],
                entry.amount_points,
                safe_cell(method_text(entry)),
                safe_cell(entry.reason),
            ]
        )
    return out.getvalue()
