"""The owner's refund of an online top-up, whole or part, through the provider's refund API.

The ledger gets a ``refund`` entry (money out, method ``online``) once, when the provider says
the refund succeeded. A refund may not take the balance below zero — below what sessions
already used of the money — unless the owner confirms that the client will owe it
(``confirm_debt``). The amount is reserved on the payment (``refunded_kopecks``) before the
provider is asked, so two refunds at once never return more than was paid."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.db import db_proxy
from cloud.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from cloud.ledger.service import MAX_REASON, check_topup, post_entry
from cloud.models import ONLINE_METHOD, Client, OnlinePayment, OnlineRefund, User
from cloud.payments.providers import (
    PaymentNotFound,
    PaymentProvider,
    ProviderRefund,
    ProviderRefused,
    ProviderUnavailable,
)
from cloud.permissions import Capability, role_can
from sync.money import format_kopecks

log = logging.getLogger(__name__)


def refundable(payment: OnlinePayment) -> int:
    """What is left to refund of a credited payment (0 when it was never credited)."""
    if payment.credited_at is None:
        return 0
    return int(payment.amount_kopecks - payment.refunded_kopecks)


def _reserve(payment: OnlinePayment, amount: int, client: Client, confirm_debt: bool) -> None:
    """Check the refund against the payment and the balance, and reserve it on the payment,
    with a conditional UPDATE (another refund at once cannot pass the same check)."""
    if amount > refundable(payment):
        message = _("Вернуть можно не больше %(left)s", left=format_kopecks(refundable(payment)))
        raise Unprocessable(message, "refund_too_large")
    balance = int(Client.get_by_id(client.id).balance_kopecks)
    if balance - amount < 0 and not confirm_debt:
        message = _(
            "Возврат уведёт баланс в минус (%(after)s): клиент уже потратил эти деньги на мойку. "
            "Отметьте «Подтверждаю долг», если он должен их вернуть",
            after=format_kopecks(balance - amount),
        )
        raise Unprocessable(message, "refund_below_used")
    reserved = (
        OnlinePayment.update(refunded_kopecks=OnlinePayment.refunded_kopecks + amount)
        .where(
            (OnlinePayment.id == payment.id)
            & (OnlinePayment.refunded_kopecks + amount <= OnlinePayment.amount_kopecks)
        )
        .execute()
    )
    if reserved != 1:
        raise Unprocessable(_("Этот платёж уже возвращён"), "refund_too_large")


def refund_payment(
    provider: PaymentProvider,
    actor: User,
    payment: OnlinePayment,
    amount_kopecks: object,
    confirm_debt: bool,
    reason: str,
    now: datetime,
) -> OnlineRefund:
    """Refund ``amount_kopecks`` of a credited online payment through the provider."""
    if not role_can(actor.role, Capability.ADJUST_BALANCE):
        raise Forbidden(_("Возвращать платежи может только владелец"))
    if payment.credited_at is None or payment.provider_payment_id is None:
        raise Unprocessable(_("Платёж не зачислен: возвращать нечего"), "not_credited")
    amount = check_topup(amount_kopecks)
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            _("Причина — не длиннее %(n)s символов", n=MAX_REASON), "reason_too_long"
        )
    client = Client.get_by_id(payment.client_id)
    before = {"refunded_kopecks": payment.refunded_kopecks}
    with db_proxy.atomic():
        _reserve(payment, amount, client, confirm_debt)
        refund = OnlineRefund.create(
            payment=payment,
            idempotence_key=str(uuid.uuid4()),
            amount_kopecks=amount,
            debt_confirmed=confirm_debt,
            reason=reason,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        after = {
            "refunded_kopecks": before["refunded_kopecks"] + amount,
            "payment": payment.provider_payment_id,
            "debt_confirmed": confirm_debt,
        }
        audit.record("ledger.refund", audit.client_target(client), before, after, actor=actor)
    return send_refund(provider, refund, now)


def send_refund(provider: PaymentProvider, refund: OnlineRefund, now: datetime) -> OnlineRefund:
    """Ask the provider to make the refund (again: the same idempotence key makes a repeat
    the same refund) and follow its answer. Refused: the refund is ``failed`` and its amount
    freed. Not answered: it stays ``new`` for reconciliation, and ProviderUnavailable is raised."""
    payment = OnlinePayment.get_by_id(refund.payment_id)
    assert payment.provider_payment_id is not None
    try:
        remote = provider.create_refund(
            payment.provider_payment_id, refund.amount_kopecks, refund.idempotence_key
        )
    except (ProviderRefused, PaymentNotFound) as error:
        _fail(refund, getattr(error, "detail", "") or error.message, now)
        raise
    return follow_refund(refund, remote, now)


def _fail(refund: OnlineRefund, detail: str, now: datetime) -> None:
    with db_proxy.atomic():
        failed = (
            OnlineRefund.update(status="failed", error=detail[:300], updated_at=now)
            .where((OnlineRefund.id == refund.id) & OnlineRefund.status.in_(("new", "pending")))
            .execute()
        )
        if failed == 1:
            OnlinePayment.update(
                refunded_kopecks=OnlinePayment.refunded_kopecks - refund.amount_kopecks
            ).where(OnlinePayment.id == refund.payment_id).execute()


def follow_refund(refund: OnlineRefund, remote: ProviderRefund, now: datetime) -> OnlineRefund:
    """Record the provider's answer about a refund; a succeeded one posts its ledger entry
    exactly once (the same conditional UPDATE as crediting a payment)."""
    if remote.status == "canceled":
        _fail(refund, "canceled by the provider", now)
    elif remote.status == "pending":
        OnlineRefund.update(provider_refund_id=remote.id, status="pending", updated_at=now).where(
            (OnlineRefund.id == refund.id) & OnlineRefund.status.in_(("new", "pending"))
        ).execute()
    elif remote.status == "succeeded":
        _post(refund, remote, now)
    return OnlineRefund.get_by_id(refund.id)


def _post(refund: OnlineRefund, remote: ProviderRefund, now: datetime) -> None:
    with db_proxy.atomic():
        won = (
            OnlineRefund.update(provider_refund_id=remote.id, status="succeeded", updated_at=now)
            .where((OnlineRefund.id == refund.id) & OnlineRefund.status.in_(("new", "pending")))
            .execute()
        )
        if won != 1:
            return
        payment = OnlinePayment.get_by_id(refund.payment_id)
        entry = post_entry(
            Client.get_by_id(payment.client_id),
            "refund",
            -refund.amount_kopecks,
            method=ONLINE_METHOD,
            created_by=refund.created_by_id and User.get_by_id(refund.created_by_id),
            reason=refund.reason or f"{payment.provider} {payment.provider_payment_id}",
            created_at=now,
        )
        OnlineRefund.update(entry=entry).where(OnlineRefund.id == refund.id).execute()


def reconcile_refunds(provider: PaymentProvider, now: datetime) -> int:
    """Resend the refunds the provider did not answer and ask about the pending ones; the
    number still unanswered."""
    unanswered = 0
    waiting = OnlineRefund.select().where(OnlineRefund.status.in_(("new", "pending")))
    for refund in waiting.order_by(OnlineRefund.id):
        try:
            if refund.provider_refund_id is None:
                send_refund(provider, refund, now)
            else:
                follow_refund(refund, provider.get_refund(refund.provider_refund_id), now)
        except (ProviderUnavailable, ProviderRefused, PaymentNotFound) as error:
            log.warning("refund %s: %s", refund.id, error.message)
            unanswered += 1
    return unanswered


def payment_for_staff(client: Client, payment_id: int) -> OnlinePayment:
    payment = OnlinePayment.get_or_none(
        (OnlinePayment.id == payment_id) & (OnlinePayment.client == client.id)
    )
    if payment is None:
        raise NotFound(_("Платёж не найден"))
    return payment


def client_payments(client: Client) -> list[OnlinePayment]:
    """The client's online payments, newest first."""
    query = OnlinePayment.select().where(OnlinePayment.client == client.id)
    return list(query.order_by(OnlinePayment.created_at.desc(), OnlinePayment.id.desc()))


def refunds_of(payments: list[OnlinePayment]) -> dict[int, list[OnlineRefund]]:
    found: dict[int, list[OnlineRefund]] = {p.id: [] for p in payments}
    if payments:
        query = OnlineRefund.select().where(OnlineRefund.payment.in_(list(found)))
        for refund in query.order_by(OnlineRefund.id):
            found[refund.payment_id].append(refund)
    return found
