"""Staff pages of online top-ups: a client's online payments with their refunds, and the
owner's refund form (whole or part; "confirm a debt" to let it take the balance below zero).

Seeing them needs VIEW_CLIENTS (in the staff member's scope); refunding, ADJUST_BALANCE (the
owner)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.clients import scope as client_scope
from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.models import Client
from cloud.payments import refunds
from cloud.payments.providers import ProviderUnavailable
from cloud.payments.service import make_provider
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.money import parse_roubles

bp = Blueprint("payments", __name__, url_prefix="/clients")


def _client(client_id: int) -> Client:
    return client_scope.get_client(acting_user(), client_id)


def status_labels() -> dict[str, str]:
    return {
        "new": _("Создаётся"),
        "pending": _("Ожидает оплаты"),
        "waiting_for_capture": _("Ожидает подтверждения"),
        "succeeded": _("Оплачен"),
        "canceled": _("Отменён"),
        "failed": _("Не создан"),
    }


def _page(client: Client, error: str = "", status: int = 200, form: Any = None) -> Any:
    payments = refunds.client_payments(client)
    page = render_template(
        "payments/client.html",
        client=client,
        payments=payments,
        refunds=refunds.refunds_of(payments),
        refundable=refunds.refundable,
        statuses=status_labels(),
        error=error,
        form=form or {},
    )
    return page, status


@bp.get("/<int:client_id>/online-payments")
@requires(Capability.VIEW_CLIENTS)
def index(client_id: int) -> Any:
    return _page(_client(client_id))


@bp.post("/<int:client_id>/online-payments/<int:payment_id>/refund")
@requires(Capability.ADJUST_BALANCE)
def refund(client_id: int, payment_id: int) -> Any:
    client = _client(client_id)
    try:
        payment = refunds.payment_for_staff(client, payment_id)
        amount = parse_roubles(request.form.get("amount", ""))
        provider = make_provider(current_app.config["AQ"])
        refunds.refund_payment(
            provider,
            acting_user(),
            payment,
            amount,
            request.form.get("confirm_debt") == "1",
            request.form.get("reason", ""),
            app_now(),
        )
    except ProviderUnavailable as error:
        message = error.message + ". " + _("Возврат будет отправлен повторно автоматически")
        return _page(client, message, error.status, request.form)
    except (DomainError, RuleError) as error:
        status = error.status if isinstance(error, DomainError) else 400
        return _page(client, error.message, status, request.form)
    flash(_("Возврат отправлен"), "success")
    return redirect(url_for("payments.index", client_id=client.id))
