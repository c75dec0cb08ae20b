"""The balances report: who owes (a negative balance), how much, since when, and the sessions
that made the debt.

**The debt's sessions.** A debt is made by the ledger entries since the balance was last
non-negative: walking the client's entries in order (``created_at``, then ``id``) with the
running balance, the debt's entries are those after the last one that left the balance at zero
or above (all of them if it never was; before the first entry the balance is zero). The page
lists the sessions charged by those entries (the newest :data:`SESSIONS_SHOWN`, by when they
were charged) and counts them all; a top-up that did not clear the debt stays in the sum, not in the list.

**Two stands offline.** A debt is marked ``two_stands`` when one of its sessions overlapped in
time (each started before the other ended) a session of the same client at another stand,
whether or not that other one is itself among the debt's. A stand starts a session on the
balance it last saw plus its own unsent charges (DESIGN.md, offline rules), so two stands
serving one balance at once cannot see each other's charge: each allowed its session within
the limit, and the central ledger, summing both, went below zero. The sessions of the debt
that overlapped one are marked too (``overlaps_with``: the other session).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee as pw

from cloud.clock import iso_utc
from cloud.models import Client, LedgerEntry, Session, Site, Stand, User
from cloud.permissions import site_scope
from cloud.reports.topups import client_label
from cloud.sessions.service import plates_of

DEBTORS_LIMIT = 100  # the largest debts shown; the totals count every debtor
SESSIONS_SHOWN = 10  # of each debt, the newest


@dataclass
class DebtSession:
    session_id: int
    stand_id: int
    stand_name: str
    site_name: str
    started_at: datetime
    ended_at: datetime | None
    cost_kopecks: int
    overlaps_with: int | None = None  # a session of the client's at another stand at once

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "stand_id": self.stand_id,
            "stand_name": self.stand_name,
            "site_name": self.site_name,
            "started_at": iso_utc(self.started_at),
            "ended_at": iso_utc(self.ended_at),
            "cost_kopecks": self.cost_kopecks,
            "overlaps_with": self.overlaps_with,
        }


@dataclass
class Debt:
    client_id: int
    client_name: str
    client_kind: str
    balance_kopecks: int
    since: datetime | None  # when the first entry of the debt was made
    sessions_count: int
    sessions: list[DebtSession] = field(default_factory=list)  # newest first, SESSIONS_SHOWN
    two_stands: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "client_kind": self.client_kind,
            "balance_kopecks": self.balance_kopecks,
            "since": iso_utc(self.since),
            "sessions_count": self.sessions_count,
            "two_stands": self.two_stands,
            "sessions": [session.to_dict() for session in self.sessions],
        }


@dataclass
class DebtReport:
    debts: list[Debt]  # the largest DEBTORS_LIMIT, largest first
    debtors: int  # every client who owes
    owed_kopecks: int  # what they owe together (a positive number)

    def to_dict(self) -> dict[str, Any]:
        return {
            "debtors": self.debtors,
            "owed_kopecks": self.owed_kopecks,
            "items": [debt.to_dict() for debt in self.debts],
        }


def _debtors(actor: User) -> pw.ModelSelect:
    query = Client.select().where((Client.balance_kopecks < 0) & Client.deleted_at.is_null())
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Client.home_site.in_(sorted(scope)))
    return query


def debt_entries(client_ids: list[int]) -> dict[int, list[tuple[int, int | None, datetime]]]:
    """Each client's entries since the balance was last non-negative, as (amount, session id,
    created at), oldest first. The running balance is the database's (a window SUM)."""
    running = pw.fn.SUM(LedgerEntry.amount_kopecks).over(
        partition_by=[LedgerEntry.client], order_by=[LedgerEntry.created_at, LedgerEntry.id]
    )
    query = (
        LedgerEntry.select(
            LedgerEntry.client,
            LedgerEntry.amount_kopecks,
            LedgerEntry.session,
            LedgerEntry.created_at,
            running,
        )
        .where(LedgerEntry.client.in_(client_ids))
        .order_by(LedgerEntry.client, LedgerEntry.created_at, LedgerEntry.id)
    )
    runs: dict[int, list[tuple[int, int | None, datetime]]] = {cid: [] for cid in client_ids}
    for client_id, amount, session_id, created_at, balance in query.tuples():
        if int(balance) >= 0:
            runs[client_id] = []  # the debt starts after the last non-negative balance
        else:
            created = LedgerEntry.created_at.python_value(created_at)
            runs[client_id].append((int(amount), session_id, created))
    return runs


def overlapping(client_ids: list[int], session_ids: list[int]) -> dict[int, int]:
    """For each of these sessions (of these clients) that overlapped in time a session of the
    same client at another stand (each started before the other ended; an open one has not
    ended), the id of one such session. One self-join in SQL, read through the client index
    (PostgreSQL would scan the table for a long list of ids alone)."""
    other = Session.alias()
    query = (
        Session.select(Session.id, pw.fn.MIN(other.id))
        .join(
            other,
            on=(
                (other.client == Session.client)
                & (other.stand != Session.stand)
                & (other.started_at < Session.ended_at)
                & ((other.ended_at > Session.started_at) | other.ended_at.is_null())
            ),
        )
        .where(Session.client.in_(client_ids) & Session.id.in_(session_ids))
        .group_by(Session.id)
    )
    return dict(query.tuples())


def _sessions(client_ids: list[int], ids: list[int]) -> dict[int, DebtSession]:
    query = (
        Session.select(
            Session.id,
            Session.stand,
            Stand.name,
            Site.name,
            Session.started_at,
            Session.ended_at,
            Session.cost_kopecks,
        )
        .join(Stand, on=(Session.stand == Stand.id))
        .switch(Session)
        .join(Site, on=(Session.site == Site.id))
        .where(Session.client.in_(client_ids) & Session.id.in_(ids))
    )
    return {row[0]: DebtSession(*row[:6], int(row[6] or 0)) for row in query.tuples()}


def debt_report(actor: User, limit: int = DEBTORS_LIMIT) -> DebtReport:
    """The clients who owe, the largest debts first, each with the sessions that made it."""
    debtors, owed = (
        _debtors(actor)
        .select(pw.fn.COUNT(Client.id), pw.fn.COALESCE(pw.fn.SUM(Client.balance_kopecks), 0))
        .tuples()[0]
    )
    clients = list(_debtors(actor).order_by(Client.balance_kopecks, Client.id).limit(limit))
    ids = [client.id for client in clients]
    runs = debt_entries(ids) if ids else {}
    # Each debt's sessions, newest charge first; only the shown ones are read in full.
    charged = {
        cid: [sid for _a, sid, _c in reversed(run) if sid is not None] for cid, run in runs.items()
    }
    every = sorted({sid for sids in charged.values() for sid in sids})
    partners = overlapping(ids, every) if every else {}
    shown_ids = sorted({sid for sids in charged.values() for sid in sids[:SESSIONS_SHOWN]})
    sessions = _sessions(ids, shown_ids) if shown_ids else {}
    plates = plates_of(ids)
    debts = []
    for client in clients:
        sids = charged.get(client.id, [])
        shown = [sessions[sid] for sid in sids[:SESSIONS_SHOWN] if sid in sessions]
        for session in shown:
            session.overlaps_with = partners.get(session.session_id)
        run = runs.get(client.id, [])
        debts.append(
            Debt(
                client.id,
                client_label(client, plates.get(client.id, "")),
                client.kind,
                client.balance_kopecks,
                run[0][2] if run else None,
                len(sids),
                shown,
                any(sid in partners for sid in sids),
            )
        )
    return DebtReport(debts, int(debtors), -int(owed))
