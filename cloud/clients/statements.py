"""A client's monthly statement: the balance at the start of a calendar month (in the
configured time zone), the top-ups, the sessions of each card and plate, the other movements
(adjustments, refunds and any other kind of entry) and the balance at its end.

The figures come from the ledger, so they add up: ``opening + top-ups − session charges +
other = closing``, each balance being the sum of the entries before the moment. Sessions are
counted in the month their charge was posted (their end); a free session posts no entry and
counts with a cost of 0."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import gettext as _

from cloud.clock import iso_utc
from cloud.errors import ValidationFailed
from cloud.fields import MONTH_PATTERN
from cloud.models import Client, LedgerEntry, Session


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def start(self, timezone: str) -> datetime:
        """Local midnight of the month's first day."""
        return datetime.combine(date(self.year, self.month, 1), time.min, ZoneInfo(timezone))


def parse_month(text: str | None, now: datetime, timezone: str) -> Month:
    """``YYYY-MM`` (empty: the current month in ``timezone``); ValidationFailed otherwise."""
    if not text:
        today = now.astimezone(ZoneInfo(timezone))
        return Month(today.year, today.month)
    if not re.fullmatch(MONTH_PATTERN, text):  # 2000-01 to 2100-12
        raise ValidationFailed(_("Месяц указывают так: 2024-03"), "bad_month")
    return Month(int(text[:4]), int(text[5:]))


@dataclass
class SessionLine:
    """The sessions of one card or plate (``kind`` None: started without one)."""

    kind: str | None
    value: str | None
    sessions: int = 0
    duration_s: int = 0
    charged_kopecks: int = 0  # positive: what was taken from the balance


@dataclass
class Statement:
    client: Client
    month: Month
    opening_kopecks: int
    closing_kopecks: int
    topups: list[LedgerEntry]
    others: list[LedgerEntry]
    lines: list[SessionLine] = field(default_factory=list)

    @property
    def topups_kopecks(self) -> int:
        return sum(e.amount_kopecks for e in self.topups)

    @property
    def charged_kopecks(self) -> int:
        return sum(line.charged_kopecks for line in self.lines)

    @property
    def others_kopecks(self) -> int:
        return sum(e.amount_kopecks for e in self.others)


def _balance_before(client: Client, moment: datetime) -> int:
    total = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0))
        .where((LedgerEntry.client == client.id) & (LedgerEntry.created_at < moment))
        .scalar()
    )
    return int(total or 0)


def _session_lines(client: Client, since: datetime, until: datetime) -> list[SessionLine]:
    """Sessions that ended in the period, by credential, with what their charges took."""
    charged = (
        LedgerEntry.select(
            LedgerEntry.session, pw.fn.SUM(LedgerEntry.amount_kopecks).alias("amount")
        )
        .where((LedgerEntry.client == client.id) & (LedgerEntry.kind == "charge"))
        .group_by(LedgerEntry.session)
        .alias("charged")
    )
    rows = (
        Session.select(
            Session.credential_kind,
            Session.credential_value,
            pw.fn.COUNT(Session.id),
            pw.fn.COALESCE(pw.fn.SUM(Session.duration_s), 0),
            pw.fn.COALESCE(pw.fn.SUM(charged.c.amount), 0),
        )
        .join(charged, pw.JOIN.LEFT_OUTER, on=(charged.c.session_id == Session.id))
        .where(
            (Session.client == client.id) & (Session.ended_at >= since) & (Session.ended_at < until)
        )
        .group_by(Session.credential_kind, Session.credential_value)
        .tuples()
    )
    lines = [
        SessionLine(kind, value, int(n), int(duration), -int(amount))
        for kind, value, n, duration, amount in rows
    ]
    order = {"card": 0, "plate": 1, "qr": 2}
    return sorted(lines, key=lambda line: (order.get(line.kind or "", 3), line.value or ""))


def monthly_statement(client: Client, month: Month, timezone: str) -> Statement:
    """The statement of ``client`` for ``month`` (see the module)."""
    since, until = month.start(timezone), month.next().start(timezone)
    in_month = (
        (LedgerEntry.client == client.id)
        & (LedgerEntry.created_at >= since)
        & (LedgerEntry.created_at < until)
    )
    entries = list(LedgerEntry.select().where(in_month).order_by(LedgerEntry.created_at))
    lines = _session_lines(client, since, until)
    statement = Statement(
        client=client,
        month=month,
        opening_kopecks=_balance_before(client, since),
        closing_kopecks=_balance_before(client, until),
        topups=[e for e in entries if e.kind == "topup"],
        others=[e for e in entries if e.kind not in ("topup", "charge")],
        lines=lines,
    )
    unlisted = sum(-e.amount_kopecks for e in entries if e.kind == "charge")
    unlisted -= statement.charged_kopecks
    if unlisted:  # a charge whose session ended outside the month (its clock was corrected)
        statement.lines.append(SessionLine("other", None, 0, 0, unlisted))
    return statement


def statement_to_dict(statement: Statement) -> dict[str, Any]:
    return {
        "client_id": statement.client.id,
        "month": statement.month.label,
        "opening_balance_kopecks": statement.opening_kopecks,
        "topups_kopecks": statement.topups_kopecks,
        "topups": [
            {
                "id": e.id,
                "amount_kopecks": e.amount_kopecks,
                "method": e.method,
                "created_at": iso_utc(e.created_at),
            }
            for e in statement.topups
        ],
        "sessions": [
            {
                "credential_kind": line.kind,
                "credential_value": line.value,
                "sessions": line.sessions,
                "duration_s": line.duration_s,
                "charged_kopecks": line.charged_kopecks,
            }
            for line in statement.lines
        ],
        "charged_kopecks": statement.charged_kopecks,
        "other_kopecks": statement.others_kopecks,
        "closing_balance_kopecks": statement.closing_kopecks,
    }
