"""The client's online top-up in the cabinet: ``/my/topup`` (amounts offered, the limits, a
custom amount; creates the payment and sends the client to the provider's page) and
``/my/topup/return/<id>``, where the provider sends them back: the page asks the provider
about the payment (crediting it once if it succeeded, cloud/payments/service.py) and says
where it stands. Only a logged-in client's own payments (``current_client()``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.cabinet.auth import client_required, current_client
from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.models import OnlinePayment
from cloud.payments import service
from cloud.payments.providers import PaymentsOff, ProviderUnavailable
from sync.errors import RuleError
from sync.money import parse_roubles

bp = Blueprint("payments_cabinet", __name__, url_prefix="/my")


def return_url(payment: OnlinePayment) -> str:
    """Where the provider sends the client back: the configured public address of this
    service (behind a proxy the request's own host may not be it), else the request's."""
    base = current_app.config["AQ"].payments_return_url_base or request.host_url
    return base.rstrip("/") + url_for("payments_cabinet.topup_return", payment_id=payment.id)


def _form(error: str = "", status: int = 200) -> Any:
    config = current_app.config["AQ"]
    limits = service.Limits.from_config(config)
    client = current_client()
    page = render_template(
        "cabinet/topup.html",
        tab="home",
        signed_in=True,
        enabled=bool(config.payments_provider),
        limits=limits,
        left_today=max(limits.day_max_kopecks - service.spent_today(client, limits, app_now()), 0),
        error=error,
        form=request.form,
    )
    return page, status


def _amount() -> int:
    preset = request.form.get("preset", "")
    if preset.isdigit():
        return int(preset)
    return parse_roubles(request.form.get("amount", ""))


@bp.get("/topup")
@client_required
def topup() -> Any:
    return _form()


@bp.post("/topup")
@client_required
def start_topup() -> Any:
    config = current_app.config["AQ"]
    try:
        provider = service.make_provider(config)
        payment = service.start_payment(
            provider,
            current_client(),
            _amount(),
            service.Limits.from_config(config),
            return_url,
            app_now(),
        )
    except PaymentsOff as error:
        return _form(error.message, 404)
    except (DomainError, RuleError) as error:
        return _form(error.message, getattr(error, "status", 400))
    return redirect(payment.confirmation_url, 303)


@bp.get("/topup/return/<int:payment_id>")
@client_required
def topup_return(payment_id: int) -> Any:
    payment = service.client_payment(current_client(), payment_id)
    error = ""
    try:
        payment = service.sync_payment(
            service.make_provider(current_app.config["AQ"]), payment, app_now()
        )
    except ProviderUnavailable:
        error = _("Платёжный сервис пока не ответил: мы проверим платёж и зачислим его сами")
    except PaymentsOff as off:
        error = off.message
    page = render_template(
        "cabinet/topup_return.html",
        tab="home",
        signed_in=True,
        payment=payment,
        client=current_client(),
        error=error,
    )
    return page
