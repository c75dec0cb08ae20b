"""Client search by name, phone, car plate or card UID, within the actor's scope."""

from __future__ import annotations

import operator
import re
from functools import reduce

import peewee as pw
from flask_babel import gettext as _

from cloud.clients.scope import of_sites, visible
from cloud.errors import ValidationFailed
from cloud.models import (
    CLIENT_KINDS,
    Client,
    ClientPhone,
    Credential,
    User,
    name_search_key,
)
from sync.cards import compact_card_uid
from sync.errors import RuleError
from sync.phones import normalise_phone
from sync.plates import normalise_plate

_HEX = re.compile(r"[0-9A-F]+")
_PHONE_LIKE = re.compile(r"\+?[\d\s\-().]+")


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
    uid = compact_card_uid(text)
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


MAX_QUERY = 100  # longer than any name, phone, plate or card number


def clean_query(q: str | None) -> str:
    """The search text with its spaces collapsed; refused, not cut, when longer than anything
    it could match (a pasted page of text, or a 5,000-character address)."""
    if q and len(q) > MAX_QUERY:
        raise ValidationFailed(
            _("Строка поиска — не длиннее %(n)s символов", n=MAX_QUERY), "query_too_long"
        )
    return " ".join((q or "").split())


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
    query = visible(Client.select().where(Client.deleted_at.is_null()), actor)
    if kind is not None:
        query = query.where(Client.kind == kind)
    if site_id is not None:
        query = query.where(of_sites({site_id}))
    if blocked is not None:
        query = query.where(Client.blocked == blocked)
    text = clean_query(q)
    if text:
        query = query.where(_matches(text))
    total = query.count()
    rows = list(query.order_by(Client.id.desc()).limit(limit).offset(offset))
    return rows, total
