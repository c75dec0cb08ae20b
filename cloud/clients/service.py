"""Clients: members and guests, their phones and credentials (NFC cards, car plates, QR
tokens), comments, and search, always through the acting staff member's site scope.

``actor`` is the staff member acting. ``None`` means the system itself (the CSV import,
demo data): no site scope applies and no author is recorded.

An attendant sees the clients whose home site is one of theirs and the clients who had a
session at one of their sites; anyone else out of scope is "not found", never "forbidden".
A card UID, plate or QR token id belongs to one client at a time: linking one that another
client holds is a ``Conflict`` naming the clash."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.clients.counters import counters_of
from cloud.clients.credentials import card_uid, link
from cloud.clients.entry import check_phones_free, entered_plate, is_foreign
from cloud.clients.funds import funds_dicts
from cloud.clients.scope import home_site
from cloud.clock import iso_utc
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from cloud.models import (
    CLIENT_KINDS,
    Client,
    ClientPhone,
    Credential,
    Session,
    Tariff,
    User,
)
from sync.lengths import MAX_NAME
from sync.money import format_kopecks
from sync.phones import normalise_phone
from sync.plates import normalise_plate

MAX_EMAIL = 200
MAX_NOTE = 2000
MAX_BLOCK_REASON = 300
MAX_PHONES = 10
MAX_CREDENTIALS = 50  # per call: a corporate client may have many cards and plates

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
UPDATABLE_FIELDS = frozenset(
    {"name", "email", "note", "default_tariff_id", "phones", "unsubscribed", "corporate"}
)


# --- normalising what people type ------------------------------------------------------------


def clean_name(name: str, *, required: bool) -> str:
    """A client's name as kept, however it came (a page, the API, an import, a stand's
    ``client.registered``): control characters (CR, LF, tabs, NUL, ESC …) and lone surrogates
    become spaces, runs of whitespace one space, none at the ends. A name must never break a
    mail header or a CSV line."""
    printable = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in name or "")
    name = " ".join(printable.split())
    if required and not name:
        raise Unprocessable(_("Укажите имя участника клуба"), "name_required")
    if len(name) > MAX_NAME:
        raise ValidationFailed(_("Имя — не длиннее %(n)s символов", n=MAX_NAME), "name_too_long")
    return name


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    if not email:
        return ""
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise ValidationFailed(
            _("Некорректный адрес электронной почты: «%(email)s»", email=email[:60]), "bad_email"
        )
    return email


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            _("Заметка — не длиннее %(n)s символов", n=MAX_NOTE), "note_too_long"
        )
    return note


def _clean_list(values: Iterable[str], normalise: Any, limit: int, what: str) -> list[str]:
    """Normalise each non-blank value, dropping repeats and keeping the order."""
    cleaned: list[str] = []
    for value in values or ():
        if isinstance(value, str) and not value.strip():
            continue
        normalised = normalise(value)
        if normalised not in cleaned:
            cleaned.append(normalised)
    if len(cleaned) > limit:
        raise ValidationFailed(
            _("Слишком много значений в поле «%(what)s»: не больше %(n)s", what=what, n=limit),
            "too_many",
        )
    return cleaned


def _clean_phones(phones: Iterable[str]) -> list[str]:
    return _clean_list(phones, normalise_phone, MAX_PHONES, _("Телефоны"))


def _clean_plates(plates: Iterable[str]) -> list[str]:
    return _clean_list(plates, normalise_plate, MAX_CREDENTIALS, _("Номера автомобилей"))


def _clean_cards(cards: Iterable[str]) -> list[str]:
    return _clean_list(cards, card_uid, MAX_CREDENTIALS, _("Карты"))


def _active_tariff(tariff_id: int | None) -> Tariff | None:
    if tariff_id is None:
        return None
    tariff = Tariff.get_or_none(Tariff.id == tariff_id)
    if tariff is None:
        raise NotFound(_("Тариф не найден или отключён"), "bad_tariff")
    if not tariff.active:
        raise Conflict(_("Тариф не найден или отключён"), "bad_tariff")
    return tariff


# --- clients ---------------------------------------------------------------------------------


def _set_phones(client: Client, phones: list[str]) -> None:
    ClientPhone.delete().where(ClientPhone.client == client.id).execute()
    for position, phone in enumerate(phones):
        ClientPhone.create(client=client, phone=phone, position=position)


def phones_of(client: Client) -> list[str]:
    return [
        row.phone
        for row in ClientPhone.select()
        .where(ClientPhone.client == client.id)
        .order_by(ClientPhone.position, ClientPhone.id)
    ]


def create_client(
    actor: User | None,
    *,
    kind: str,
    name: str = "",
    phones: Iterable[str] = (),
    email: str = "",
    plates: Iterable[str] = (),
    cards: Iterable[str] = (),
    default_tariff_id: int | None = None,
    note: str = "",
    site_id: int | None = None,
    foreign: bool = False,
    confirmed: bool = False,
) -> Client:
    """Register a member (needs a name) or a guest (needs a plate) with their credentials.

    Everything is checked first and written in one transaction: on any error nothing is
    stored. The home site is ``site_id`` (within the actor's scope) or, for an attendant,
    their only site. A plate must match a Russian format unless ``foreign``; a phone another
    client has needs ``confirmed`` (``cloud.clients.entry``)."""
    if kind not in CLIENT_KINDS:
        raise ValidationFailed(_("Тип клиента: участник клуба или гость"), "bad_kind")
    name = clean_name(name, required=kind == "member")
    phone_list = _clean_phones(phones)
    email = _clean_email(email)
    plate_list = [entered_plate(plate, foreign=foreign) for plate in _clean_plates(plates)]
    card_list = _clean_cards(cards)
    if kind == "guest" and not plate_list:
        raise Unprocessable(_("Для гостя укажите номер автомобиля"), "plate_required")
    tariff = _active_tariff(default_tariff_id)
    site = home_site(actor, site_id)
    note = _clean_note(note)
    check_phones_free(actor, phone_list, confirmed=confirmed)
    with db_proxy.atomic():
        client = Client.create(
            kind=kind,
            name=name,
            email=email,
            note=note,
            default_tariff=tariff,
            home_site=site,
            member_since=utcnow() if kind == "member" else None,
            created_by=actor,
        )
        _set_phones(client, phone_list)
        for plate in plate_list:
            link(actor, client, "plate", plate, foreign=is_foreign(plate))
        for uid in card_list:
            link(actor, client, "card", uid)
        after = {**_audited(client), "plates": plate_list, "cards": card_list}
        audit.record("client.created", audit.client_target(client), None, after, actor=actor)
    return client


# What the audit log keeps of a client before and after a change.
AUDITED = ("kind", "name", "email", "note", "default_tariff_id", "unsubscribed", "corporate")


def _audited(client: Client) -> dict[str, Any]:
    return {**audit.fields_of(client, *AUDITED), "phones": phones_of(client)}


def update_client(
    actor: User | None, client: Client, *, confirmed: bool = False, **fields: Any
) -> Client:
    """Change the client's data; accepts only ``UPDATABLE_FIELDS``. A phone new to the client
    that another client has needs ``confirmed``."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(
            _("Эти поля нельзя изменить: %(names)s", names=", ".join(sorted(unknown))),
            "bad_field",
        )
    before = _audited(client)
    if "name" in fields:
        client.name = clean_name(fields["name"], required=client.kind == "member")
    if "email" in fields:
        client.email = _clean_email(fields["email"])
    if "note" in fields:
        client.note = _clean_note(fields["note"])
    if "default_tariff_id" in fields:
        client.default_tariff = _active_tariff(fields["default_tariff_id"])
    if "unsubscribed" in fields:
        client.unsubscribed = bool(fields["unsubscribed"])
    if fields.get("corporate") is not None:
        client.corporate = bool(fields["corporate"])
    phone_list = _clean_phones(fields["phones"]) if "phones" in fields else None
    if phone_list is not None:
        check_phones_free(actor, phone_list, client_id=client.id, confirmed=confirmed)
    with db_proxy.atomic():
        client.updated_at = utcnow()
        client.save()
        if phone_list is not None:
            _set_phones(client, phone_list)
        before_after = audit.changes(before, _audited(client))
        audit.record("client.updated", audit.client_target(client), *before_after, actor=actor)
    return client


def set_blocked(actor: User | None, client: Client, blocked: bool, reason: str = "") -> Client:
    """Block (with an optional reason) or unblock a client; unblocking clears the reason."""
    reason = clean_block_reason(reason)
    before = audit.fields_of(client, "blocked", "blocked_reason")
    client.blocked = bool(blocked)
    client.blocked_reason = reason if blocked else ""
    client.updated_at = utcnow()
    with db_proxy.atomic():
        client.save()
        after = audit.fields_of(client, "blocked", "blocked_reason")
        action = "client.blocked" if client.blocked else "client.unblocked"
        audit.record(action, audit.client_target(client), before, after, actor=actor)
    return client


def clean_block_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_BLOCK_REASON:
        raise ValidationFailed(
            _("Причина блокировки — не длиннее %(n)s символов", n=MAX_BLOCK_REASON),
            "reason_too_long",
        )
    return reason


def has_open_session(client: Client) -> bool:
    return bool(
        Session.select().where((Session.client == client.id) & Session.ended_at.is_null()).exists()
    )


def _unsettled(client: Client) -> Conflict | None:
    """Why the client cannot be deleted yet: money, a debt or points would vanish from every
    report with them (issue 20), or a session is still running."""
    money, points = (
        Client.select(Client.balance_kopecks, Client.points_balance)
        .where(Client.id == client.id)
        .tuples()
        .get()
    )
    settle = _("Сначала верните или спишите их через корректировку баланса (владелец).")
    if money > 0:
        text = _("На счёте клиента %(amount)s.", amount=format_kopecks(money))
        return Conflict(f"{text} {settle}", "balance_not_zero")
    if money < 0:
        text = _("У клиента долг %(amount)s.", amount=format_kopecks(-money))
        return Conflict(f"{text} {settle}", "debt_not_settled")
    if points:
        return Conflict(
            _("У клиента %(n)s бонусных баллов: спишите их, прежде чем удалять.", n=points),
            "points_not_zero",
        )
    if has_open_session(client):
        return Conflict(
            _("У клиента идёт сессия: завершите её, прежде чем удалять клиента"), "open_session"
        )
    return None


def delete_client(actor: User | None, client: Client) -> None:
    """Soft delete: the client disappears from lists, its cards, plates and QR codes are
    unlinked (free for others); its ledger and sessions are kept. Refused while the client
    has money, a debt, points or a running session."""
    refusal = _unsettled(client)
    if refusal is not None:
        raise refusal
    now = utcnow()
    with db_proxy.atomic():
        credentials = list(
            Credential.select(Credential.value).where(
                (Credential.client == client.id) & Credential.unlinked_at.is_null()
            )
        )
        # Credentials first: the stand drops them no later than their client.
        Credential.update(unlinked_at=now).where(
            (Credential.client == client.id) & Credential.unlinked_at.is_null()
        ).execute()
        client.deleted_at = now
        client.updated_at = now
        client.save()
        audit.record(
            "client.deleted",
            audit.client_target(client),
            {"deleted_at": None, "credentials": [c.value for c in credentials]},
            {"deleted_at": audit.fields_of(client, "deleted_at")["deleted_at"], "credentials": []},
            actor=actor,
        )


def restore_client(actor: User | None, client: Client) -> None:
    """Bring a deleted client back, with their history. Their cards, plates and QR codes
    stay unlinked: another client may hold them now; link them again by hand."""
    if client.deleted_at is None:
        raise Conflict(_("Клиент не удалён"), "not_deleted")
    before = audit.fields_of(client, "deleted_at")
    with db_proxy.atomic():
        client.deleted_at = None
        client.updated_at = utcnow()
        client.save()
        audit.record(
            "client.restored",
            audit.client_target(client),
            before,
            {"deleted_at": None},
            actor=actor,
        )


def get_deleted_client(client_id: int) -> Client:
    client = Client.get_or_none((Client.id == client_id) & Client.deleted_at.is_null(False))
    if client is None:
        raise NotFound(_("Удалённый клиент не найден"))
    return client


def deleted_clients(limit: int, offset: int) -> tuple[list[Client], int]:
    """Deleted clients, the latest deleted first."""
    query = Client.select().where(Client.deleted_at.is_null(False))
    rows = query.order_by(Client.deleted_at.desc(), Client.id.desc()).limit(limit).offset(offset)
    return list(rows), query.count()


def promote_to_member(
    actor: User | None,
    client: Client,
    *,
    name: str,
    phones: Iterable[str] = (),
    email: str = "",
    cards: Iterable[str] = (),
    confirmed: bool = False,
) -> Client:
    """Register a guest as a club member: same client (id, plates, sessions, ledger), now a
    member from today. A phone another client has needs ``confirmed``."""
    if client.kind == "member":
        raise Conflict(_("Клиент уже участник клуба"), "already_member")
    name = clean_name(name, required=True)
    phone_list = _clean_phones(phones)
    email = _clean_email(email)
    card_list = _clean_cards(cards)
    check_phones_free(actor, phone_list, client_id=client.id, confirmed=confirmed)
    with db_proxy.atomic():
        before = _audited(client)
        client.kind = "member"
        client.name = name
        client.email = email
        client.member_since = utcnow()
        client.updated_at = client.member_since
        client.save()
        if phone_list:
            _set_phones(client, phone_list)
        for uid in card_list:
            link(actor, client, "card", uid)
        before, after = audit.changes(before, {**_audited(client), "cards": card_list})
        audit.record("client.promoted", audit.client_target(client), before, after, actor=actor)
    return client


# --- API form --------------------------------------------------------------------------------


def client_dicts(clients: list[Client]) -> list[dict[str, Any]]:
    """The API form of several clients, reading their phones and credentials in two queries
    and the tariffs for their funds (``cloud.clients.funds``) in two more."""
    ids = [client.id for client in clients]
    phones: dict[int, list[str]] = {client_id: [] for client_id in ids}
    creds: dict[int, list[Credential]] = {client_id: [] for client_id in ids}
    if ids:
        for row in (
            ClientPhone.select()
            .where(ClientPhone.client.in_(ids))
            .order_by(ClientPhone.position, ClientPhone.id)
        ):
            phones[row.client_id].append(row.phone)
        for cred in (
            Credential.select()
            .where(Credential.client.in_(ids) & Credential.unlinked_at.is_null())
            .order_by(Credential.id)
        ):
            creds[cred.client_id].append(cred)
    counters = counters_of(clients)
    funds = funds_dicts(clients)
    return [
        {
            **_client_dict(client, phones[client.id], creds[client.id]),
            "counters": counters[client.id],
            "funds": funds[client.id],
        }
        for client in clients
    ]


def _client_dict(client: Client, phones: list[str], creds: list[Credential]) -> dict[str, Any]:
    cards = [c for c in creds if c.kind == "card"]
    return {
        "id": client.id,
        "kind": client.kind,
        "name": client.name,
        "phones": phones,
        "email": client.email,
        "plates": [c.value for c in creds if c.kind == "plate"],
        "cards": [c.value for c in cards if not c.lost],
        "lost_cards": [c.value for c in cards if c.lost],
        "blocked": client.blocked,
        "blocked_reason": client.blocked_reason,
        "unsubscribed": client.unsubscribed,
        "corporate": client.corporate,
        "balance_kopecks": client.balance_kopecks,
        "default_tariff_id": client.default_tariff_id,
        "home_site_id": client.home_site_id,
        "note": client.note,
        "member_since": iso_utc(client.member_since),
        "created_at": iso_utc(client.created_at),
        "points_balance": client.points_balance,
        "points_spending": client.points_spending,
        "discount_percent": client.discount_percent,
        "discount_kopecks": client.discount_kopecks,
        "overdraft_limit_kopecks": client.overdraft_limit_kopecks,
    }


def client_to_dict(client: Client) -> dict[str, Any]:
    """The API form of a client: ``cards`` are the usable UIDs, ``lost_cards`` the disabled
    ones (still linked, so they are refused at a stand)."""
    return client_dicts([client])[0]


def credential_to_dict(credential: Credential) -> dict[str, Any]:
    return {
        "id": credential.id,
        "kind": credential.kind,
        "value": credential.value,
        "lost": credential.lost,
        "foreign": credential.is_foreign,
        "daily_limit_kopecks": credential.daily_limit_kopecks,
        "created_at": iso_utc(credential.created_at),
        "unlinked_at": iso_utc(credential.unlinked_at),
    }
