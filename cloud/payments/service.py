"""Online top-ups: a payment is created at the provider with an idempotence key, the client
pays on the provider's page and comes back, and the balance is credited **exactly once** when
the payment has succeeded, by whichever comes first of the provider's notification, the
client's return and the periodic reconciliation (``reconcile``), however often each comes.

Two rules make it so:
1. The provider's word is asked for, never read from a request: a notification only names a
   payment (``payment_id_of``); ``sync_payment`` asks the provider for its state by id, and a
   payment that is not ours (unknown id, another shop, another amount) changes nothing.
2. ``credit`` flips ``credited_at`` from NULL with one conditional UPDATE and posts the ledger
   entry in the same transaction: of any number of callers at once (threads, workers, hosts on
   one PostgreSQL, SQLite's one writer) exactly one changes the row and posts; the others see
   0 rows changed and post nothing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw
from flask_babel import gettext as _

from cloud.config import CloudConfig
from cloud.db import db_proxy, lock_rows
from cloud.errors import NotFound, Unprocessable, ValidationFailed
from cloud.ledger.service import check_topup, post_entry
from cloud.models import ONLINE_METHOD, OPEN_PAYMENT_STATUSES, Client, OnlinePayment
from cloud.payments.providers import (
    PaymentNotFound,
    PaymentProvider,
    PaymentsOff,
    ProviderPayment,
    ProviderRefused,
    ProviderUnavailable,
)
from cloud.payments.yookassa_provider import YooKassaProvider
from sync.money import format_kopecks

log = logging.getLogger(__name__)

# A payment the provider never got (it was down at creation) is given up after this long.
NEW_GIVEN_UP_AFTER = timedelta(hours=1)


def make_provider(config: CloudConfig) -> PaymentProvider:
    """The provider the configuration names; ``PaymentsOff`` when none is."""
    if config.payments_provider == "yookassa":
        return YooKassaProvider(
            config.yookassa_shop_id, config.yookassa_secret_key, config.yookassa_api_url
        )
    if config.payments_provider:
        raise ValueError(f"unknown payments_provider: {config.payments_provider!r}")
    raise PaymentsOff()


@dataclass(frozen=True)
class Limits:
    """How much one online payment and one client's online payments of a local day may be,
    and the amounts the cabinet offers (all kopecks)."""

    min_kopecks: int
    max_kopecks: int
    day_max_kopecks: int
    presets: tuple[int, ...]
    timezone: str = "Europe/Moscow"

    @classmethod
    def from_config(cls, config: CloudConfig) -> Limits:
        presets = tuple(
            int(part) for part in config.online_topup_presets.split(",") if part.strip()
        )
        return cls(
            config.online_topup_min_kopecks,
            config.online_topup_max_kopecks,
            config.online_topup_day_max_kopecks,
            tuple(
                p
                for p in presets
                if config.online_topup_min_kopecks <= p <= config.online_topup_max_kopecks
            ),
            config.timezone,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_kopecks": self.min_kopecks,
            "max_kopecks": self.max_kopecks,
            "day_max_kopecks": self.day_max_kopecks,
            "presets_kopecks": list(self.presets),
        }


def spent_today(client: Client, limits: Limits, now: datetime) -> int:
    """The sum of the client's online payments begun this local day that may still be paid or
    were paid (not failed or canceled)."""
    zone = ZoneInfo(limits.timezone)
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)
    total = (
        OnlinePayment.select(pw.fn.COALESCE(pw.fn.SUM(OnlinePayment.amount_kopecks), 0))
        .where(
            (OnlinePayment.client == client.id)
            & (OnlinePayment.created_at >= start)
            & OnlinePayment.status.not_in(("failed", "canceled"))
        )
        .scalar()
    )
    return int(total)


def check_limits(client: Client, amount_kopecks: object, limits: Limits, now: datetime) -> int:
    """The amount, if an online top-up of it is allowed now; else ValidationFailed saying why."""
    amount = check_topup(amount_kopecks)
    if amount < limits.min_kopecks:
        message = _(
            "Минимальная сумма пополнения — %(min)s", min=format_kopecks(limits.min_kopecks)
        )
        raise Unprocessable(message, "below_min")
    if amount > limits.max_kopecks:
        message = _(
            "Максимальная сумма пополнения — %(max)s", max=format_kopecks(limits.max_kopecks)
        )
        raise Unprocessable(message, "above_max")
    left = limits.day_max_kopecks - spent_today(client, limits, now)
    if amount > left:
        message = _(
            "Лимит онлайн-пополнений за день — %(max)s; сегодня можно ещё %(left)s",
            max=format_kopecks(limits.day_max_kopecks),
            left=format_kopecks(max(left, 0)),
        )
        raise Unprocessable(message, "day_limit")
    return amount


def start_payment(
    provider: PaymentProvider,
    client: Client,
    amount_kopecks: object,
    limits: Limits,
    return_url_of: Any,
    now: datetime,
) -> OnlinePayment:
    """Create an online top-up of ``client`` and the provider's payment for it; the client is
    then sent to ``confirmation_url``. ``return_url_of(payment)`` is where the provider sends
    them back. The provider down or refusing: the payment is ``failed`` and the error raised."""
    if client.deleted_at is not None:
        raise NotFound(_("Клиент не найден"))
    with db_proxy.atomic():
        # Two payments started at once are checked against the day limit one after the other.
        lock_rows(Client, [client.id])
        amount = check_limits(client, amount_kopecks, limits, now)
        payment = OnlinePayment.create(
            client=client,
            provider=provider.name,
            idempotence_key=str(uuid.uuid4()),
            amount_kopecks=amount,
            created_at=now,
            updated_at=now,
        )
    try:
        remote = provider.create_payment(
            amount,
            _("Пополнение баланса, клиент №%(id)s", id=client.id),
            return_url_of(payment),
            payment.idempotence_key,
            {"aquastand_payment_id": str(payment.id)},
        )
    except (ProviderUnavailable, ProviderRefused) as error:
        payment.status, payment.error, payment.updated_at = "failed", error.detail[:300], now
        payment.save()
        raise
    payment.provider_payment_id = remote.id
    payment.status = remote.status if remote.status in OPEN_PAYMENT_STATUSES else "pending"
    payment.confirmation_url = remote.confirmation_url
    payment.updated_at = now
    payment.save()
    return payment


def payment_id_of(body: object) -> str:
    """The provider's payment id a notification names: all that is read from its body."""
    obj = body.get("object") if isinstance(body, dict) else None
    payment_id = obj.get("id") if isinstance(obj, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("type") != "notification"
        or not isinstance(payment_id, str)
    ):
        raise ValidationFailed(_("Это не уведомление о платеже"), "bad_notification")
    return payment_id


def _is_ours(payment: OnlinePayment, remote: ProviderPayment, provider: PaymentProvider) -> bool:
    return (
        remote.id == payment.provider_payment_id
        and remote.shop_id == provider.shop_id
        and remote.metadata.get("aquastand_payment_id") == str(payment.id)
        and remote.amount_kopecks == payment.amount_kopecks
        and remote.currency == "RUB"
    )


def sync_payment(provider: PaymentProvider, payment: OnlinePayment, now: datetime) -> OnlinePayment:
    """Ask the provider for the payment's state and follow it: credit a succeeded payment
    (once), record pending or canceled. A provider that does not answer raises
    ``ProviderUnavailable`` and nothing changes."""
    if payment.provider_payment_id is None or payment.credited_at is not None:
        return payment
    try:
        remote = provider.get_payment(payment.provider_payment_id)
    except PaymentNotFound:
        log.warning("payment %s: the provider knows no %s", payment.id, payment.provider_payment_id)
        return payment
    if not _is_ours(payment, remote, provider):
        log.warning("payment %s: the provider's %s does not match it", payment.id, remote.id)
        _record(payment, status=None, error="the provider's payment does not match", now=now)
    elif remote.status == "succeeded":
        credit(payment, now)
    elif remote.status in ("pending", "waiting_for_capture", "canceled"):
        _record(payment, status=remote.status, error="", now=now)
    return OnlinePayment.get_by_id(payment.id)


def _record(payment: OnlinePayment, status: str | None, error: str, now: datetime) -> None:
    """A status other than succeeded, unless the payment was credited meanwhile."""
    changes: dict[Any, Any] = {OnlinePayment.error: error, OnlinePayment.updated_at: now}
    if status is not None:
        changes[OnlinePayment.status] = status
    query = OnlinePayment.update(changes)
    query.where((OnlinePayment.id == payment.id) & OnlinePayment.credited_at.is_null()).execute()


def credit(payment: OnlinePayment, now: datetime) -> bool:
    """Credit the succeeded payment to its client's balance unless it was already: True if
    this call did. The conditional UPDATE that only one caller wins and the ledger entry are
    one transaction."""
    with db_proxy.atomic():
        won = (
            OnlinePayment.update(status="succeeded", credited_at=now, updated_at=now, error="")
            .where((OnlinePayment.id == payment.id) & OnlinePayment.credited_at.is_null())
            .execute()
        )
        if won != 1:
            return False
        client = Client.get_by_id(payment.client_id)
        entry = post_entry(
            client,
            "topup",
            payment.amount_kopecks,
            method=ONLINE_METHOD,
            reason=f"{payment.provider} {payment.provider_payment_id}",
            created_at=now,
        )
        OnlinePayment.update(entry=entry).where(OnlinePayment.id == payment.id).execute()
    return True


def handle_notification(provider: PaymentProvider, body: object, now: datetime) -> str:
    """A notification from the provider: "unknown" for a payment that is not ours (nothing
    changes), else the payment's status after asking the provider."""
    provider_payment_id = payment_id_of(body)
    payment = OnlinePayment.get_or_none(
        (OnlinePayment.provider_payment_id == provider_payment_id)
        & (OnlinePayment.provider == provider.name)
    )
    if payment is None:
        log.warning("notification for an unknown payment %s", provider_payment_id[:64])
        return "unknown"
    return str(sync_payment(provider, payment, now).status)


@dataclass
class Reconciliation:
    asked: int = 0
    credited: int = 0
    unanswered: int = 0
    given_up: int = 0


def reconcile(provider: PaymentProvider, now: datetime) -> Reconciliation:
    """Ask the provider about every payment that may still be paid and follow its answers
    (safe to run at any time, any number of times, beside the notifications)."""
    report = Reconciliation()
    report.given_up = (
        OnlinePayment.update(status="failed", updated_at=now, error="never reached the provider")
        .where(
            (OnlinePayment.status == "new")
            & OnlinePayment.provider_payment_id.is_null()
            & (OnlinePayment.created_at < now - NEW_GIVEN_UP_AFTER)
        )
        .execute()
    )
    open_payments = OnlinePayment.select().where(
        OnlinePayment.status.in_(OPEN_PAYMENT_STATUSES)
        & OnlinePayment.provider_payment_id.is_null(False)
        & OnlinePayment.credited_at.is_null()
        & (OnlinePayment.provider == provider.name)
    )
    for payment in open_payments.order_by(OnlinePayment.id):
        report.asked += 1
        try:
            after = sync_payment(provider, payment, now)
        except (ProviderUnavailable, ProviderRefused) as error:
            log.warning("payment %s: %s", payment.id, error.detail)
            report.unanswered += 1
            continue
        report.credited += after.credited_at is not None
    return report


def client_payment(client: Client, payment_id: int) -> OnlinePayment:
    """One of this client's payments; another's is a 404 like a missing one."""
    payment = OnlinePayment.get_or_none(
        (OnlinePayment.id == payment_id) & (OnlinePayment.client == client.id)
    )
    if payment is None:
        raise NotFound(_("Платёж не найден"))
    return payment
