"""A YooKassa API v3 emulator, written from YooKassa's published API description
(https://yookassa.ru/developers/api): the real SDK (``yookassa``) talks to it over HTTP.

What it serves, as YooKassa does:
- ``POST /v3/payments`` (HTTP Basic auth: shop id and secret key; an ``Idempotence-Key``
  header is required, and the same key answers the first result again); a payment starts
  ``pending`` with a ``redirect`` confirmation whose ``confirmation_url`` is this emulator's
  ``/pay/<id>`` page;
- ``GET /v3/payments/<id>`` (404 ``not_found`` for an unknown payment or another shop's);
- ``POST /v3/refunds`` (whole or part of a ``succeeded`` payment, never more than is left) and
  ``GET /v3/refunds/<id>``;
- error answers as the API's: ``{"type": "error", "id", "code", "description", "parameter"}``
  with 400 ``invalid_request``, 401 ``invalid_credentials``, 404 ``not_found``, 500;
- notifications ``{"type": "notification", "event": "payment.succeeded", "object": {...}}``
  POSTed to ``notify_url`` when a payment changes (the demo), or built by ``notification()``
  for a test to deliver as it likes: twice, out of order, for an unknown payment, forged.

What the tests drive besides: ``pay(id)`` (the Pay button of ``/pay/<id>``, ``succeeded``, or
``waiting_for_capture`` for a two-stage payment), ``cancel(id)``, ``down = True`` (every API
call answers 500, as during an outage) and ``stop()`` (nothing listens: connection refused).

    python -m tests.emulators.yookassa --port 8765 --notify-url http://127.0.0.1:8000/payments/yookassa/notify
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from flask import Flask, Response, redirect, request
from markupsafe import escape
from werkzeug.serving import make_server

DEMO_SHOPS = {"100500": "test_demo_secret", "200700": "test_other_secret"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str, description: str, parameter: str = "") -> Response:
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), mimetype="application/json")


def _kopecks(raw: Any) -> int | None:
    """An ``amount`` object's ``value`` ("100.00") in kopecks, or None when it is not one."""
    if not isinstance(raw, dict) or raw.get("currency") != "RUB":
        return None
    try:
        value = Decimal(str(raw.get("value")))
    except InvalidOperation:
        return None
    if value <= 0 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


def _amount(kopecks: int) -> dict[str, str]:
    return {"value": f"{kopecks // 100}.{kopecks % 100:02d}", "currency": "RUB"}


class YooKassaEmulator:
    """The emulator's state and its Flask app; ``start()`` serves it on 127.0.0.1."""

    def __init__(self, shops: dict[str, str] | None = None, notify_url: str = "") -> None:
        self.shops = dict(shops or DEMO_SHOPS)
        self.notify_url = notify_url
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.keys: dict[tuple[str, str, str], Response] = {}  # (shop, path, key) -> answer
        self.down = False
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self.lock = threading.Lock()
        self.app = self._make_app()
        self._server: Any = None
        self.port = 0

    # --- serving -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> YooKassaEmulator:
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    # --- what the tests and the Pay button do -------------------------------------------------

    def pay(self, payment_id: str) -> dict[str, Any]:
        """The payer confirms: ``succeeded`` (``waiting_for_capture`` when not captured)."""
        with self.lock:
            payment = self.payments[payment_id]
            if payment["status"] == "pending":
                payment["status"] = "succeeded" if payment["_capture"] else "waiting_for_capture"
                payment["paid"] = True
                payment["refundable"] = payment["status"] == "succeeded"
                if payment["status"] == "succeeded":
                    payment["captured_at"] = _now()
            return self.public(payment)

    def cancel(self, payment_id: str) -> dict[str, Any]:
        with self.lock:
            payment = self.payments[payment_id]
            if payment["status"] in ("pending", "waiting_for_capture"):
                payment["status"] = "canceled"
                payment["cancellation_details"] = {
                    "party": "yoo_money",
                    "reason": "expired_on_confirmation",
                }
            return self.public(payment)

    def notification(self, payment_id: str, event: str | None = None) -> dict[str, Any]:
        """The body YooKassa POSTs about this payment now (``event`` from its status unless
        given: a test may send a stale or forged one)."""
        with self.lock:
            payment = self.public(self.payments[payment_id])
        return {
            "type": "notification",
            "event": event or f"payment.{payment['status']}",
            "object": payment,
        }

    def send_notification(self, payment_id: str) -> None:
        """POST the notification to ``notify_url`` (the demo); a refused delivery is the
        service's to recover (reconciliation), as with YooKassa's own retries running out."""
        if not self.notify_url:
            return
        try:
            requests.post(self.notify_url, json=self.notification(payment_id), timeout=10)
        except requests.RequestException as error:
            print(f"notification for {payment_id} not delivered: {error}")

    @staticmethod
    def public(record: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}

    # --- the API ------------------------------------------------------------------------------

    def _shop(self) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            shop, _sep, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return shop if self.shops.get(shop) == secret and secret else None

    def _make_app(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def gate() -> Response | None:
            if not request.path.startswith("/v3/"):
                return None
            self.requests.append((request.method, request.path))
            if self.down:
                return _error(500, "internal_server_error", "Internal server error")
            if self._shop() is None:
                return _error(401, "invalid_credentials", "Authentication error")
            return None

        app.add_url_rule("/v3/payments", view_func=self._create_payment, methods=["POST"])
        app.add_url_rule("/v3/payments/<payment_id>", view_func=self._get_payment)
        app.add_url_rule("/v3/refunds", view_func=self._create_refund, methods=["POST"])
        app.add_url_rule("/v3/refunds/<refund_id>", view_func=self._get_refund)
        app.add_url_rule("/pay/<payment_id>", view_func=self._pay_page, methods=["GET", "POST"])
        return app

    def _idempotent(self, make: Any) -> Response:
        key = request.headers.get("Idempotence-Key", "")
        if not key or len(key) > 64:
            return _error(
                400, "invalid_request", "Idempotence key is missing or too long", "Idempotence-Key"
            )
        shop = self._shop() or ""
        with self.lock:
            known = self.keys.get((shop, request.path, key))
            if known is not None:
                return known
            answer = make(shop, request.get_json(silent=True))
            if answer.status_code == 200:
                self.keys[(shop, request.path, key)] = answer
            return answer

    def _create_payment(self) -> Response:
        return self._idempotent(self._new_payment)

    def _new_payment(self, shop: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "Request body is not JSON")
        amount = _kopecks(body.get("amount"))
        if amount is None:
            return _error(400, "invalid_request", "Invalid amount", "amount")
        confirmation = body.get("confirmation") or {}
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            return _error(400, "invalid_request", "Missing return_url", "confirmation.return_url")
        payment_id = f"{uuid.uuid4().hex[:8]}-000f-5000-8000-{uuid.uuid4().hex[:12]}"
        record = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": _amount(amount),
            "confirmation": {
                "type": "redirect",
                "confirmation_url": f"{request.host_url}pay/{payment_id}",
                "return_url": confirmation["return_url"],
            },
            "created_at": _now(),
            "description": str(body.get("description") or ""),
            "metadata": body.get("metadata") or {},
            "recipient": {"account_id": shop, "gateway_id": "100700"},
            "refundable": False,
            "refunded_amount": _amount(0),
            "test": True,
            "_capture": bool(body.get("capture")),
            "_refunded": 0,
        }
        self.payments[payment_id] = record
        return _json(self.public(record))

    def _get_payment(self, payment_id: str) -> Response:
        with self.lock:
            record = self.payments.get(payment_id)
            if record is None or record["recipient"]["account_id"] != self._shop():
                return _error(404, "not_found", "Payment not found", "payment_id")
            return _json(self.public(record))

    def _create_refund(self) -> Response:
        return self._idempotent(self._new_refund)

    def _new_refund(self, shop: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "Request body is not JSON")
        payment = self.payments.get(str(body.get("payment_id")))
        if payment is None or payment["recipient"]["account_id"] != shop:
            return _error(404, "not_found", "Payment not found", "payment_id")
        amount = _kopecks(body.get("amount"))
        if amount is None:
            return _error(400, "invalid_request", "Invalid amount", "amount")
        if payment["status"] != "succeeded":
            return _error(400, "invalid_request", "Payment is not succeeded", "payment_id")
        left = _kopecks(payment["amount"]) - payment["_refunded"]  # type: ignore[operator]
        if amount > left:
            return _error(
                400, "invalid_request", "Refund amount exceeds the payment's balance", "amount"
            )
        payment["_refunded"] += amount
        payment["refunded_amount"] = _amount(payment["_refunded"])
        payment["refundable"] = payment["_refunded"] < _kopecks(payment["amount"])  # type: ignore[operator]
        refund_id = f"{uuid.uuid4().hex[:8]}-0015-5000-9000-{uuid.uuid4().hex[:12]}"
        record = {
            "id": refund_id,
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": _now(),
            "amount": _amount(amount),
            "_shop": shop,
        }
        self.refunds[refund_id] = record
        return _json(self.public(record))

    def _get_refund(self, refund_id: str) -> Response:
        with self.lock:
            record = self.refunds.get(refund_id)
            if record is None or record["_shop"] != self._shop():
                return _error(404, "not_found", "Refund not found", "refund_id")
            return _json(self.public(record))

    # --- the payer's page ---------------------------------------------------------------------

    def _pay_page(self, payment_id: str) -> Any:
        record = self.payments.get(payment_id)
        if record is None:
            return Response("Unknown payment", status=404)
        if request.method == "POST":
            if request.form.get("action") == "cancel":
                self.cancel(payment_id)
            else:
                self.pay(payment_id)
            self.send_notification(payment_id)
            return redirect(record["confirmation"]["return_url"])
        amount = record["amount"]["value"]
        return Response(
            "<!doctype html><meta charset=utf-8><title>YooKassa emulator</title>"
            f"<h1>Оплата {escape(amount)} ₽</h1><p>{escape(record['description'])}</p>"
            f"<p>Статус: <b id=status>{escape(record['status'])}</b></p>"
            "<form method=post><button name=action value=pay id=pay>Оплатить</button> "
            "<button name=action value=cancel id=cancel>Отменить</button></form>",
            mimetype="text/html",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--notify-url", default="", help="where notifications are POSTed")
    args = parser.parse_args()
    emulator = YooKassaEmulator(notify_url=args.notify_url).start(args.port)
    shops = ", ".join(f"{shop}:{secret}" for shop, secret in emulator.shops.items())
    print(f"YooKassa emulator at {emulator.api_url} (shops {shops})", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
