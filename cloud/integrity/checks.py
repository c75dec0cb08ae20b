"""Integrity checks (business diagnostics): the stored data against the business rules.

One function per rule; each returns the violations it finds: what is wrong (``kind``), which
objects (``objects``: client, session, stand, tariff ids …) and a message in Russian. The
services keep these rules as they write; a violation means data written around them (a manual
fix in the database, an import, a bug) or a case the rules allow on purpose and a person must
look at (two stands starting one member's sessions while offline).

The checks read aggregates (GROUP BY, HAVING, a window over a stand's events) so the database
does the work in a pass over each table, whatever its size; only the rows of a violation come
back. Each check lists at most ``limit`` violations and says when there were more.

    for result in run_checks(now):
        print(result.title, "OK" if result.ok else len(result.violations))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.catalog.tariffs import validate_rates
from cloud.errors import DomainError
from cloud.integrity.receiptchecks import topup_receipts
from cloud.integrity.violations import CheckResult, Violation
from cloud.models import (
    Client,
    Credential,
    HeldTopup,
    LedgerEntry,
    Session,
    Site,
    Stand,
    StandEvent,
    Tariff,
    TariffVersion,
)
from cloud.shifts.service import stale_shifts
from sync.errors import RuleError
from sync.money import format_kopecks

LIMIT = 100  # violations listed per check
MAX_GAPS = 20  # missing ranges named per stand


def _int(value: Any) -> int:
    """An aggregate as int (PostgreSQL returns SUM of bigint as Decimal)."""
    return int(value or 0)


def _stand_label(stand_name: str, site_name: str) -> str:
    return _("«%(stand)s» (%(site)s)", stand=stand_name, site=site_name)


# --- the rules --------------------------------------------------------------------------------


def cached_balances(limit: int = LIMIT) -> list[Violation]:
    """Each client's cached balance equals the sum of their ledger entries."""
    sums = (
        LedgerEntry.select(
            LedgerEntry.client.alias("client_id"),
            pw.fn.SUM(LedgerEntry.amount_kopecks).alias("total"),
        )
        .group_by(LedgerEntry.client)
        .alias("sums")
    )
    total = pw.fn.COALESCE(sums.c.total, 0)
    query = (
        Client.select(Client.id, Client.balance_kopecks, total)
        .join(sums, pw.JOIN.LEFT_OUTER, on=(sums.c.client_id == Client.id))
        .where(Client.balance_kopecks != total)
        .order_by(Client.id)
        .limit(limit)
        .tuples()
    )
    return [
        Violation(
            "balance_mismatch",
            _(
                "Клиент №%(id)s: баланс %(cached)s, а сумма операций %(ledger)s",
                id=client_id,
                cached=format_kopecks(_int(cached)),
                ledger=format_kopecks(_int(ledger)),
            ),
            {"client": [client_id]},
        )
        for client_id, cached, ledger in query
    ]


def open_sessions(limit: int = LIMIT) -> list[Violation]:
    """No client has two open sessions (e.g. one member started at two stands while offline).

    A corporate account washes several cars at once, one per card or plate: for it the rule
    is no two open sessions started with the same credential.
    """
    same_car = pw.Case(None, [(Client.corporate, pw.fn.COALESCE(Session.credential_value, ""))], "")
    doubled = (
        Session.select(Session.client, same_car.alias("car"))
        .join(Client, on=(Session.client == Client.id))
        .where(Session.ended_at.is_null())
        .group_by(Session.client, same_car)
        .having(pw.fn.COUNT(Session.id) > 1)
        .order_by(Session.client)
        .limit(limit)
        .tuples()
    )
    pairs = set(doubled)
    query = (
        Session.select(Session.id, Session.client, same_car, Session.stand, Stand.name, Site.name)
        .join(Client, on=(Session.client == Client.id))
        .switch(Session)
        .join(Stand, on=(Session.stand == Stand.id))
        .join(Site, on=(Stand.site == Site.id))
        .where(Session.ended_at.is_null() & Session.client.in_([c for c, _car in pairs]))
        .order_by(Session.client, Session.started_at, Session.id)
        .tuples()
    )
    by_client: dict[int, list[tuple[int, int, str]]] = {}
    for session_id, client_id, car, stand_id, stand_name, site_name in query:
        if (client_id, car) in pairs:
            label = _stand_label(stand_name, site_name)
            by_client.setdefault(client_id, []).append((session_id, stand_id, label))
    return [
        Violation(
            "two_open_sessions",
            _(
                "Клиент №%(id)s: открыто сессий — %(n)s: %(list)s",
                id=client_id,
                n=len(rows),
                list=", ".join(
                    _("№%(session)s на посту %(stand)s", session=s, stand=label)
                    for s, _stand, label in rows
                ),
            ),
            {
                "client": [client_id],
                "session": [s for s, _stand, _label in rows],
                "stand": sorted({stand for _s, stand, _label in rows}),
            },
        )
        for client_id, rows in by_client.items()
    ]


def shared_credentials(limit: int = LIMIT) -> list[Violation]:
    """No active card UID, plate or QR token belongs to two clients."""
    active = Credential.unlinked_at.is_null()
    shared = (
        Credential.select(Credential.kind, Credential.value)
        .where(active)
        .group_by(Credential.kind, Credential.value)
        .having(pw.fn.COUNT(pw.fn.DISTINCT(Credential.client)) > 1)
        .order_by(Credential.kind, Credential.value)
        .limit(limit)
        .tuples()
    )
    pairs = list(shared)
    if not pairs:
        return []
    holders: dict[tuple[str, str], list[tuple[int, int]]] = {pair: [] for pair in pairs}
    query = (
        Credential.select(Credential.kind, Credential.value, Credential.id, Credential.client)
        .where(active & Credential.value.in_(sorted({value for _kind, value in pairs})))
        .order_by(Credential.client, Credential.id)
        .tuples()
    )
    for kind, value, credential_id, client_id in query:
        if (kind, value) in holders:
            holders[(kind, value)].append((credential_id, client_id))
    labels = {"card": _("Карта"), "plate": _("Номер"), "qr": _("QR-код")}
    return [
        Violation(
            "shared_credential",
            _(
                "%(what)s %(value)s — у нескольких клиентов: %(clients)s",
                what=labels.get(kind, kind),
                value=value,
                clients=", ".join(f"№{client}" for client in _distinct(c for _i, c in rows)),
            ),
            {
                "client": _distinct(c for _i, c in rows),
                "credential": [credential for credential, _c in rows],
            },
        )
        for (kind, value), rows in holders.items()
    ]


def _distinct(values: Any) -> list[int]:
    return list(dict.fromkeys(values))


def session_charges(limit: int = LIMIT) -> list[Violation]:
    """Every ended session has a cost and exactly one charge entry of that cost (a free session
    none, as cloud/standsync/ingest/ posts none); an open session has no charge yet. A session
    a stand ended for a client deleted before is recorded and not charged (ingest leaves a
    deleted client's money as it is): listed as such, the wash that was not paid for. A session
    force-closed centrally may have a second charge entry, the correction its stand's later
    report made (cloud/standsync/ingest/appliers/late_end.py): its charges still sum to its cost."""
    charge = (LedgerEntry.session == Session.id) & (LedgerEntry.kind == "charge")
    count = pw.fn.COUNT(LedgerEntry.id)
    charged = pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0)
    cost = Session.cost_kopecks
    ended = Session.ended_at.is_null(False)
    corrected = Session.force_closed & (count == 2)
    once = ((count == 1) | corrected) & (charged + cost == 0)  # charges are negative entries
    wrong = (
        (ended & cost.is_null())
        | (ended & (cost > 0) & ~once)
        | (ended & (cost == 0) & (count > 0) & ~once)
        | (Session.ended_at.is_null() & (count > 0))
    )
    deleted = Client.deleted_at
    query = (
        Session.select(Session.id, Session.client, Session.ended_at, cost, count, charged, deleted)
        .join(Client, on=(Session.client == Client.id))
        .switch(Session)
        .join(LedgerEntry, pw.JOIN.LEFT_OUTER, on=charge)
        .group_by(Session.id, Session.client, Session.ended_at, cost, deleted, Session.force_closed)
        .having(wrong)
        .order_by(Session.id)
        .limit(limit)
        .tuples()
    )
    return [
        _deleted_not_charged(session_id, client_id, cost_value)
        if deleted_at is not None and ended_at is not None and cost_value and n == 0
        else _charge_violation(
            session_id, client_id, ended_at is not None, cost_value, n, _int(total)
        )
        for session_id, client_id, ended_at, cost_value, n, total, deleted_at in query
    ]


def _deleted_not_charged(session_id: int, client_id: int, cost: int) -> Violation:
    return Violation(
        "deleted_client_not_charged",
        _(
            "Сессия №%(id)s стоит %(cost)s, но не списана: клиент №%(client)s удалён до её конца",
            id=session_id,
            cost=format_kopecks(cost),
            client=client_id,
        ),
        {"session": [session_id], "client": [client_id]},
    )


def _charge_violation(
    session_id: int, client_id: int, is_ended: bool, cost: int | None, count: int, total: int
) -> Violation:
    objects = {"session": [session_id], "client": [client_id]}
    if is_ended and cost is None:
        return Violation(
            "session_not_priced",
            _("Сессия №%(id)s завершена, но её стоимость не записана", id=session_id),
            objects,
        )
    if not is_ended:
        return Violation(
            "open_session_charged",
            _(
                "Сессия №%(id)s ещё идёт, но за неё уже списано %(sum)s",
                id=session_id,
                sum=format_kopecks(-total),
            ),
            objects,
        )
    return Violation(
        "session_charge_mismatch",
        _(
            "Сессия №%(id)s стоит %(cost)s, а списаний за неё %(n)s на %(sum)s",
            id=session_id,
            cost=format_kopecks(cost or 0),
            n=count,
            sum=format_kopecks(-total),
        ),
        objects,
    )


def event_sequences(limit: int = LIMIT) -> list[Violation]:
    """Each stand's events are numbered 1..max without a hole. Seqs are unique per stand, so
    a stand is whole when its lowest seq is 1 and its highest equals its count."""
    low, high, count = (
        pw.fn.MIN(StandEvent.seq),
        pw.fn.MAX(StandEvent.seq),
        pw.fn.COUNT(StandEvent.seq),
    )
    # Grouped by stand alone, the (stand, seq) index answers it without reading the events.
    query = (
        StandEvent.select(StandEvent.stand, high, count)
        .group_by(StandEvent.stand)
        .having((low != 1) | (high != count))
        .order_by(StandEvent.stand)
        .limit(limit)
        .tuples()
    )
    found = list(query)
    names = _stand_names([stand_id for stand_id, _top, _n in found])
    violations = []
    for stand_id, top, n in found:
        gaps = _gaps(stand_id)
        shown = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in gaps[:MAX_GAPS])
        more = "…" if len(gaps) > MAX_GAPS else ""
        violations.append(
            Violation(
                "event_gap",
                _(
                    "Пост %(stand)s: событий %(n)s при последнем номере %(top)s; "
                    "нет номеров %(gaps)s%(more)s",
                    stand=names.get(stand_id, f"№{stand_id}"),
                    n=n,
                    top=top,
                    gaps=shown,
                    more=more,
                ),
                {"stand": [stand_id]},
            )
        )
    return violations


def _stand_names(stand_ids: list[int]) -> dict[int, str]:
    if not stand_ids:
        return {}
    query = (
        Stand.select(Stand.id, Stand.name, Site.name)
        .join(Site, on=(Stand.site == Site.id))
        .where(Stand.id.in_(stand_ids))
        .tuples()
    )
    return {stand_id: _stand_label(stand, site) for stand_id, stand, site in query}


def _gaps(stand_id: int) -> list[tuple[int, int]]:
    """The missing seq ranges of a stand, found with a window over its events (one pass)."""
    previous = pw.fn.COALESCE(pw.fn.LAG(StandEvent.seq).over(order_by=[StandEvent.seq]), 0)
    steps = (
        StandEvent.select(StandEvent.seq.alias("seq"), previous.alias("prev"))
        .where(StandEvent.stand == stand_id)
        .alias("steps")
    )
    query = (
        pw.Select(from_list=[steps], columns=[steps.c.prev, steps.c.seq])
        .where(steps.c.seq - steps.c.prev > 1)
        .order_by(steps.c.seq)
        .limit(MAX_GAPS + 1)
        .bind(StandEvent._meta.database)
        .tuples()
    )
    return [(_int(prev) + 1, _int(seq) - 1) for prev, seq in query]


def tariffs(limit: int, now: datetime) -> list[Violation]:
    """Each tariff version's numbers are within the rules of cloud/catalog/tariffs.py (checked by the
    same function that checks a new version), and each active tariff has a version in force
    at ``now``.
    Tariff tables are small: the versions are read and checked one by one."""
    violations = []
    versions = TariffVersion.select(TariffVersion, Tariff).join(Tariff).order_by(TariffVersion.id)
    for version in versions:
        try:
            validate_rates(version.rates())
        except (RuleError, DomainError) as error:
            violations.append(
                Violation(
                    "bad_tariff_version",
                    _(
                        "Тариф «%(name)s», версия №%(id)s: %(error)s",
                        name=version.tariff.name,
                        id=version.id,
                        error=error.message,
                    ),
                    {"tariff": [version.tariff_id], "tariff_version": [version.id]},
                )
            )
    in_force = TariffVersion.select(TariffVersion.id).where(
        (TariffVersion.tariff == Tariff.id) & (TariffVersion.effective_from <= now)
    )
    for tariff in (
        Tariff.select().where(Tariff.active & ~pw.fn.EXISTS(in_force)).order_by(Tariff.id)
    ):
        violations.append(
            Violation(
                "tariff_without_version",
                _(
                    "Тариф «%(name)s» включён, но ни одна его версия ещё не действует",
                    name=tariff.name,
                ),
                {"tariff": [tariff.id]},
            )
        )
    return violations[:limit]


def held_topups(limit: int = LIMIT) -> list[Violation]:
    """No stand's top-up waits for review: one held over a ceiling (cloud/standsync/ingest/
    held.py) is released or rejected on the held top-ups page."""
    query = (
        HeldTopup.select(
            HeldTopup.id, HeldTopup.client, HeldTopup.stand, HeldTopup.amount_kopecks, Stand.name
        )
        .join(Stand, on=(HeldTopup.stand == Stand.id))
        .where(HeldTopup.status == "held")
        .order_by(HeldTopup.id)
        .limit(limit)
        .tuples()
    )
    return [
        Violation(
            "held_topup",
            _(
                "Пополнение №%(id)s на %(sum)s клиенту №%(client)s с поста «%(stand)s» "
                "задержано для проверки",
                id=held_id,
                sum=format_kopecks(amount),
                client=client_id,
                stand=stand_name,
            ),
            {"held_topup": [held_id], "client": [client_id], "stand": [stand_id]},
        )
        for held_id, client_id, stand_id, amount, stand_name in query
    ]


# --- running them -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    code: str
    title: Any  # a lazy string: translated when shown
    run: Callable[[int, datetime], list[Violation]]  # (limit, now)


def _timeless(
    check: Callable[[int], list[Violation]],
) -> Callable[[int, datetime], list[Violation]]:
    """A check whose answer does not depend on the time."""
    return lambda limit, _now: check(limit)


CHECKS: tuple[Check, ...] = (
    Check("balances", _l("Балансы равны сумме операций"), _timeless(cached_balances)),
    Check(
        "open_sessions", _l("У клиента не больше одной открытой сессии"), _timeless(open_sessions)
    ),
    Check(
        "credentials",
        _l("Карта, номер или QR-код — у одного клиента"),
        _timeless(shared_credentials),
    ),
    Check(
        "charges",
        _l("Каждая завершённая сессия оценена и списана один раз"),
        _timeless(session_charges),
    ),
    Check(
        "event_sequences",
        _l("События каждого поста идут без пропусков"),
        _timeless(event_sequences),
    ),
    Check("tariffs", _l("Тарифы корректны и действуют"), tariffs),
    Check(
        "held_topups",
        _l("Пополнения с постов, задержанные для проверки, рассмотрены"),
        _timeless(held_topups),
    ),
    Check(
        "receipts",
        _l("У каждого денежного пополнения ровно один чек"),
        _timeless(topup_receipts),
    ),
    Check(
        "stale_shifts",
        _l("Нет смен, открытых больше суток"),
        lambda limit, now: [Violation("stale_shift", *found) for found in stale_shifts(limit, now)],
    ),
)


def run_checks(now: datetime, limit: int = LIMIT) -> list[CheckResult]:
    """Every check at ``now``, in order. A check with more than ``limit`` violations lists
    ``limit``."""
    results = []
    for check in CHECKS:
        found = check.run(limit + 1, now)
        results.append(CheckResult(check.code, str(check.title), found[:limit], len(found) > limit))
    return results
