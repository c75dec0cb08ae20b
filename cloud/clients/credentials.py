"""A client's credentials: NFC cards, car plates and QR tokens. A card UID, plate or QR token id
belongs to one client at a time: linking one that another client holds is a ``Conflict``
naming the clash (the holder named only if the actor may see them)."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee as pw
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.clients.entry import entered_plate, is_foreign
from cloud.clients.qrkeys import ensure_qr_key
from cloud.clients.scope import client_label, is_visible, touch
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, NotFound
from cloud.models import (
    Client,
    Credential,
    User,
)
from sync import cards, qrtoken
from sync.errors import RuleError


# --- card UIDs -------------------------------------------------------------------------------
def card_uid(text: str) -> str:
    """A card UID in its canonical form by the shared rule (``sync.cards``: 4, 7, 8 or 10
    bytes of hex, separators and case ignored), refused in the language of the page."""
    try:
        return cards.normalise_card_uid(text)
    except RuleError as error:
        raise RuleError(
            _(
                "Некорректный номер карты: «%(uid)s» — нужен UID из 4, 7, 8 или 10 байт "
                "(8, 14, 16 или 20 шестнадцатеричных знаков)",
                uid=(text if isinstance(text, str) else "").strip()[:40],
            ),
            error.code,  # the same words as the shared rule's, through the catalogue
        ) from None


# --- credentials -----------------------------------------------------------------------------


def _holder_text(actor: User | None, holder_id: int | None, client: Client) -> str:
    """Whom a clashing credential belongs to, named only if the actor may see that client."""
    holder = Client.get_or_none(Client.id == holder_id) if holder_id is not None else None
    if holder is None:
        return _("другому клиенту")
    if holder.id == client.id:
        return _("этому клиенту")
    if is_visible(actor, holder.id):
        return _("клиенту «%(name)s» (№%(id)s)", name=client_label(holder), id=holder.id)
    return _("клиенту другой площадки")


def _clash(kind: str, value: str, owner: str, code: str) -> Conflict:
    if kind == "card":
        message = _("Карта %(uid)s уже привязана к %(owner)s", uid=value, owner=owner)
    else:
        message = _("Номер %(plate)s уже привязан к %(owner)s", plate=value, owner=owner)
    return Conflict(message, code)


def link(
    actor: User | None, client: Client, kind: str, value: str, *, foreign: bool = False
) -> Credential:
    """Link a normalised card UID or plate, refusing one that is already linked; ``foreign``
    marks a plate entered as foreign (``cloud.clients.entry``)."""
    held = Credential.get_or_none(
        (Credential.kind == kind) & (Credential.value == value) & Credential.unlinked_at.is_null()
    )
    if held is not None:
        code = "already_linked" if held.client_id == client.id else f"{kind}_taken"
        raise _clash(kind, value, _holder_text(actor, held.client_id, client), code)
    try:
        with db_proxy.atomic():
            credential = Credential.create(
                client=client, kind=kind, value=value, is_foreign=foreign
            )
            return credential
    except pw.IntegrityError:  # linked by someone else between our check and our insert
        raise _clash(kind, value, _("другому клиенту"), f"{kind}_taken") from None


def _link_one(
    actor: User | None, client: Client, kind: str, value: str, foreign: bool = False
) -> Credential:
    with db_proxy.atomic():
        credential = link(actor, client, kind, value, foreign=foreign)
        touch(client)
        _audit("credential.linked", actor, client, None, credential)
    return credential


def _audit(
    action: str, actor: User | None, client: Client, before: Credential | None, after: Credential
) -> None:
    """The audit log's row of a change to one of ``client``'s credentials."""
    names = ("id", "kind", "value", "lost", "unlinked_at", "is_foreign")
    audit.record(
        action,
        audit.client_target(client),
        audit.fields_of(before, *names) if before is not None else None,
        audit.fields_of(after, *names),
        actor=actor,
    )


def link_card(actor: User | None, client: Client, uid: str) -> Credential:
    return _link_one(actor, client, "card", card_uid(uid))


def link_plate(
    actor: User | None, client: Client, plate: str, *, foreign: bool = False
) -> Credential:
    """Link a plate someone entered: a Russian format, or marked ``foreign``."""
    value = entered_plate(plate, foreign=foreign)
    return _link_one(actor, client, "plate", value, foreign=is_foreign(value))


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
    before = Credential(**credential.__data__)
    with db_proxy.atomic():
        credential.unlinked_at = utcnow()
        credential.save()
        touch(client)
        _audit("credential.unlinked", actor, client, before, credential)
    return credential


def mark_card_lost(actor: User | None, client: Client, credential_id: int) -> Credential:
    """Disable a lost card. It stays linked so that a tap with it is refused, not unknown."""
    credential = _active_credential(client, credential_id)
    if credential.kind != "card":  # /cards/{id} names no card: as good as none
        raise NotFound(_("Потерянной можно отметить только карту"), "not_a_card")
    before = Credential(**credential.__data__)
    with db_proxy.atomic():
        credential.lost = True
        credential.save()
        touch(client)
        _audit("credential.lost", actor, client, before, credential)
    return credential


def active_credentials(client: Client) -> list[Credential]:
    """Linked cards (lost ones included), plates and QR tokens, oldest first."""
    return list(
        Credential.select()
        .where((Credential.client == client.id) & Credential.unlinked_at.is_null())
        .order_by(Credential.kind, Credential.id)
    )


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
        previous = _current_qr_credential(client)
        Credential.update(unlinked_at=utcnow()).where(
            (Credential.client == client.id)
            & (Credential.kind == "qr")
            & Credential.unlinked_at.is_null()
        ).execute()
        Credential.create(
            client=client,
            kind="qr",
            value=claims.token_id,
            created_at=datetime.fromtimestamp(issued_at, UTC),
        )
        touch(client)
        audit.record(
            "qr.issued",
            audit.client_target(client),
            {"qr_token_id": previous.value if previous is not None else None},
            {"qr_token_id": claims.token_id},
            actor=actor,
        )
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
