"""Bonus points: a second balance on the ledger, kept only here (stands spend within what their
directory shows and report it in ``session.ended``; ``sync.bonus`` splits a cost).

Entries (``cloud.models.POINTS_KINDS``) move ``LedgerEntry.amount_points``, never money:

- ``bonus_welcome``: once per client, when they become a member (page, API or stand), if the
  configuration gives a welcome bonus (``points_welcome``).
- ``bonus_accrual``: for a member, ``points_accrual_percent`` of each top-up or of the money
  charged for each session (``points_accrual_on``: "topup" or "charge"; the part a session
  paid with points earns nothing), ``floor(kopecks * percent / 100 / point value)`` points.
  Negative when a charge is given back (``take_back``: a force-close corrected by the stand's
  shorter end): what the given-back part earned, at most the points the member has.
- ``bonus_spend``: points a session paid with, dated at the session's start (see expiry).
- ``bonus_adjustment``: a manual accrual or deduction with a reason (``ADJUST_POINTS``).
- ``bonus_expiry``: points that lived ``points_expiry_days`` unspent (negative), or points
  given back when a late spend shows fewer had to expire (positive).

Expiry, first in first out. Every positive non-expiry entry is a lot, earned at its
``created_at``; it expires at ``earned + N days``. Every negative non-expiry entry is a use at
its ``created_at`` (a session's spend at the session's start: the points were committed then).
Uses consume the oldest lots first, so at a lot's expiry moment ``m`` the unspent points of the
lots due by ``m`` are ``old(m) - used(m)`` (lots earned by ``m - N``, uses dated by ``m``). The
total that must have expired by ``T`` is therefore

    expired(T) = max(0, max over lot moments m <= T of (old(m) - used(m)))

which depends only on the entries and ``T``, never on when the expiry ran. ``settle_expiry``
posts the difference between that and what the ``bonus_expiry`` entries already took. A spend
by a session that started before an expiry moment and ended (or arrived) after it counts at
its start: the points it used had not expired yet, so a run that expired them in between is
corrected by a positive ``bonus_expiry`` entry before the spend.

A short balance (two stands spent the same points offline): a session's spend is cut to the
largest amount the balance covers after expiry is settled; the points' kopecks it no longer
covers are charged in money (the event is flagged ``points_short``). Stands' events are applied
in arrival order, so the first one applied keeps its points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.config import CloudConfig
from cloud.db import db_proxy, lock_rows, utcnow
from cloud.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from cloud.ledger.service import audit_entry, post_entry
from cloud.models import POINTS_KINDS, POINTS_SPENDING, Client, LedgerEntry, User
from cloud.permissions import Capability, role_can
from sync.errors import RuleError
from sync.pricing import Discount

ACCRUAL_BASES = ("topup", "charge")
MAX_POINTS = 10_000_000
MAX_REASON = 300


@dataclass(frozen=True)
class PointsRules:
    """The configured bonus programme (cloud.config: the ``points_*`` settings)."""

    # The defaults are the configuration's (its one home); ``OFF`` below is these rules.
    value_kopecks: int = CloudConfig.points_value_kopecks
    welcome: int = CloudConfig.points_welcome
    accrual_percent: int = CloudConfig.points_accrual_percent
    accrual_on: str = CloudConfig.points_accrual_on
    expiry_days: int = CloudConfig.points_expiry_days

    @classmethod
    def from_config(cls, config: CloudConfig) -> PointsRules:
        rules = cls(
            value_kopecks=config.points_value_kopecks,
            welcome=config.points_welcome,
            accrual_percent=config.points_accrual_percent,
            accrual_on=config.points_accrual_on,
            expiry_days=config.points_expiry_days,
        )
        rules.validate()
        return rules

    def validate(self) -> None:
        """ValueError naming the bad setting (the service refuses to start with it)."""
        if self.value_kopecks < 1:
            raise ValueError("points_value_kopecks must be at least 1")
        if not 0 <= self.welcome <= MAX_POINTS:
            raise ValueError("points_welcome must be 0..10000000")
        if not 0 <= self.accrual_percent <= 100:
            raise ValueError("points_accrual_percent must be 0..100")
        if self.accrual_on not in ACCRUAL_BASES:
            raise ValueError("points_accrual_on must be topup or charge")
        if self.expiry_days < 0:
            raise ValueError("points_expiry_days must be 0 (never) or more")

    def accrual(self, kopecks: int) -> int:
        """Points earned for ``kopecks`` of top-up or charge (module rules)."""
        return max(0, kopecks) * self.accrual_percent // (100 * self.value_kopecks)


OFF = PointsRules()


# --- posting -----------------------------------------------------------------------------------


def welcome(
    client: Client, rules: PointsRules, *, at: datetime | None = None, event: Any = None
) -> LedgerEntry | None:
    """The welcome bonus of a new member, once per client."""
    if rules.welcome <= 0 or client.kind != "member":
        return None
    given = LedgerEntry.select().where(
        (LedgerEntry.client == client.id) & (LedgerEntry.kind == "bonus_welcome")
    )
    if given.exists():
        return None
    return post_entry(
        client, "bonus_welcome", 0, amount_points=rules.welcome, created_at=at, event=event
    )


def accrue(
    client_id: int, rules: PointsRules, kopecks: int, *, at: datetime, event_id: int | None
) -> None:
    """A member's accrual on ``kopecks`` of top-up or charge (nothing for a guest or 0)."""
    points = rules.accrual(kopecks)
    client = Client.get_by_id(client_id)
    if points and client.kind == "member":
        post_entry(client, "bonus_accrual", 0, amount_points=points, created_at=at, event=event_id)


def take_back(
    client_id: int,
    rules: PointsRules,
    *,
    charged: int,
    kept: int,
    at: datetime,
    event_id: int,
    session_id: int,
    reason: str,
) -> int:
    """Part of a charge of ``charged`` kopecks was given back and ``kept`` stays charged: take
    back what the accrual on ``charged`` earned beyond what ``kept`` earns (so the session's
    net accrual is the kept charge's), as a negative ``bonus_accrual`` at ``at``. Like a manual
    deduction it takes at most the points the member has once expiry is settled by ``at``:
    never below zero (points spent since stay spent). The points taken."""
    lock_rows(Client, [client_id])  # the points read here are the points taken from
    client = Client.get_by_id(client_id)
    wanted = rules.accrual(charged) - rules.accrual(kept)
    if wanted <= 0 or client.kind != "member":
        return 0
    settle_expiry(client, rules, at)
    client = Client.get_by_id(client_id)
    points = min(wanted, max(client.points_balance, 0))
    if points:
        post_entry(
            client,
            "bonus_accrual",
            0,
            amount_points=-points,
            created_at=at,
            event=event_id,
            session=session_id,
            reason=reason,
        )
    return points


# --- expiry ------------------------------------------------------------------------------------


@dataclass
class _Points:
    """A client's points entries, as expiry reads them."""

    lots: list[tuple[datetime, int]]  # positive non-expiry entries
    uses: list[tuple[datetime, int]]  # negative non-expiry entries, as positive numbers
    expired: int  # what bonus_expiry entries took so far (net)
    balance: int

    @classmethod
    def of(cls, client_id: int) -> _Points:
        rows = (
            LedgerEntry.select(LedgerEntry.kind, LedgerEntry.amount_points, LedgerEntry.created_at)
            .where((LedgerEntry.client == client_id) & LedgerEntry.kind.in_(POINTS_KINDS))
            .tuples()
        )
        points = cls([], [], 0, 0)
        for kind, amount, at in rows:
            points.balance += amount
            if kind == "bonus_expiry":
                points.expired -= amount
            elif amount > 0:
                points.lots.append((at, amount))
            elif amount < 0:
                points.uses.append((at, -amount))
        return points

    def due(self, days: int, now: datetime) -> int:
        """What must have expired by ``now`` (the module's ``expired(T)``)."""
        if days <= 0:
            return 0
        period = timedelta(days=days)
        uses = sorted(self.uses)
        old = used = best = 0
        index = 0
        for earned, amount in sorted(self.lots):
            moment = earned + period
            if moment > now:
                break
            old += amount
            while index < len(uses) and uses[index][0] <= moment:
                used += uses[index][1]
                index += 1
            best = max(best, old - used)
        return best


def _post_expiry(client: Client, delta: int, now: datetime, reason: str) -> None:
    if delta:
        post_entry(client, "bonus_expiry", 0, amount_points=delta, created_at=now, reason=reason)


def settle_expiry(client: Client, rules: PointsRules, now: datetime) -> int:
    """Post what expired (or must be given back) by ``now``; the points moved (negative:
    expired)."""
    points = _Points.of(client.id)
    delta = points.expired - points.due(rules.expiry_days, now)
    reason = _("Не использованы %(n)s дн.", n=rules.expiry_days) if delta < 0 else ""
    if delta > 0:
        reason = _("Возврат: баллы потрачены сеансом, начатым до сгорания")
    _post_expiry(client, delta, now, reason)
    return delta


def expire_all(rules: PointsRules, now: datetime) -> tuple[int, int]:
    """``settle_expiry`` for every client with points entries at ``now``: (clients changed,
    points expired)."""
    ids = (
        LedgerEntry.select(LedgerEntry.client)
        .where(LedgerEntry.kind.in_(POINTS_KINDS))
        .distinct()
        .tuples()
    )
    changed = total = 0
    for (client_id,) in sorted(ids):
        with db_proxy.atomic():
            lock_rows(Client, [client_id])  # a stand's spend of these points waits, or we do
            moved = settle_expiry(Client.get_by_id(client_id), rules, now)
        if moved:
            changed += 1
            total -= moved
    return changed, total


# --- spending by a session -----------------------------------------------------------------------


def _spendable(
    points: _Points, rules: PointsRules, wanted: int, at: datetime, now: datetime
) -> int:
    """The largest spend up to ``wanted`` at ``at`` the balance covers once expiry is settled
    with it (more spent earlier means less expires, so this is a search, not a subtraction)."""

    def covered(amount: int) -> bool:
        trial = _Points(points.lots, [*points.uses, (at, amount)], points.expired, 0)
        earned = sum(a for _at, a in points.lots)
        used = sum(a for _at, a in points.uses)
        return earned - used - trial.due(rules.expiry_days, now) - amount >= 0

    low, high = 0, wanted
    while low < high:
        middle = (low + high + 1) // 2
        if covered(middle):
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class SessionSpend:
    """What a session's points paid centrally: ``points`` worth ``kopecks`` (less than the stand
    reported when the balance was short)."""

    points: int
    kopecks: int

    def short_of(self, wanted: int) -> bool:
        return self.points < wanted


def spend_for_session(
    client_id: int,
    rules: PointsRules,
    *,
    wanted: int,
    wanted_kopecks: int,
    started_at: datetime,
    now: datetime,
    event_id: int,
    session_id: int,
    site_id: int | None,
) -> SessionSpend:
    """Apply a session's points spend (module: expiry, short balance); returns what it paid."""
    lock_rows(Client, [client_id])  # two stands' spends of one member: one after the other
    client = Client.get_by_id(client_id)
    points = _Points.of(client_id)
    spent = _spendable(points, rules, wanted, started_at, now)
    after = _Points(points.lots, [*points.uses, (started_at, spent)], points.expired, 0)
    delta = points.expired - after.due(rules.expiry_days, now)
    reason = _("Возврат: баллы потрачены сеансом, начатым до сгорания") if delta > 0 else ""
    if delta < 0:
        reason = _("Не использованы %(n)s дн.", n=rules.expiry_days)
    _post_expiry(client, delta, now, reason)
    if spent:
        post_entry(
            client,
            "bonus_spend",
            0,
            amount_points=-spent,
            created_at=started_at,
            event=event_id,
            session=session_id,
            site=site_id,
        )
    return SessionSpend(spent, wanted_kopecks * spent // wanted if wanted else 0)


# --- manual operations and the client's terms ----------------------------------------------------


def _check_live(client: Client) -> None:
    if client.deleted_at is not None:
        raise NotFound(_("Клиент не найден"))


def adjust_points(
    actor: User, client: Client, points: object, reason: str, rules: PointsRules, now: datetime
) -> LedgerEntry:
    """A manual accrual (positive) or deduction (negative) of points, with a reason, at
    ``now``; a deduction takes at most the points the client has (after expiry by ``now``)."""
    if not role_can(actor.role, Capability.ADJUST_POINTS):
        raise Forbidden(_("Начислять и списывать баллы вручную может администратор или владелец"))
    _check_live(client)
    points = check_points(points)
    reason = clean_reason(reason)
    with db_proxy.atomic():
        lock_rows(Client, [client.id])
        settle_expiry(client, rules, now)
        client = Client.get_by_id(client.id)
        if points < 0 and client.points_balance + points < 0:
            raise Conflict(
                _("У клиента только %(n)s баллов", n=client.points_balance), "not_enough_points"
            )
        entry = post_entry(
            client,
            "bonus_adjustment",
            0,
            amount_points=points,
            created_by=actor,
            reason=reason,
            created_at=now,
        )
        audit_entry("points.adjusted", actor, client, entry, reason)
        return entry


def check_points(points: object) -> int:
    """A manual operation's points: a whole number, not 0, at most ``MAX_POINTS`` either way."""
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise ValidationFailed(_("Укажите целое число баллов, не ноль"), "bad_points")
    if abs(points) > MAX_POINTS:
        raise ValidationFailed(_("Слишком много баллов за одну операцию"), "bad_points")
    return points


def clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed(_("Укажите причину"), "reason_required")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            _("Причина — не длиннее %(n)s символов", n=MAX_REASON), "reason_too_long"
        )
    return reason


def update_terms(client: Client, **fields: Any) -> Client:
    """Change the client's points spending order and personal discount (``EDIT_CLIENTS``):
    ``points_spending``, ``discount_percent``, ``discount_kopecks``; the stands learn them
    with the directory."""
    _check_live(client)
    spending = fields.get("points_spending", client.points_spending)
    if spending not in POINTS_SPENDING:
        raise ValidationFailed(_("Неизвестный порядок списания баллов"), "bad_points_spending")
    percent = fields.get("discount_percent", client.discount_percent)
    fixed = fields.get("discount_kopecks", client.discount_kopecks)
    check_discount(percent, fixed)
    terms = ("points_spending", "discount_percent", "discount_kopecks")
    before = audit.fields_of(client, *terms)
    client.points_spending, client.discount_percent, client.discount_kopecks = (
        spending,
        percent,
        fixed,
    )
    with db_proxy.atomic():
        client.updated_at = utcnow()
        client.save()
        audit.record(
            "client.terms",
            audit.client_target(client),
            *audit.changes(before, audit.fields_of(client, *terms)),
        )
    return client


def check_discount(percent: object, fixed: object) -> None:
    """A personal discount by the shared rule, refused in the language of the request."""
    try:
        Discount(percent, fixed).validate()  # type: ignore[arg-type]
    except RuleError as error:
        # Each value in range but both given (here or already stored): a rule between them.
        refused = Unprocessable if percent and fixed else ValidationFailed
        raise refused(_discount_message(error.message), "bad_discount") from None


def _discount_message(message: str) -> str:
    """The shared rule's Russian message through the translation catalogue."""
    return {
        "Скидка: нужно целое число": _("Скидка: нужно целое число"),
        "Скидка: процент — от 0 до 100": _("Скидка: процент — от 0 до 100"),
        "Скидка: сумма — от 0 до 100 000 ₽": _("Скидка: сумма — от 0 до 100 000 ₽"),
        "Скидка: либо процент, либо сумма, не обе сразу": _(
            "Скидка: либо процент, либо сумма, не обе сразу"
        ),
    }.get(message, message)
