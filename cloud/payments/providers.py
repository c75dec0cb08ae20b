"""What an acquirer must do for an online top-up, as one small interface: create a payment
(with an idempotence key), tell a payment's state by its id, refund (part of) a payment and
tell a refund's state. YooKassa is the one backend today (cloud/payments/yookassa_provider.py);
another acquirer (T-Bank, CloudPayments) is another class with these four methods.

    provider = YooKassaProvider(shop_id, secret_key, api_url)
    payment = provider.create_payment(50_000, "Пополнение баланса", return_url, key)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flask_babel import gettext as _

from cloud.errors import DomainError


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider reports it. ``shop_id`` is the shop it was paid to (a payment
    of another shop is foreign and never credited); ``metadata`` what we sent at creation."""

    id: str
    status: str  # pending, waiting_for_capture, succeeded, canceled
    amount_kopecks: int
    currency: str
    shop_id: str
    confirmation_url: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    payment_id: str
    status: str  # pending, succeeded, canceled
    amount_kopecks: int


class ProviderUnavailable(DomainError):
    """The provider did not answer, or answered that it failed (5xx, 429): try again later;
    nothing was credited or refunded."""

    status = 503
    code = "provider_unavailable"

    def __init__(self, detail: str = "") -> None:
        super().__init__(_("Платёжный сервис не отвечает, попробуйте позже"))
        self.detail = detail


class ProviderRefused(DomainError):
    """The provider refused the request (4xx): its own words in ``detail``."""

    status = 502
    code = "provider_refused"

    def __init__(self, detail: str = "") -> None:
        super().__init__(_("Платёжный сервис отказал: %(detail)s", detail=detail or "—"))
        self.detail = detail


class PaymentNotFound(DomainError):
    """The provider knows no such payment or refund (for this shop)."""

    status = 404
    code = "provider_not_found"

    def __init__(self) -> None:
        super().__init__(_("Платёжный сервис не знает такого платежа"))


class PaymentProvider(Protocol):
    """An acquirer. Every method raises ``ProviderUnavailable``, ``ProviderRefused`` or
    ``PaymentNotFound`` instead of answering when it cannot."""

    name: str
    shop_id: str

    def create_payment(
        self,
        amount_kopecks: int,
        description: str,
        return_url: str,
        idempotence_key: str,
        metadata: dict[str, str],
    ) -> ProviderPayment: ...

    def get_payment(self, payment_id: str) -> ProviderPayment: ...

    def create_refund(
        self, payment_id: str, amount_kopecks: int, idempotence_key: str
    ) -> ProviderRefund: ...

    def get_refund(self, refund_id: str) -> ProviderRefund: ...


class PaymentsOff(DomainError):
    status = 404
    code = "payments_off"

    def __init__(self) -> None:
        super().__init__(_("Онлайн-пополнение не подключено"))
