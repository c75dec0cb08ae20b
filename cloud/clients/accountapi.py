"""Corporate accounts over the JSON API: the account (drivers, cards with their daily limits
and today's spend, sessions per card and plate), drivers, card limits, and the monthly
statement. The rules are ``cloud.clients.corporate`` and ``cloud.clients.statements``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field

from cloud.api import api_endpoint, bp
from cloud.clients import corporate
from cloud.clients import scope as client_scope
from cloud.clients import service as clientbook
from cloud.clients.apimodels import CredentialOut
from cloud.clients.statements import monthly_statement, parse_month, statement_to_dict
from cloud.clock import app_now
from cloud.fields import Kopecks, RowId, line, said_by
from cloud.permissions import Capability
from cloud.web import acting_user

DriverName = Annotated[line(corporate.MAX_DRIVER_NAME), said_by(corporate.clean_driver_name, str)]
Limit = Annotated[Kopecks, said_by(corporate.check_limit, int)]


class DriverOut(BaseModel):
    id: int
    name: str
    card_id: int | None
    card: str | None = Field(description="the UID of the card the driver is tied to")
    created_at: str


class DriverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DriverName
    card_id: RowId | None = Field(default=None, description="one of the client's cards")


class CardLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_limit_kopecks: Limit | None = Field(
        description="kopecks per local day, 1 to 100 000 000; null removes the limit"
    )


class AccountCardOut(BaseModel):
    id: int
    uid: str
    lost: bool
    daily_limit_kopecks: int | None
    spent_today_kopecks: int = Field(description="today's ended sessions with it, all stands")
    limit_reached: bool
    drivers: list[str]


class CredentialGroupOut(BaseModel):
    credential_kind: Literal["card", "plate", "qr"] | None
    credential_value: str | None
    sessions: int
    duration_s: int
    cost_kopecks: int
    over_daily_limit: int = Field(description="sessions flagged over the card's daily limit")
    recent_session_ids: list[int]


class AccountOut(BaseModel):
    client_id: int
    corporate: bool
    balance_kopecks: int
    drivers: list[DriverOut]
    cards: list[AccountCardOut]
    groups: list[CredentialGroupOut]


class StatementTopupOut(BaseModel):
    id: int
    amount_kopecks: int
    method: str | None
    created_at: str


class StatementLineOut(BaseModel):
    credential_kind: Literal["card", "plate", "qr", "other"] | None
    credential_value: str | None
    sessions: int
    duration_s: int
    charged_kopecks: int


class StatementOut(BaseModel):
    """opening + topups − charged + other = closing."""

    client_id: int
    month: str
    opening_balance_kopecks: int
    topups_kopecks: int
    topups: list[StatementTopupOut]
    sessions: list[StatementLineOut]
    charged_kopecks: int
    other_kopecks: int
    closing_balance_kopecks: int


def _client(client_id: int) -> Any:
    return client_scope.get_client(acting_user(), client_id)


@bp.get("/clients/<int:client_id>/account")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "A (corporate) account: drivers, cards with limits and today's spend, sessions per card",
    response=AccountOut,
)
def account_get(client_id: int) -> Any:
    timezone = current_app.config["AQ"].timezone
    return corporate.account_view(acting_user(), _client(client_id), app_now(), timezone)


@bp.post("/clients/<int:client_id>/drivers")
@api_endpoint(
    Capability.EDIT_CLIENTS,
    "Authorise a driver on a corporate account",
    body=DriverIn,
    response=DriverOut,
    status=201,
)
def driver_add(client_id: int, body: DriverIn) -> Any:
    driver = corporate.add_driver(acting_user(), _client(client_id), body.name, body.card_id)
    return corporate.driver_to_dict(driver)


@bp.delete("/clients/<int:client_id>/drivers/<int:driver_id>")
@api_endpoint(Capability.EDIT_CLIENTS, "Remove a driver", status=204)
def driver_remove(client_id: int, driver_id: int) -> Any:
    corporate.remove_driver(acting_user(), _client(client_id), driver_id)
    return None


@bp.put("/clients/<int:client_id>/cards/<int:credential_id>/limit")
@api_endpoint(
    Capability.EDIT_CLIENTS,
    "Set or remove a card's daily limit (it travels to the stands)",
    body=CardLimitIn,
    response=CredentialOut,
)
def card_limit_set(client_id: int, credential_id: int, body: CardLimitIn) -> Any:
    card = corporate.set_card_limit(
        acting_user(), _client(client_id), credential_id, body.daily_limit_kopecks
    )
    return clientbook.credential_to_dict(card)


@bp.get("/clients/<int:client_id>/statement")
@api_endpoint(
    Capability.REPORTS,
    "Monthly statement: opening balance, top-ups, sessions per card and plate, closing balance",
    response=StatementOut,
    query={"month": "YYYY-MM in the service's time zone; default the current month"},
)
def statement_get(client_id: int) -> Any:
    client = _client(client_id)
    timezone = current_app.config["AQ"].timezone
    month = parse_month(request.args.get("month"), app_now(), timezone)
    return statement_to_dict(monthly_statement(client, month, timezone))
