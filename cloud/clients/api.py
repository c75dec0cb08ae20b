"""Clients over the JSON API: search, register, read, change, delete; their cards and plates,
top-ups and ledger, owner's adjustments, promotion of a guest, and the QR token.

The names and shapes here are an interface other programs rely on; the rules are those of the
client pages (``cloud.clients.service``, ``cloud.ledger.service``)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _

from cloud.api import api_endpoint, bp, id_arg, page_args
from cloud.clients import credentials as credential_book
from cloud.clients import funds as client_funds
from cloud.clients import scope as client_scope
from cloud.clients import search as client_search
from cloud.clients import service as clientbook
from cloud.clients.apimodels import (
    AdjustmentIn,
    CardIn,
    ClientCreate,
    ClientList,
    ClientOut,
    ClientPatch,
    CredentialList,
    CredentialOut,
    LedgerEntryOut,
    LedgerList,
    PlateIn,
    PromoteIn,
    QrOut,
    TopupIn,
)
from cloud.db import db_proxy
from cloud.errors import Forbidden, Unprocessable, ValidationFailed
from cloud.ledger import service as ledger
from cloud.loyalty import bonus
from cloud.loyalty.settings import effective_rules
from cloud.models import Client
from cloud.permissions import Capability, role_can
from cloud.web import acting_user

# The values' types: the schema's checks, and the services' rules saying why when they refuse.
# --- helpers ----------------------------------------------------------------------------------

TERMS = (
    "points_spending",
    "discount_percent",
    "discount_kopecks",
)  # cloud.loyalty.bonus.update_terms


def _client(client_id: int) -> Any:
    return client_scope.get_client(acting_user(), client_id)


def _optional_bool(name: str) -> bool | None:
    text = request.args.get(name, "")
    if not text:
        return None
    if text not in ("true", "false", "1", "0"):
        raise ValidationFailed(_("%(name)s: true или false", name=name), "bad_query")
    return text in ("true", "1")


# --- clients ----------------------------------------------------------------------------------


@bp.get("/clients")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "Search clients",
    response=ClientList,
    query={
        "q": (
            "name, phone, car plate or card UID (plates match however they are typed)",
            {"type": "string", "maxLength": client_search.MAX_QUERY},
        ),
        "kind": "member or guest",
        "site_id": "clients of this site (home site or a session there)",
        "blocked": "true or false",
        "limit": "1..500, default 50",
        "offset": "default 0",
    },
)
def clients_list() -> Any:
    limit, offset = page_args()
    kind = request.args.get("kind") or None
    rows, total = client_search.search_clients(
        acting_user(),
        q=request.args.get("q", ""),
        kind=kind,
        site_id=id_arg("site_id"),
        blocked=_optional_bool("blocked"),
        limit=limit,
        offset=offset,
    )
    return {"items": clientbook.client_dicts(rows), "total": total}


@bp.post("/clients")
@api_endpoint(
    Capability.SERVE_CLIENTS,
    "Register a member or a guest",
    body=ClientCreate,
    response=ClientOut,
    status=201,
)
def clients_create(body: ClientCreate) -> Any:
    client = clientbook.create_client(acting_user(), **body.model_dump())
    bonus.welcome(client, effective_rules(current_app.config["AQ"]))
    return clientbook.client_to_dict(Client.get_by_id(client.id))


@bp.get("/clients/<int:client_id>")
@api_endpoint(Capability.VIEW_CLIENTS, "Read a client", response=ClientOut)
def client_get(client_id: int) -> Any:
    return clientbook.client_to_dict(_client(client_id))


@bp.patch("/clients/<int:client_id>")
@api_endpoint(
    Capability.EDIT_CLIENTS, "Change a client's data or block", body=ClientPatch, response=ClientOut
)
def client_patch(client_id: int, body: ClientPatch) -> Any:
    client = _client(client_id)
    given = {  # null leaves a field as it is, except the tariff and the credit, which it clears
        name: value
        for name, value in body.model_dump(include=body.model_fields_set).items()
        if value is not None or name in ("default_tariff_id", "overdraft_limit_kopecks")
    }
    terms = {name: given.pop(name) for name in TERMS if given.get(name) is not None}
    given = {name: value for name, value in given.items() if name not in TERMS}
    confirmed = bool(given.pop("confirmed", False))
    overdraft_given = "overdraft_limit_kopecks" in given
    overdraft = given.pop("overdraft_limit_kopecks", None)
    if overdraft_given and not role_can(acting_user().role, Capability.SET_OVERDRAFT):
        raise Forbidden(
            _("Кредитный лимит меняют администратор и владелец"), "overdraft_not_allowed"
        )
    blocked = given.pop("blocked", None)
    reason = given.pop("blocked_reason", None)
    if reason is not None and blocked is None and not client.blocked:
        raise Unprocessable(
            _("Причину блокировки указывают вместе с blocked: true"), "reason_without_block"
        )
    with db_proxy.atomic():
        if overdraft_given:
            client_funds.set_overdraft(client, overdraft)
        if terms:
            bonus.update_terms(client, **terms)
        if given:
            clientbook.update_client(acting_user(), client, confirmed=confirmed, **given)
        if blocked is not None or reason is not None:
            blocking = client.blocked if blocked is None else blocked
            clientbook.set_blocked(acting_user(), client, blocking, reason or "")
    return clientbook.client_to_dict(client)


@bp.delete("/clients/<int:client_id>")
@api_endpoint(Capability.DELETE_CLIENTS, "Delete a client (cards and plates freed)", status=204)
def client_delete(client_id: int) -> Any:
    clientbook.delete_client(acting_user(), _client(client_id))
    return None


@bp.post("/clients/<int:client_id>/promote")
@api_endpoint(
    Capability.SERVE_CLIENTS,
    "Register a guest as a club member (history kept)",
    body=PromoteIn,
    response=ClientOut,
)
def client_promote(client_id: int, body: PromoteIn) -> Any:
    client = clientbook.promote_to_member(acting_user(), _client(client_id), **body.model_dump())
    bonus.welcome(client, effective_rules(current_app.config["AQ"]))
    return clientbook.client_to_dict(Client.get_by_id(client.id))


# --- cards and plates -------------------------------------------------------------------------


@bp.get("/clients/<int:client_id>/credentials")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "Linked cards (lost ones included), plates and QR token ids",
    response=CredentialList,
)
def client_credentials(client_id: int) -> Any:
    credentials = credential_book.active_credentials(_client(client_id))
    return {"items": [clientbook.credential_to_dict(row) for row in credentials]}


@bp.post("/clients/<int:client_id>/cards")
@api_endpoint(
    Capability.EDIT_CLIENTS, "Link an NFC card", body=CardIn, response=CredentialOut, status=201
)
def client_link_card(client_id: int, body: CardIn) -> Any:
    credential = credential_book.link_card(acting_user(), _client(client_id), body.uid)
    return clientbook.credential_to_dict(credential)


@bp.post("/clients/<int:client_id>/plates")
@api_endpoint(
    Capability.EDIT_CLIENTS, "Link a car plate", body=PlateIn, response=CredentialOut, status=201
)
def client_link_plate(client_id: int, body: PlateIn) -> Any:
    credential = credential_book.link_plate(
        acting_user(), _client(client_id), body.plate, foreign=body.foreign
    )
    return clientbook.credential_to_dict(credential)


@bp.delete("/clients/<int:client_id>/credentials/<int:credential_id>")
@api_endpoint(Capability.EDIT_CLIENTS, "Unlink a card, plate or QR token", status=204)
def client_unlink_credential(client_id: int, credential_id: int) -> Any:
    credential_book.unlink_credential(acting_user(), _client(client_id), credential_id)
    return None


@bp.post("/clients/<int:client_id>/cards/<int:credential_id>/lost")
@api_endpoint(
    Capability.EDIT_CLIENTS, "Mark a card lost (it stays refused)", response=CredentialOut
)
def client_card_lost(client_id: int, credential_id: int) -> Any:
    credential = credential_book.mark_card_lost(acting_user(), _client(client_id), credential_id)
    return clientbook.credential_to_dict(credential)


# --- money ------------------------------------------------------------------------------------


@bp.post("/clients/<int:client_id>/topups")
@api_endpoint(
    Capability.SERVE_CLIENTS,
    "Record a top-up (cash, card or transfer)",
    body=TopupIn,
    response=LedgerEntryOut,
    status=201,
)
def client_topup(client_id: int, body: TopupIn) -> Any:
    client, actor = _client(client_id), acting_user()
    site = ledger.topup_site(actor, client, body.site_id)
    large = ledger.LargeTopups(current_app.config["AQ"].topup_confirm_kopecks, body.confirmed)
    entry = ledger.record_topup(actor, client, body.amount_kopecks, body.method, site, large)
    return ledger.entry_to_dict(entry)


@bp.get("/clients/<int:client_id>/ledger")
@api_endpoint(
    Capability.VIEW_CLIENTS,
    "The client's ledger, newest first",
    response=LedgerList,
    query={"limit": "1..500, default 50", "offset": "default 0"},
)
def client_ledger(client_id: int) -> Any:
    client = _client(client_id)
    limit, offset = page_args()
    items = [ledger.entry_to_dict(row) for row in ledger.entries(client, limit, offset)]
    return {"items": items, "total": ledger.entry_count(client)}


@bp.post("/clients/<int:client_id>/adjustments")
@api_endpoint(
    Capability.ADJUST_BALANCE,
    "Adjust a balance with a reason (owner)",
    body=AdjustmentIn,
    response=LedgerEntryOut,
    status=201,
)
def client_adjust(client_id: int, body: AdjustmentIn) -> Any:
    entry = ledger.adjust_balance(
        acting_user(), _client(client_id), body.amount_kopecks, body.reason
    )
    return ledger.entry_to_dict(entry)


# --- QR token ---------------------------------------------------------------------------------


@bp.get("/clients/<int:client_id>/qr")
@api_endpoint(
    Capability.VIEW_CLIENTS, "The client's current QR token (the first is issued)", response=QrOut
)
def client_qr(client_id: int) -> Any:
    token = credential_book.ensure_qr(acting_user(), _client(client_id), current_app.config["AQ"])
    return {"token": token}


@bp.post("/clients/<int:client_id>/qr")
@api_endpoint(
    Capability.EDIT_CLIENTS,
    "Issue a new QR token, revoking the old one",
    response=QrOut,
    status=201,
)
def client_qr_reissue(client_id: int) -> Any:
    token = credential_book.issue_qr(acting_user(), _client(client_id), current_app.config["AQ"])
    return {"token": token}
