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
from cloud.models import Client, LedgerEntry, Site, Stand, User
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


# Each debtor's entries since the balance was last non-negative, oldest first, read in one
# statement: the running balance and the entries' order by window functions, the number of the
# last entry that left the balance at zero or above (``cleared``, 0 if none) by a window over
# those; and for each entry that charged a session of one of these clients, that session and
# the lowest-id session of the same client at another stand that overlapped it (read through
# ``session_client_id_ended_at``: only the client's sessions that ended after this one began,
# or are open). ``{ids}``: the clients' placeholders.
DEBT_ENTRIES_SQL = """
SELECT o.client_id, o.amount_kopecks, o.session_id, o.created_at,
    s.id, s.stand_id, s.site_id, s.started_at, s.ended_at, s.cost_kopecks,
    (SELECT MIN(x.id) FROM session AS x
     WHERE x.client_id = s.client_id AND x.stand_id <> s.stand_id
        AND x.started_at < s.ended_at AND (x.ended_at > s.started_at OR x.ended_at IS NULL))
FROM (
    SELECT r.*,
        MAX(CASE WHEN r.balance >= 0 THEN r.n ELSE 0 END) OVER (PARTITION BY r.client_id)
            AS cleared
    FROM (
        SELECT e.client_id, e.amount_kopecks, e.session_id, e.created_at,
            SUM(e.amount_kopecks) OVER w AS balance, ROW_NUMBER() OVER w AS n
        FROM ledger_entry AS e
        WHERE e.client_id IN ({ids})
        WINDOW w AS (PARTITION BY e.client_id ORDER BY e.created_at, e.id)
    ) AS r
) AS o
LEFT JOIN session AS s ON s.id = o.session_id AND s.client_id IN ({ids})
WHERE o.n > o.cleared
ORDER BY o.client_id, o.n
"""


@dataclass
class DebtEntries:
    """What ``debt_entries`` read: each client's run of entries and the debt's sessions."""

    runs: dict[int, list[tuple[int, int | None, datetime]]]  # (amount, session id, created at)
    sessions: dict[int, DebtSession]  # the charged sessions of these clients, by id
    partners: dict[int, int]  # session id: a session of the client's at another stand at once


def debt_entries(client_ids: list[int]) -> DebtEntries:
    """Each client's entries since the balance was last non-negative, as (amount, session id,
    created at), oldest first, with the sessions they charged (``DEBT_ENTRIES_SQL``)."""
    runs: dict[int, list[tuple[int, int | None, datetime]]] = {cid: [] for cid in client_ids}
    found = DebtEntries(runs, {}, {})
    if not client_ids:
        return found
    database = LedgerEntry._meta.database
    ids = ", ".join([database.param] * len(client_ids))
    sql = DEBT_ENTRIES_SQL.format(ids=ids)
    when = LedgerEntry.created_at.python_value
    rows = database.execute_sql(sql, [*client_ids, *client_ids]).fetchall()
    charged = []
    for client_id, amount, session_id, created_at, *session in rows:
        runs[client_id].append((int(amount), session_id, when(created_at)))
        if session[0] is not None:
            charged.append(session)
    stand_ids, site_ids = {row[1] for row in charged}, {row[2] for row in charged}
    stands = dict(Stand.select(Stand.id, Stand.name).where(Stand.id.in_(stand_ids)).tuples())
    sites = dict(Site.select(Site.id, Site.name).where(Site.id.in_(site_ids)).tuples())
    for sid, stand_id, site_id, started, ended, cost, partner in charged:
        found.sessions[sid] = DebtSession(
            sid,
            stand_id,
            stands[stand_id],
            sites[site_id],
            when(started),
            when(ended),
            int(cost or 0),
        )
        if partner is not None:
            found.partners[sid] = partner
    return found


def debt_report(actor: User, limit: int = DEBTORS_LIMIT) -> DebtReport:
    """The clients who owe, the largest debts first, each with the sessions that made it."""
    debtors, owed = (
        _debtors(actor)
        .select(pw.fn.COUNT(Client.id), pw.fn.COALESCE(pw.fn.SUM(Client.balance_kopecks), 0))
        .tuples()[0]
    )
    clients = list(_debtors(actor).order_by(Client.balance_kopecks, Client.id).limit(limit))
    ids = [client.id for client in clients]
    read = debt_entries(ids)
    runs, sessions, partners = read.runs, read.sessions, read.partners
    # Each debt's sessions, newest charge first.
    charged = {
        cid: [sid for _a, sid, _c in reversed(run) if sid is not None] for cid, run in runs.items()
    }
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
