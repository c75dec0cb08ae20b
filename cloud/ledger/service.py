"""The ledger: every movement of a client's money or bonus points is an entry, and a balance
is their sum (money: ``amount_kopecks``; points: ``amount_points``, cloud/loyalty/bonus.py).

``post_entry`` (and ``post_entries``, the same for many entries at once) is the one place a
balance changes. It inserts the entry and moves the cached ``Client.balance_kopecks`` with an
SQL expression (``balance + amount``) in the same transaction, so two writers at once never
overwrite each other's sums and the cache always equals ``ledger_balance``. A money movement
that owes a fiscal receipt queues it there too (cloud/fiscal/outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.clock import iso_utc
from cloud.db import db_proxy, insert_rows, is_postgresql, utcnow
from cloud.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.fiscal import outbox as receipts
from cloud.models import (
    LEDGER_KINDS,
    MONEY_KINDS,
    PAYMENT_METHODS,
    POINTS_KINDS,
    Client,
    LedgerEntry,
    Session,
    Site,
    StandEvent,
    User,
)
from cloud.permissions import Capability, role_can, site_scope
from sync.money import format_kopecks

MAX_REASON = 300
_CHUNK = 100  # clients per balance update (bound parameters stay well under the limits)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_movement(kind: str, amount_kopecks: object, amount_points: object = 0) -> None:
    if kind not in LEDGER_KINDS:
        raise ValidationFailed(_("Неизвестный вид операции"), "bad_ledger_kind")
    if not _is_int(amount_kopecks) or not _is_int(amount_points):
        raise ValidationFailed(_("Сумма должна быть целым числом копеек"), "bad_amount")
    if (kind in POINTS_KINDS and amount_kopecks) or (kind in MONEY_KINDS and amount_points):
        raise ValueError(f"a {kind} entry moves only {'points' if amount_points else 'money'}")


def _move_balances(deltas: dict[int, int], field: pw.Field = Client.balance_kopecks) -> None:
    """Move the cached balances (``field``: money or points) of these clients by these sums
    with an SQL expression (``balance + delta``): on PostgreSQL one statement for them all, else
    one for up to ``_CHUNK`` clients.
    Call it inside the transaction that inserts the entries."""
    ids = sorted(client_id for client_id, delta in deltas.items() if delta)
    if len(ids) > 1 and is_postgresql():  # the sums as two array parameters: one statement
        column = field.column_name
        db_proxy.execute_sql(
            f'UPDATE "client" AS c SET "{column}" = c."{column}" + v.delta '  # noqa: S608
            'FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE c."id" = v.id',
            [ids, [deltas[client_id] for client_id in ids]],
        )
        return
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if len(chunk) == 1:
            delta: Any = deltas[chunk[0]]
        else:
            delta = pw.Case(Client.id, [(client_id, deltas[client_id]) for client_id in chunk], 0)
        Client.update({field: field + delta}).where(Client.id.in_(chunk)).execute()


def post_entry(
    client: Client,
    kind: str,
    amount_kopecks: int,
    *,
    method: str | None = None,
    session: Session | None = None,
    site: Site | None = None,
    created_by: User | None = None,
    reason: str = "",
    event: StandEvent | None = None,
    created_at: datetime | None = None,
    amount_points: int = 0,
) -> LedgerEntry:
    """Record one movement of money (or of points: ``amount_points`` with a points kind and
    ``amount_kopecks`` 0) and move the client's cached balance by it, atomically.
    ``client.balance_kopecks`` and ``points_balance`` are refreshed from the database
    afterwards. ``event`` is the stand event that caused it (one entry of a kind per event)
    and ``created_at`` when it happened there (default: now)."""
    _check_movement(kind, amount_kopecks, amount_points)
    with db_proxy.atomic():
        entry = LedgerEntry.create(
            client=client,
            kind=kind,
            amount_kopecks=amount_kopecks,
            method=method,
            session=session,
            site=site,
            created_by=created_by,
            reason=reason,
            event=event,
            created_at=created_at or utcnow(),
            amount_points=amount_points,
        )
        _move_balances({client.id: amount_kopecks})
        _move_balances({client.id: amount_points}, Client.points_balance)
        # Refresh the caller's object without marking the field changed (Client.save refuses
        # to write a balance).
        money, points = (
            Client.select(Client.balance_kopecks, Client.points_balance)
            .where(Client.id == client.id)
            .tuples()
            .get()
        )
        client.__data__["balance_kopecks"] = money
        client.__data__["points_balance"] = points
        receipts.queue_for_entry(entry)  # the receipt it owes (54-FZ), in its transaction
    return entry


@dataclass(frozen=True)
class Posting:
    """One movement of money for ``post_entries``: the arguments of ``post_entry`` by id."""

    client_id: int
    kind: str
    amount_kopecks: int
    method: str | None = None
    session_id: int | None = None
    site_id: int | None = None
    created_by_id: int | None = None
    reason: str = ""
    event_id: int | None = None
    created_at: datetime | None = None
    amount_points: int = 0


def post_entries(postings: Sequence[Posting]) -> None:
    """``post_entry`` for many movements at once (a stand's batch of events): the entries
    inserted in order and each client's balance moved once by their sum, all in the caller's
    transaction or, outside one, in a transaction of its own."""
    for posting in postings:
        _check_movement(posting.kind, posting.amount_kopecks, posting.amount_points)
    if not postings:
        return
    now = utcnow()
    deltas: dict[int, int] = {}
    points: dict[int, int] = {}
    for posting in postings:
        deltas[posting.client_id] = deltas.get(posting.client_id, 0) + posting.amount_kopecks
        points[posting.client_id] = points.get(posting.client_id, 0) + posting.amount_points
    rows = [
        {
            "client": p.client_id,
            "kind": p.kind,
            "amount_kopecks": p.amount_kopecks,
            "method": p.method,
            "session": p.session_id,
            "site": p.site_id,
            "created_by": p.created_by_id,
            "reason": p.reason,
            "event": p.event_id,
            "created_at": p.created_at or now,
            "amount_points": p.amount_points,
        }
        for p in postings
    ]
    # No savepoint inside the caller's transaction: it saves two round trips a batch, and the
    # only refusals (bad kind or amount) come before any write.
    with nullcontext() if db_proxy.in_transaction() else db_proxy.atomic():
        insert_rows(LedgerEntry, rows)
        _move_balances(deltas)
        _move_balances(points, Client.points_balance)
        receipts.queue_for_rows(rows)


def _check_amount(amount_kopecks: object) -> int:
    if not isinstance(amount_kopecks, int) or isinstance(amount_kopecks, bool):
        raise ValidationFailed(_("Сумма должна быть целым числом копеек"), "bad_amount")
    if abs(amount_kopecks) > MAX_AMOUNT_KOPECKS:
        raise ValidationFailed(
            _("Слишком большая сумма: не больше %(max)s", max=format_kopecks(MAX_AMOUNT_KOPECKS)),
            "bad_amount",
        )
    return amount_kopecks


def _check_live(client: Client) -> None:
    if client.deleted_at is not None:
        raise NotFound(_("Клиент не найден"))


@dataclass(frozen=True)
class LargeTopups:
    """Top-ups above ``above_kopecks`` (0: none) are taken only with ``confirmed`` ticked: a
    1 000 000 ₽ typo went through once (issue 20)."""

    above_kopecks: int = 0
    confirmed: bool = False


def record_topup(
    actor: User | None,
    client: Client,
    amount_kopecks: int,
    method: str,
    site: Site | None = None,
    large: LargeTopups = LargeTopups(),
) -> LedgerEntry:
    """A top-up taken by ``actor`` (cash, card or transfer) for ``site`` (whose cash it is).
    Blocked clients may top up too: they usually owe money."""
    _check_live(client)
    amount = check_topup(amount_kopecks)
    if method not in PAYMENT_METHODS:
        raise ValidationFailed(
            _("Выберите способ оплаты: наличные, карта или перевод"), "bad_method"
        )
    if large.above_kopecks and amount > large.above_kopecks and not large.confirmed:
        raise Unprocessable(
            _(
                "Сумма больше %(limit)s: проверьте её и подтвердите отметкой",
                limit=format_kopecks(large.above_kopecks),
            ),
            "confirm_large_topup",
        )
    with db_proxy.atomic():
        entry = post_entry(client, "topup", amount, method=method, site=site, created_by=actor)
        audit_entry("ledger.topup", actor, client, entry)
    return entry


def topup_site(actor: User, client: Client, site_id: int | None) -> Site:
    """The site a central top-up is taken for: the one chosen, or the client's home site; an
    attendant only for their own sites (another site is not found, as its clients are not)."""
    if site_id is None and client.home_site_id is None:
        raise Unprocessable(_("Выберите площадку, для которой принято пополнение"), "site_required")
    chosen = site_id if site_id is not None else client.home_site_id
    site = Site.get_or_none(Site.id == chosen)
    scope = site_scope(actor)
    if site is None or (scope is not None and site.id not in scope):
        raise NotFound(_("Площадка не найдена"), "site_not_found")
    return site


def adjust_balance(actor: User, client: Client, amount_kopecks: int, reason: str) -> LedgerEntry:
    """An owner's correction of a balance, up or down, with the reason written down."""
    if not role_can(actor.role, Capability.ADJUST_BALANCE):
        raise Forbidden(_("Корректировать баланс может только владелец"))
    _check_live(client)
    amount = check_adjustment(amount_kopecks)
    reason = clean_adjustment_reason(reason)
    with db_proxy.atomic():
        entry = post_entry(client, "adjustment", amount, created_by=actor, reason=reason)
        audit_entry("ledger.adjustment", actor, client, entry, reason)
    return entry


def audit_entry(
    action: str, actor: User | None, client: Client, entry: LedgerEntry, comment: str = ""
) -> None:
    """The audit log's row of a ledger entry a staff member made (``post_entry`` has just
    refreshed the client's balances): the balance before and after, and the entry."""
    money, points = client.balance_kopecks, client.points_balance
    audit.record(
        action,
        audit.client_target(client),
        {"balance_kopecks": money - entry.amount_kopecks, "points": points - entry.amount_points},
        {
            "balance_kopecks": money,
            "points": points,
            "entry_id": entry.id,
            "kind": entry.kind,
            "amount_kopecks": entry.amount_kopecks,
            "amount_points": entry.amount_points,
            "method": entry.method,
        },
        comment=comment,
        actor=actor,
    )


def check_topup(amount_kopecks: object) -> int:
    amount = _check_amount(amount_kopecks)
    if amount <= 0:
        raise ValidationFailed(_("Сумма пополнения должна быть больше нуля"), "bad_amount")
    return amount


def check_adjustment(amount_kopecks: object) -> int:
    amount = _check_amount(amount_kopecks)
    if amount == 0:
        raise ValidationFailed(_("Сумма корректировки не может быть нулевой"), "bad_amount")
    return amount


def clean_adjustment_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Укажите причину корректировки"), "reason_required")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            _("Причина — не длиннее %(n)s символов", n=MAX_REASON), "reason_too_long"
        )
    return reason


def ledger_balance(client: Client) -> int:
    """The balance as the sum of the client's entries (the cache must equal it)."""
    total = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.amount_kopecks), 0))
        .where(LedgerEntry.client == client.id)
        .scalar()
    )
    return int(total)


def _newest_first(client: Client) -> pw.ModelSelect:
    """The client's money entries with the staff member who made each (read in the same
    query); points entries are the bonus history's (cloud/loyalty/bonus.py)."""
    return (
        LedgerEntry.select(LedgerEntry, User)
        .join(User, pw.JOIN.LEFT_OUTER, on=(LedgerEntry.created_by == User.id))
        .where((LedgerEntry.client == client.id) & LedgerEntry.kind.in_(MONEY_KINDS))
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    )


def topups(client: Client) -> list[LedgerEntry]:
    """The client's top-ups, newest first."""
    return list(_newest_first(client).where(LedgerEntry.kind == "topup"))


def entries(client: Client, limit: int = 50, offset: int = 0) -> list[LedgerEntry]:
    """A page of the client's entries of every kind, newest first."""
    return list(_newest_first(client).limit(limit).offset(offset))


def entry_count(client: Client) -> int:
    money = (LedgerEntry.client == client.id) & LedgerEntry.kind.in_(MONEY_KINDS)
    return int(LedgerEntry.select().where(money).count())


def entry_to_dict(entry: LedgerEntry) -> dict[str, Any]:
    """The API form of an entry."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "amount_kopecks": entry.amount_kopecks,
        "method": entry.method,
        "reason": entry.reason,
        "session_id": entry.session_id,
        "site_id": entry.site_id,
        "created_by_id": entry.created_by_id,
        "created_at": iso_utc(entry.created_at),
    }
