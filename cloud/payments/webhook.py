"""The provider's notifications: ``POST /payments/yookassa/notify`` (no log-in and no CSRF
token: the provider calls it). The body only names a payment; its state is asked of the
provider (cloud/payments/service.py), so a forged or stale body credits nothing.

Answers: 200 when handled or the payment is not ours (the provider stops resending), 400 for
a body that is not a notification, 503 when the provider did not answer our question (the
provider resends later; reconciliation catches up meanwhile), 404 when payments are off."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.payments import service

bp = Blueprint("payments_webhook", __name__, url_prefix="/payments")


@bp.post("/yookassa/notify")
def yookassa_notify() -> Any:
    try:
        provider = service.make_provider(current_app.config["AQ"])
        if provider.name != "yookassa":
            return jsonify(error={"code": "payments_off", "message": "yookassa is off"}), 404
        outcome = service.handle_notification(provider, request.get_json(silent=True), app_now())
    except DomainError as error:
        return jsonify(error={"code": error.code, "message": error.message}), error.status
    return jsonify(status=outcome)
