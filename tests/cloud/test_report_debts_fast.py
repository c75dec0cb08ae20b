"""The debts report read in one statement stays exact: on random ledgers (top-ups and charges in
any order, entries at the same moment ordered by id, balances that touch zero, sessions
overlapping at two stands or at one, sessions still open, a charge for another client's
session), every debtor's balance, since, the debt's sessions (newest first, the first ten
shown), their count, the overlapping session of each (the lowest id) and the two-stands mark
equal the same worked out here from the rows made; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cloud.ledger.service import post_entry
from cloud.models import Client, Stand
from cloud.reports.debts import SESSIONS_SHOWN, debt_report
from tests.cloud.sessionrows import add_session

T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def expected_debts(entries, sessions):
    """{client: (balance, since, debt's charged session ids newest first)} of those who owe,
    and {session: its lowest-id overlapping session of the same client at another stand}."""
    found = {}
    for client_id in {entry[1] for entry in entries}:
        balance, run = 0, []
        for _id, cid, amount, session_id, when in sorted(entries, key=lambda e: (e[4], e[0])):
            if cid == client_id:
                balance += amount
                run = [] if balance >= 0 else [*run, (session_id, when)]
        if balance < 0:
            ids = [sid for sid, _when in run if sid is not None]
            found[client_id] = (balance, run[0][1], ids[::-1])
    partners = {}
    for sid, (client_id, stand_id, start, end) in sessions.items():
        for other in sorted(sessions):
            c2, stand2, start2, end2 = sessions[other]
            same_time = end is not None and start2 < end and (end2 is None or end2 > start)
            if c2 == client_id and stand2 != stand_id and same_time:
                partners.setdefault(sid, other)
    return found, partners


@pytest.mark.parametrize("seed", [1, 2])
def test_debts_read_at_once_equal_the_ledger_worked_out_here(world, seed):
    rng = random.Random(seed)
    version = world.tariff_version
    stands = [world.stand_a, world.stand_b, Stand.create(site=world.site_a, name="Пост 2")]
    clients = [world.member, world.guest, world.other_site_client]
    clients += [Client.create(kind="member", name=f"Клиент {n}") for n in range(5)]
    entries = []  # (entry id, client id, amount, session id, created at)
    sessions = {}  # id: (client id, stand id, started, ended or None)
    moment = T0
    for _ in range(160):
        client = rng.choice(clients)
        moment += timedelta(minutes=rng.choice([0, 0, 3, 20, 90]))  # ties now and then
        if rng.random() < 0.25:
            amount = rng.choice([500, 2000, 3000, 10_000])
            entry = post_entry(client, "topup", amount, method="cash", created_at=moment)
            entries.append((entry.id, client.id, amount, None, moment))
            continue
        stand = rng.choice(stands)
        start = moment - timedelta(minutes=rng.choice([5, 30, 200]))
        if rng.random() < 0.08:  # still open: never charged
            session = add_session(client, stand, version, started_at=start)
            sessions[session.id] = (client.id, stand.id, start, None)
            continue
        cost = rng.choice([500, 1000, 3000])
        session = add_session(
            client, stand, version, started_at=start, ended_at=moment, cost_kopecks=cost
        )
        sessions[session.id] = (client.id, stand.id, start, moment)
        payer = client if rng.random() < 0.95 else rng.choice(clients)  # now and then another's
        entry = post_entry(payer, "charge", -cost, session=session, created_at=moment)
        entries.append((entry.id, payer.id, -cost, session.id, moment))
    debts, partners = expected_debts(entries, sessions)
    assert len(debts) >= 3 and partners  # there is something to compare
    owner = world.users["owner"]
    for limit in (2, 100):
        report = debt_report(owner, limit)
        order = sorted(debts, key=lambda cid: (debts[cid][0], cid))
        assert report.debtors == len(debts)
        assert report.owed_kopecks == -sum(balance for balance, _s, _i in debts.values())
        assert [debt.client_id for debt in report.debts] == order[:limit]
        for debt in report.debts:
            balance, since, ids = debts[debt.client_id]
            assert (debt.balance_kopecks, debt.since, debt.sessions_count) == (
                balance,
                since,
                len(ids),
            )
            # shown: of the newest ten, the sessions of the debtors listed (as before)
            listed = set(order[:limit])
            shown = [sid for sid in ids[:SESSIONS_SHOWN] if sessions[sid][0] in listed]
            assert [s.session_id for s in debt.sessions] == shown
            for s in debt.sessions:
                _client, stand_id, start, end = sessions[s.session_id]
                assert (s.stand_id, s.started_at, s.ended_at) == (stand_id, start, end)
                assert s.stand_name == Stand.get_by_id(stand_id).name
                assert s.overlaps_with == partners.get(s.session_id)
            own = [sid for sid in ids if sessions[sid][0] in listed]
            assert debt.two_stands == any(sid in partners for sid in own)
