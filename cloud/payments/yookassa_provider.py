"""YooKassa (API v3) through its official SDK, ``yookassa``: the SDK's client, request
validation and response models, ``Configuration`` pointed at the configured API address (the
real one, ``https://api.yookassa.ru/v3``, in production; the tests' emulator,
tests/emulators/yookassa.py, in tests and the demo).

Two things the SDK leaves out are added here: a timeout on every request (its session has
none, so a provider that accepts the connection and never answers would hold the request for
ever), and one exception per kind of failure (``ProviderUnavailable``, ``ProviderRefused``,
``PaymentNotFound``) instead of its mix of ``ApiError`` and ``requests`` errors."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests
from yookassa import Configuration
from yookassa.client import ApiClient
from yookassa.domain.common import HttpVerb
from yookassa.domain.exceptions import ApiError
from yookassa.domain.request import PaymentRequest, RefundRequest
from yookassa.domain.response import PaymentResponse, RefundResponse

from cloud.payments.providers import (
    PaymentNotFound,
    ProviderPayment,
    ProviderRefund,
    ProviderRefused,
    ProviderUnavailable,
)

TIMEOUT_S = 15
# The SDK keeps its settings on the ``Configuration`` class and copies them into each client it
# builds; the lock keeps one thread's settings from being swapped under another's client.
_CONFIGURE = threading.Lock()


class _TimedClient(ApiClient):
    """The SDK's client with a timeout on each request."""

    def get_session(self) -> requests.Session:
        session = super().get_session()
        send = session.request

        def request(method: str, url: str, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", TIMEOUT_S)
            return send(method, url, **kwargs)

        session.request = request  # type: ignore[method-assign, assignment]
        return session


def kopecks(amount: Any) -> int:
    """An SDK ``Amount`` (a ``Decimal`` of roubles) in kopecks."""
    return int(Decimal(str(amount.value)) * 100)


def roubles(amount_kopecks: int) -> str:
    return f"{amount_kopecks // 100}.{amount_kopecks % 100:02d}"


class YooKassaProvider:
    """``PaymentProvider`` for YooKassa: one shop, its secret key, the API address."""

    name = "yookassa"

    def __init__(self, shop_id: str, secret_key: str, api_url: str) -> None:
        if not shop_id or not secret_key:
            raise ValueError("yookassa_shop_id and yookassa_secret_key are required")
        self.shop_id = shop_id
        self._secret_key = secret_key
        self._api_url = api_url.rstrip("/")

    def _client(self) -> ApiClient:
        with _CONFIGURE:
            Configuration.configure(
                self.shop_id, self._secret_key, api_url=self._api_url, max_attempts=2
            )
            return _TimedClient()

    def _request(
        self, method: str, path: str, body: Any = None, idempotence_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": idempotence_key} if idempotence_key else None
        try:
            answer = self._client().request(method, path, None, headers, body)
        except ApiError as error:
            raise _translated(error) from error
        # The SDK reads ``error.response`` of any failure, None for a refused connection.
        except (requests.RequestException, AttributeError) as error:
            raise ProviderUnavailable(str(error)) from error
        if not isinstance(answer, Mapping):
            raise ProviderUnavailable("not a JSON object")
        return dict(answer)

    def create_payment(
        self,
        amount_kopecks: int,
        description: str,
        return_url: str,
        idempotence_key: str,
        metadata: dict[str, str],
    ) -> ProviderPayment:
        body = PaymentRequest(
            {
                "amount": {"value": roubles(amount_kopecks), "currency": "RUB"},
                "capture": True,
                "confirmation": {"type": "redirect", "return_url": return_url},
                "description": description[:128],
                "metadata": metadata,
            }
        )
        answer = self._request(HttpVerb.POST, "/payments", body, idempotence_key)
        return _payment(PaymentResponse(answer))

    def get_payment(self, payment_id: str) -> ProviderPayment:
        _check_id(payment_id)
        return _payment(PaymentResponse(self._request(HttpVerb.GET, f"/payments/{payment_id}")))

    def create_refund(
        self, payment_id: str, amount_kopecks: int, idempotence_key: str
    ) -> ProviderRefund:
        body = RefundRequest(
            {
                "payment_id": payment_id,
                "amount": {"value": roubles(amount_kopecks), "currency": "RUB"},
            }
        )
        answer = self._request(HttpVerb.POST, "/refunds", body, idempotence_key)
        return _refund(RefundResponse(answer))

    def get_refund(self, refund_id: str) -> ProviderRefund:
        _check_id(refund_id)
        return _refund(RefundResponse(self._request(HttpVerb.GET, f"/refunds/{refund_id}")))


def _check_id(value: str) -> None:
    """YooKassa's ids are uuid-like; anything else never reaches a URL path."""
    if not value or len(value) > 64 or not all(c.isalnum() or c == "-" for c in value):
        raise PaymentNotFound()


def _translated(error: ApiError) -> Exception:
    content = error.content or {}
    detail = str(content.get("description") or content.get("code") or "")
    code = getattr(error, "HTTP_CODE", 0)
    if code == 404:
        return PaymentNotFound()
    if code in (400, 401, 403, 410):
        return ProviderRefused(detail)
    return ProviderUnavailable(detail)


def _payment(answer: PaymentResponse) -> ProviderPayment:
    confirmation = answer.confirmation
    recipient = answer.recipient
    return ProviderPayment(
        id=str(answer.id),
        status=str(answer.status),
        amount_kopecks=kopecks(answer.amount),
        currency=str(answer.amount.currency),
        shop_id=str(getattr(recipient, "account_id", "") or ""),
        confirmation_url=str(getattr(confirmation, "confirmation_url", "") or ""),
        metadata={str(k): str(v) for k, v in dict(answer.metadata or {}).items()},
    )


def _refund(answer: RefundResponse) -> ProviderRefund:
    return ProviderRefund(
        id=str(answer.id),
        payment_id=str(answer.payment_id),
        status=str(answer.status),
        amount_kopecks=kopecks(answer.amount),
    )
