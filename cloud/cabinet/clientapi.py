"""The client API under ``/api/client/v1/`` (for a future mobile app): log-in by phone and SMS
code for a bearer token, then the client's own account. Documented in the same OpenAPI
document as the staff API, under the ``client`` tag and the ``clientBearer`` scheme.

A client token (``aqc_``, ``CabinetSession``) is checked only here and a staff token
(``aqs_``, ``ApiToken``) only in ``cloud.api``: neither reaches the other's routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Any

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, Field

from cloud.api import EndpointDoc, Unauthorized, parse_body
from cloud.cabinet import auth, overview
from cloud.cabinet.auth import current_client
from cloud.clients import credentials as client_credentials
from cloud.clock import app_now
from cloud.errors import DomainError, NotFound
from cloud.fields import Phone
from cloud.loyalty.settings import effective_rules

bp = Blueprint("clientapi", __name__, url_prefix="/api/client/v1")

UNAUTHORIZED = "no valid client token (a staff token is none)"
MALFORMED = "malformed: a body that is not the JSON object asked, or a value the schema refuses"
TOO_LARGE = "body too large"


class CabinetPhoneIn(BaseModel):
    phone: Phone


class CabinetLoginIn(BaseModel):
    phone: Phone
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the 6 digits of the SMS")]


class CabinetTokenOut(BaseModel):
    token: str


class CabinetQrOut(BaseModel):
    payload: str  # the text the QR code carries (what a stand's camera reads)
    token_id: str


class CabinetCardOut(BaseModel):
    id: int
    uid: str
    lost: bool


class CabinetPlateOut(BaseModel):
    id: int
    plate: str


class CabinetExpiryOut(BaseModel):
    at: datetime
    points: int


class CabinetMeOut(BaseModel):
    id: int
    name: str
    balance_kopecks: int
    points: int
    points_expiring: list[CabinetExpiryOut]
    qr: CabinetQrOut
    cards: list[CabinetCardOut]
    plates: list[CabinetPlateOut]


class CabinetSessionOut(BaseModel):
    id: int
    kind: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


class CabinetSessionList(BaseModel):
    items: list[CabinetSessionOut]
    total: int


def _bearer_session() -> Any:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Нужен заголовок Authorization: Bearer <токен>"))
    session = auth.session_for_token(token.strip(), current_app.config["AQ"])
    if session is None:
        raise Unauthorized(_("Токен недействителен или отозван"))
    return session


def client_endpoint(
    summary: str,
    errors: dict[int, str],
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    public: bool = False,
) -> Callable[[Any], Any]:
    """A client API route: the client's bearer token (unless ``public``), ``body`` parsed,
    JSON answered with ``status``; ``errors`` are the other statuses it can answer."""
    security = "" if public else "clientBearer"
    doc = EndpointDoc(
        None, summary, body, response, status, tag="client", security=security, errors=errors
    )

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not public:
                auth.use_session(_bearer_session())
            if body is not None:
                kwargs["body"] = parse_body(body)
            result = view(*args, **kwargs)
            return ("", status) if result is None else (jsonify(result), status)

        wrapped.api_doc = doc  # type: ignore[attr-defined]
        if not public:
            wrapped.client_route = True  # type: ignore[attr-defined]
        return wrapped

    return decorator


@bp.post("/login/code")
@client_endpoint(
    "Send a log-in code by SMS to the phone",
    {
        400: MALFORMED,
        413: TOO_LARGE,
        429: "too many codes for this phone or address within an hour",
        503: "the SMS could not be handed over",
    },
    body=CabinetPhoneIn,
    status=202,
    public=True,
)
def login_code(body: CabinetPhoneIn) -> None:
    config = current_app.config["AQ"]
    auth.request_code(body.phone, request.remote_addr or "", config, str(current_app.secret_key))


@bp.post("/login")
@client_endpoint(
    "Exchange the phone and its SMS code for a client token",
    {
        400: MALFORMED,
        401: "the code is wrong, used up or expired",
        404: "the phone is no club member's: join at /my/join first",
        413: TOO_LARGE,
    },
    body=CabinetLoginIn,
    response=CabinetTokenOut,
    public=True,
)
def login(body: CabinetLoginIn) -> Any:
    try:
        phone = auth.check_code(body.phone, body.code, str(current_app.secret_key))
    except auth.WrongCode as wrong:
        raise Unauthorized(wrong.message, "wrong_code") from None
    client = auth.client_by_phone(phone)
    if client is None or client.kind != "member":
        raise NotFound(_("Этот телефон не участника клуба: вступите в клуб на /my/join"))
    device = (request.user_agent.string or "")[:120]
    return {"token": auth.open_session(client, "api", device)}


def _qr() -> dict[str, str]:
    payload, token_id = overview.qr_of(current_client(), current_app.config["AQ"])
    return {"payload": payload, "token_id": token_id}


@bp.get("/me")
@client_endpoint("The client's own account", {401: UNAUTHORIZED}, response=CabinetMeOut)
def me() -> Any:
    client = current_client()
    config = current_app.config["AQ"]
    cards, plates = overview.cards_and_plates(client)
    days = effective_rules(config).expiry_days
    return {
        "id": client.id,
        "name": client.name,
        "balance_kopecks": client.balance_kopecks,
        "points": client.points_balance,
        "points_expiring": [
            {"at": at, "points": points}
            for at, points in overview.expiring_points(client, days, app_now())
        ],
        "qr": _qr(),
        "cards": [overview.card_to_dict(card) for card in cards],
        "plates": [overview.plate_to_dict(plate) for plate in plates],
    }


@bp.get("/sessions")
@client_endpoint(
    "The client's live cabinet sessions", {401: UNAUTHORIZED}, response=CabinetSessionList
)
def sessions() -> Any:
    this = auth.current_session().id
    items = [
        {
            "id": row.id,
            "kind": row.kind,
            "device": row.device,
            "created_at": row.created_at,
            "last_seen_at": row.last_seen_at,
            "current": row.id == this,
        }
        for row in auth.live_sessions(current_client())
    ]
    return {"items": items, "total": len(items)}


@bp.post("/cards/<int:credential_id>/lost")
@client_endpoint(
    "Mark one of the client's cards lost: the stands refuse it from their next directory",
    {401: UNAUTHORIZED, 404: "no such card of this client"},
    response=CabinetCardOut,
)
def card_lost(credential_id: int) -> Any:
    try:
        card = client_credentials.mark_card_lost(None, current_client(), credential_id)
    except DomainError as error:
        raise NotFound(error.message, error.code) from None
    return overview.card_to_dict(card)


@bp.post("/qr")
@client_endpoint(
    "Issue a new QR code; the old one is revoked at the stands",
    {401: UNAUTHORIZED},
    response=CabinetQrOut,
)
def qr_reissue() -> Any:
    client_credentials.issue_qr(None, current_client(), current_app.config["AQ"])
    return _qr()
