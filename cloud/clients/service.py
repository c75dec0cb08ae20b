"""Clients: members and guests, their phones and credentials (NFC cards, car plates, QR
tokens), comments, and search, always through the acting staff member's site scope.

``actor`` is the staff member acting. ``None`` means the system itself (the CSV import,
demo data): no site scope applies and no author is recorded.

An attendant sees the clients whose home site is one of theirs and the clients who had a
session at one of their sites; anyone else out of scope is "not found", never "forbidden".
A card UID, plate or QR token id belongs to one client at a time: linking one that another
client holds is a ``Conflict`` naming the clash."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import reduce
from typing import Any

import peewee as pw
from flask_babel import gettext as _

from cloud import changes
from cloud.clients.counters import counters_of
from cloud.clients.qrkeys import ensure_qr_key
from cloud.clock import iso_utc
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.models import (
    CLIENT_KINDS,
    Client,
    ClientPhone,
    Comment,
    Credential,
    Session,
    Site,
    Stand,
    Tariff,
    User,
    name_search_key,
)
from cloud.permissions import site_scope
from sync import qrtoken
from sync.errors import RuleError
from sync.phones import normalise_phone
from sync.plates import normalise_plate

CARD_UID_HEX_LENGTHS = (8, 14, 20)  # 4-, 7- and 10-byte NFC UIDs
MAX_NAME = 200
MAX_EMAIL = 200
MAX_NOTE = 2000
MAX_COMMENT = 2000
MAX_BLOCK_REASON = 300
MAX_PHONES = 10
MAX_CREDENTIALS = 50  # per call: a corporate client may have many cards and plates

_UID_SEPARATORS = re.compile(r"[\s:\-]+")
_HEX = re.compile(r"[0-9A-F]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"\+?[\d\s\-().]+")
UPDATABLE_FIELDS = frozenset(
    {"name", "email", "note", "default_tariff_id", "phones", "unsubscribed", "corporate"}
)


# --- normalising what people type ------------------------------------------------------------


def normalise_card_uid(text: str) -> str:
    """An NFC card UID as upper-case hex without separators: ``04:a1:b2:c3`` -> ``04A1B2C3``."""
    raw = text if isinstance(text, str) else ""
    uid = _UID_SEPARATORS.sub("", raw).upper()
    if not _HEX.fullmatch(uid) or len(uid) not in CARD_UID_HEX_LENGTHS:
        raise RuleError(
            _(
                "Некорректный номер карты: «%(uid)s» — нужен UID из 4, 7 или 10 байт "
                "(8, 14 или 20 шестнадцатеричных знаков)",
                uid=raw.strip()[:40],
            ),
            "bad_card_uid",
        )
    return uid


def _clean_name(name: str, *, required: bool) -> str:
    name = " ".join((name or "").split())
    if required and not name:
        raise ValidationFailed(_("Укажите имя участника клуба"), "name_required")
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
    return _clean_list(cards, normalise_card_uid, MAX_CREDENTIALS, _("Карты"))


def _active_tariff(tariff_id: int | None) -> Tariff | None:
    if tariff_id is None:
        return None
    tariff = Tariff.get_or_none((Tariff.id == tariff_id) & Tariff.active)
    if tariff is None:
        raise ValidationFailed(_("Тариф не найден или отключён"), "bad_tariff")
    return tariff


# --- scope -----------------------------------------------------------------------------------


def _scope(actor: User | None) -> set[int] | None:
    return None if actor is None else site_scope(actor)


def of_sites(site_ids: set[int]) -> pw.Expression:
    """Clients of these sites: their home site is one of them, or they had a session there."""
    ids = sorted(site_ids)
    visited = Session.select(Session.client).where(Session.site.in_(ids))
    return Client.home_site.in_(ids) | Client.id.in_(visited)


def _visible(query: pw.ModelSelect, actor: User | None) -> pw.ModelSelect:
    scope = _scope(actor)
    return query if scope is None else query.where(of_sites(scope))


def _home_site(actor: User | None, site_id: int | None) -> Site | None:
    scope = _scope(actor)
    if site_id is None:
        if scope is None:
            return None
        if len(scope) != 1:
            raise ValidationFailed(_("Выберите площадку клиента"), "site_required")
        site_id = next(iter(scope))
    elif scope is not None and site_id not in scope:
        raise ValidationFailed(_("Площадка не найдена"), "bad_site")
    site = Site.get_or_none(Site.id == site_id)
    if site is None:
        raise ValidationFailed(_("Площадка не найдена"), "bad_site")
    return site


def get_client(actor: User | None, client_id: int) -> Client:
    """The client with this id if the actor may see it and it is not deleted."""
    query = Client.select().where((Client.id == client_id) & Client.deleted_at.is_null())
    client = _visible(query, actor).first()
    if client is None:
        raise NotFound(_("Клиент не найден"))
    return client


def _is_visible(actor: User | None, client_id: int) -> bool:
    query = Client.select(Client.id).where(Client.id == client_id)
    return _visible(query, actor).exists()


# --- credentials -----------------------------------------------------------------------------


def client_label(client: Client) -> str:
    """How a client is named in messages: the name, else "гость №12"."""
    if client.name:
        return client.name
    if client.kind == "guest":
        return _("гость №%(id)s", id=client.id)
    return _("клиент №%(id)s", id=client.id)


def _holder_text(actor: User | None, holder_id: int | None, client: Client) -> str:
    """Whom a clashing credential belongs to, named only if the actor may see that client."""
    holder = Client.get_or_none(Client.id == holder_id) if holder_id is not None else None
    if holder is None:
        return _("другому клиенту")
    if holder.id == client.id:
        return _("этому клиенту")
    if _is_visible(actor, holder.id):
        return _("клиенту «%(name)s» (№%(id)s)", name=client_label(holder), id=holder.id)
    return _("клиенту другой площадки")


def _clash(kind: str, value: str, owner: str, code: str) -> Conflict:
    if kind == "card":
        message = _("Карта %(uid)s уже привязана к %(owner)s", uid=value, owner=owner)
    else:
        message = _("Номер %(plate)s уже привязан к %(owner)s", plate=value, owner=owner)
    return Conflict(message, code)


def _link(actor: User | None, client: Client, kind: str, value: str) -> Credential:
    """Link a normalised card UID or plate, refusing one that is already linked."""
    held = Credential.get_or_none(
        (Credential.kind == kind) & (Credential.value == value) & Credential.unlinked_at.is_null()
    )
    if held is not None:
        code = "already_linked" if held.client_id == client.id else f"{kind}_taken"
        raise _clash(kind, value, _holder_text(actor, held.client_id, client), code)
    try:
        with db_proxy.atomic():
            changes.hold_positions()
            credential = Credential.create(client=client, kind=kind, value=value)
            changes.record_change(changes.CREDENTIAL, [credential.id])
            return credential
    except pw.IntegrityError:  # linked by someone else between our check and our insert
        raise _clash(kind, value, _("другому клиенту"), f"{kind}_taken") from None


def _touch(client: Client) -> None:
    client.updated_at = utcnow()
    client.save(only=[Client.updated_at])


def _link_one(actor: User | None, client: Client, kind: str, value: str) -> Credential:
    with db_proxy.atomic():
        credential = _link(actor, client, kind, value)
        _touch(client)
    return credential


def link_card(actor: User | None, client: Client, uid: str) -> Credential:
    return _link_one(actor, client, "card", normalise_card_uid(uid))


def link_plate(actor: User | None, client: Client, plate: str) -> Credential:
    return _link_one(actor, client, "plate", normalise_plate(plate))


def _active_credential(client: Client, credential_id: int) -> Credential:
    credential = Credential.get_or_none(
        (Credential.id == credential_id)
        & (Credential.client == client.id)
        & Credential.unlinked_at.is_null()
    )
    if credential is None:
        raise NotFound(_("Карта или номер не найдены"))
    return credential


def unlink_credential(actor: User | None, client: Client, credential_id: int) -> Credential:
    """Unlink a card, plate or QR token; the row stays as history and the value is free again."""
    credential = _active_credential(client, credential_id)
    with db_proxy.atomic():
        changes.record_change(changes.CREDENTIAL, [credential.id])
        credential.unlinked_at = utcnow()
        credential.save()
        _touch(client)
    return credential


def mark_card_lost(actor: User | None, client: Client, credential_id: int) -> Credential:
    """Disable a lost card. It stays linked so that a tap with it is refused, not unknown."""
    credential = _active_credential(client, credential_id)
    if credential.kind != "card":
        raise ValidationFailed(_("Потерянной можно отметить только карту"), "not_a_card")
    with db_proxy.atomic():
        changes.record_change(changes.CREDENTIAL, [credential.id])
        credential.lost = True
        credential.save()
        _touch(client)
    return credential


def active_credentials(client: Client) -> list[Credential]:
    """Linked cards (lost ones included), plates and QR tokens, oldest first."""
    return list(
        Credential.select()
        .where((Credential.client == client.id) & Credential.unlinked_at.is_null())
        .order_by(Credential.kind, Credential.id)
    )


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
) -> Client:
    """Register a member (needs a name) or a guest (needs a plate) with their credentials.

    Everything is checked first and written in one transaction: on any error nothing is
    stored. The home site is ``site_id`` (within the actor's scope) or, for an attendant,
    their only site."""
    if kind not in CLIENT_KINDS:
        raise ValidationFailed(_("Тип клиента: участник клуба или гость"), "bad_kind")
    name = _clean_name(name, required=kind == "member")
    phone_list = _clean_phones(phones)
    email = _clean_email(email)
    plate_list = _clean_plates(plates)
    card_list = _clean_cards(cards)
    if kind == "guest" and not plate_list:
        raise ValidationFailed(_("Для гостя укажите номер автомобиля"), "plate_required")
    tariff = _active_tariff(default_tariff_id)
    site = _home_site(actor, site_id)
    note = _clean_note(note)
    with db_proxy.atomic():
        changes.hold_positions()
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
        changes.record_change(changes.CLIENT, [client.id])
        _set_phones(client, phone_list)
        for plate in plate_list:
            _link(actor, client, "plate", plate)
        for uid in card_list:
            _link(actor, client, "card", uid)
    return client


def update_client(actor: User | None, client: Client, **fields: Any) -> Client:
    """Change the client's data; accepts only ``UPDATABLE_FIELDS``."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationFailed(
            _("Эти поля нельзя изменить: %(names)s", names=", ".join(sorted(unknown))),
            "bad_field",
        )
    if "name" in fields:
        client.name = _clean_name(fields["name"], required=client.kind == "member")
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
    with db_proxy.atomic():
        changes.record_change(changes.CLIENT, [client.id])
        client.updated_at = utcnow()
        client.save()
        if phone_list is not None:
            _set_phones(client, phone_list)
    return client


def set_blocked(actor: User | None, client: Client, blocked: bool, reason: str = "") -> Client:
    """Block (with an optional reason) or unblock a client; unblocking clears the reason."""
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_BLOCK_REASON:
        raise ValidationFailed(
            _("Причина блокировки — не длиннее %(n)s символов", n=MAX_BLOCK_REASON),
            "reason_too_long",
        )
    client.blocked = bool(blocked)
    client.blocked_reason = reason if blocked else ""
    client.updated_at = utcnow()
    with db_proxy.atomic():
        changes.record_change(changes.CLIENT, [client.id])
        client.save()
    return client


def has_open_session(client: Client) -> bool:
    return bool(
        Session.select().where((Session.client == client.id) & Session.ended_at.is_null()).exists()
    )


def delete_client(actor: User | None, client: Client) -> None:
    """Soft delete: the client disappears from lists, its cards, plates and QR codes are
    unlinked (free for others); its ledger and sessions are kept."""
    if has_open_session(client):
        raise Conflict(
            _("У клиента идёт сессия: завершите её, прежде чем удалять клиента"), "open_session"
        )
    now = utcnow()
    with db_proxy.atomic():
        changes.hold_positions()
        linked = Credential.select(Credential.id).where(
            (Credential.client == client.id) & Credential.unlinked_at.is_null()
        )
        # Credentials first: the stand drops them no later than their client.
        changes.record_change(changes.CREDENTIAL, [c.id for c in linked])
        changes.record_change(changes.CLIENT, [client.id])
        Credential.update(unlinked_at=now).where(
            (Credential.client == client.id) & Credential.unlinked_at.is_null()
        ).execute()
        client.deleted_at = now
        client.updated_at = now
        client.save()


def promote_to_member(
    actor: User | None,
    client: Client,
    *,
    name: str,
    phones: Iterable[str] = (),
    email: str = "",
    cards: Iterable[str] = (),
) -> Client:
    """Register a guest as a club member: same client (id, plates, sessions, ledger), now a
    member from today."""
    if client.kind == "member":
        raise Conflict(_("Клиент уже участник клуба"), "already_member")
    name = _clean_name(name, required=True)
    phone_list = _clean_phones(phones)
    email = _clean_email(email)
    card_list = _clean_cards(cards)
    with db_proxy.atomic():
        changes.record_change(changes.CLIENT, [client.id])
        client.kind = "member"
        client.name = name
        client.email = email
        client.member_since = utcnow()
        client.updated_at = client.member_since
        client.save()
        if phone_list:
            _set_phones(client, phone_list)
        for uid in card_list:
            _link(actor, client, "card", uid)
    return client


# --- search ----------------------------------------------------------------------------------


def _credential_holders(kind: str, fragment: str) -> pw.ModelSelect:
    return Credential.select(Credential.client).where(
        (Credential.kind == kind)
        & Credential.unlinked_at.is_null()
        & Credential.value.contains(fragment)
    )


def _plate_fragment(text: str) -> str | None:
    try:
        return normalise_plate(text)
    except RuleError:
        return None


def _phone_fragments(text: str) -> list[str]:
    """What a typed (possibly partial) phone number looks like inside a stored "+7" and ten
    digits."""
    if not _PHONE_LIKE.fullmatch(text):
        return []
    try:
        return [normalise_phone(text)]
    except RuleError:
        pass
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return []
    fragments = [digits]
    if digits.startswith("8"):  # "8 916 …" is how many people start "+7 916 …"
        fragments.append("7" + digits[1:])
    return fragments


def _card_fragment(text: str) -> str | None:
    uid = _UID_SEPARATORS.sub("", text).upper()
    return uid if len(uid) >= 4 and _HEX.fullmatch(uid) else None


def _matches(text: str) -> pw.Expression:
    """Name (case-insensitive, Cyrillic included), phone, plate or card UID containing ``text``."""
    conditions = [Client.search_name.contains(name_search_key(text))]
    plate = _plate_fragment(text)
    if plate:
        conditions.append(Client.id.in_(_credential_holders("plate", plate)))
    for fragment in _phone_fragments(text):
        holders = ClientPhone.select(ClientPhone.client).where(ClientPhone.phone.contains(fragment))
        conditions.append(Client.id.in_(holders))
    card = _card_fragment(text)
    if card:
        conditions.append(Client.id.in_(_credential_holders("card", card)))
    return reduce(operator.or_, conditions)


def search_clients(
    actor: User | None,
    *,
    q: str = "",
    kind: str | None = None,
    site_id: int | None = None,
    blocked: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Client], int]:
    """A page of the clients the actor may see that match, newest first, and the total.

    ``q`` is matched against the name, phones, plates (normalised, so a plate typed with
    Latin letters finds the Cyrillic one) and card UIDs; ``site_id`` keeps the clients of
    that site (home site, or a session there)."""
    if kind is not None and kind not in CLIENT_KINDS:
        raise ValidationFailed(_("Тип клиента: member или guest"), "bad_kind")
    query = _visible(Client.select().where(Client.deleted_at.is_null()), actor)
    if kind is not None:
        query = query.where(Client.kind == kind)
    if site_id is not None:
        query = query.where(of_sites({site_id}))
    if blocked is not None:
        query = query.where(Client.blocked == blocked)
    text = " ".join((q or "").split())[:100]
    if text:
        query = query.where(_matches(text))
    total = query.count()
    rows = list(query.order_by(Client.id.desc()).limit(limit).offset(offset))
    return rows, total


# --- QR codes --------------------------------------------------------------------------------


def _current_qr_credential(client: Client) -> Credential | None:
    return (
        Credential.select()
        .where(
            (Credential.client == client.id)
            & (Credential.kind == "qr")
            & Credential.unlinked_at.is_null()
        )
        .order_by(Credential.created_at.desc(), Credential.id.desc())
        .first()
    )


def issue_qr(actor: User | None, client: Client, config: CloudConfig) -> str:
    """Sign a new QR token for the client and revoke (unlink) the previous one.

    Only the token id is stored, with the issue time as its ``created_at``: Ed25519
    signatures are deterministic, so ``current_qr`` re-creates the same token text."""
    issued_at = int(utcnow().timestamp())
    claims = qrtoken.new_claims(client.id, issued_at)
    token = qrtoken.sign(ensure_qr_key(config), claims)
    with db_proxy.atomic():
        changes.hold_positions()
        current = (Credential.client == client.id) & (Credential.kind == "qr")
        revoked = [
            c.id
            for c in Credential.select(Credential.id).where(
                current & Credential.unlinked_at.is_null()
            )
        ]
        Credential.update(unlinked_at=utcnow()).where(
            (Credential.client == client.id)
            & (Credential.kind == "qr")
            & Credential.unlinked_at.is_null()
        ).execute()
        issued = Credential.create(
            client=client,
            kind="qr",
            value=claims.token_id,
            created_at=datetime.fromtimestamp(issued_at, UTC),
        )
        changes.record_change(changes.CREDENTIAL, [*revoked, issued.id])
        _touch(client)
    return token


def current_qr(actor: User | None, client: Client, config: CloudConfig) -> str | None:
    """The client's current QR token text, or None if none was issued (or it was revoked)."""
    credential = _current_qr_credential(client)
    if credential is None:
        return None
    claims = qrtoken.QrClaims(
        token_id=credential.value,
        client_id=client.id,
        issued_at=int(credential.created_at.timestamp()),
    )
    return qrtoken.sign(ensure_qr_key(config), claims)


def ensure_qr(actor: User | None, client: Client, config: CloudConfig) -> str:
    """The current QR token, issuing the client's first one if there is none."""
    return current_qr(actor, client, config) or issue_qr(actor, client, config)


# --- comments --------------------------------------------------------------------------------


def add_comment(
    actor: User | None, client: Client, text: str, session: Session | None = None
) -> Comment:
    """A staff member's note on the client (and optionally one of their sessions)."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Напишите комментарий"), "comment_required")
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            _("Комментарий — не длиннее %(n)s символов", n=MAX_COMMENT), "comment_too_long"
        )
    if session is not None and session.client_id != client.id:
        raise ValidationFailed(_("Сессия другого клиента"), "bad_session")
    return Comment.create(client=client, session=session, author=actor, text=text)


def _comments() -> pw.ModelSelect:
    """Comments with their author, session, and the stand (and its site) they were written at,
    read in the same query: ``comment.author``, ``.session``, ``.stand.site`` cost nothing."""
    return (
        Comment.select(Comment, User, Session, Stand, Site)
        .join_from(Comment, User, pw.JOIN.LEFT_OUTER, on=(Comment.author == User.id))
        .join_from(Comment, Session, pw.JOIN.LEFT_OUTER, on=(Comment.session == Session.id))
        .join_from(Comment, Stand, pw.JOIN.LEFT_OUTER, on=(Comment.stand == Stand.id))
        .join_from(Stand, Site, pw.JOIN.LEFT_OUTER, on=(Stand.site == Site.id))
        .order_by(Comment.created_at, Comment.id)
    )


def comments_of(client: Client) -> list[Comment]:
    """The client's comment history, oldest first: notes written here and at the stands, and
    the comments given when a session ended (each with its session)."""
    return list(_comments().where(Comment.client == client.id))


def comments_on(session: Session) -> list[Comment]:
    """The comments on one session, oldest first."""
    return list(_comments().where(Comment.session == session.id))


# --- API form --------------------------------------------------------------------------------


def client_dicts(clients: list[Client]) -> list[dict[str, Any]]:
    """The API form of several clients, reading their phones and credentials in two queries."""
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
    return [
        {
            **_client_dict(client, phones[client.id], creds[client.id]),
            "counters": counters[client.id],
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
        "daily_limit_kopecks": credential.daily_limit_kopecks,
        "created_at": iso_utc(credential.created_at),
        "unlinked_at": iso_utc(credential.unlinked_at),
    }
