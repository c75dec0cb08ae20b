"""Online top-ups in the client API (on ``/api/client/v1/``, cloud/cabinet/clientapi.py): start
one (``POST /topups``: the app opens ``confirmation_url``; the provider sends the client back to
the cabinet's return page) and read one's state (``GET /topups/<id>``: asks the provider while
it is open, crediting once if it succeeded), and the limits and amounts offered."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any

from flask import current_app
from pydantic import BaseModel, Field

from cloud.cabinet.auth import current_client
from cloud.cabinet.clientapi import MALFORMED, TOO_LARGE, UNAUTHORIZED, bp, client_endpoint
from cloud.clock import app_now
from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.payments import service
from cloud.payments.cabinetpages import return_url
from cloud.payments.providers import PaymentsOff, ProviderRefused, ProviderUnavailable


class OnlineTopupIn(BaseModel):
    amount_kopecks: Annotated[int, Field(gt=0, le=MAX_AMOUNT_KOPECKS)]


class OnlineTopupOut(BaseModel):
    id: int
    status: str  # new, pending, waiting_for_capture, succeeded, canceled, failed
    amount_kopecks: int
    confirmation_url: str | None
    credited: bool
    created_at: datetime


class OnlineTopupLimitsOut(BaseModel):
    enabled: bool
    min_kopecks: int
    max_kopecks: int
    day_max_kopecks: int
    left_today_kopecks: int
    presets_kopecks: list[int]


def _out(payment: Any) -> dict[str, Any]:
    return {
        "id": payment.id,
        "status": payment.status,
        "amount_kopecks": payment.amount_kopecks,
        "confirmation_url": payment.confirmation_url or None,
        "credited": payment.credited_at is not None,
        "created_at": payment.created_at,
    }


@bp.get("/topups/limits")
@client_endpoint(
    "The online top-up's limits and the amounts offered",
    {401: UNAUTHORIZED},
    response=OnlineTopupLimitsOut,
)
def topup_limits() -> Any:
    config = current_app.config["AQ"]
    limits = service.Limits.from_config(config)
    spent = service.spent_today(current_client(), limits, app_now())
    return {
        "enabled": bool(config.payments_provider),
        **limits.to_dict(),
        "left_today_kopecks": max(limits.day_max_kopecks - spent, 0),
    }


@bp.post("/topups")
@client_endpoint(
    "Start an online top-up: open its confirmation_url to pay",
    {
        400: MALFORMED,
        401: UNAUTHORIZED,
        404: "online top-up is not set up",
        413: TOO_LARGE,
        422: "the amount is outside the limits (per payment or left today)",
        502: "the payment provider refused",
        503: "the payment provider did not answer; nothing was taken",
    },
    body=OnlineTopupIn,
    response=OnlineTopupOut,
    status=201,
)
def start_topup(body: OnlineTopupIn) -> Any:
    config = current_app.config["AQ"]
    payment = service.start_payment(
        service.make_provider(config),
        current_client(),
        body.amount_kopecks,
        service.Limits.from_config(config),
        return_url,
        app_now(),
    )
    return _out(payment)


@bp.get("/topups/<int:payment_id>")
@client_endpoint(
    "One of the client's online top-ups, as the provider says now",
    {401: UNAUTHORIZED, 404: "no such top-up of this client"},
    response=OnlineTopupOut,
)
def topup(payment_id: int) -> Any:
    payment = service.client_payment(current_client(), payment_id)
    # Unanswered, the state stored is the answer; reconciliation catches up.
    with contextlib.suppress(PaymentsOff, ProviderUnavailable, ProviderRefused):
        payment = service.sync_payment(
            service.make_provider(current_app.config["AQ"]), payment, app_now()
        )
    return _out(payment)
