"""Joining the club from the cabinet, and the cabinet account (consent, last log-in, language).

A phone whose code was right joins as a member. A guest the central service knows (by this
phone, or by a plate given) becomes that member through the rule staff use
(``cloud.clients.service.promote_to_member``): same client, same history. The consent to
personal-data processing (152-FZ) is required and kept with the version of its text and the
time; the welcome bonus applies as configured (``points_welcome``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from cloud.cabinet.auth import client_by_phone
from cloud.clients import service as clientbook
from cloud.clients.credentials import link
from cloud.clients.entry import entered_plate, is_foreign
from cloud.config import CloudConfig
from cloud.db import db_proxy
from cloud.errors import Conflict, Unprocessable
from cloud.loyalty import bonus
from cloud.loyalty.settings import effective_rules
from cloud.models import CabinetAccount, CabinetSession, Client, Credential
from sync.errors import RuleError
from sync.plates import normalise_plate

LOCALES = ("ru", "en")


def _plates(texts: Iterable[str], foreign: bool) -> list[str]:
    """The plates a joining client typed: a Russian format unless ``foreign``, except a plate
    stored already (a guest's, from before the formats were checked), which they may claim."""
    plates: list[str] = []
    for text in texts:
        if text.strip():
            plate = normalise_plate(text)
            if not _stored(plate):
                plate = entered_plate(text, foreign=foreign)
            if plate not in plates:
                plates.append(plate)
    return plates


def _stored(plate: str) -> bool:
    return bool(
        Credential.select()
        .where(
            (Credential.kind == "plate")
            & (Credential.value == plate)
            & Credential.unlinked_at.is_null()
        )
        .exists()
    )


def _guest_by_plate(plates: list[str]) -> Client | None:
    """A live guest holding one of ``plates``; a member's plate cannot be claimed (409)."""
    for plate in plates:
        credential = (
            Credential.select()
            .join(Client)
            .where(
                (Credential.kind == "plate")
                & (Credential.value == plate)
                & Credential.unlinked_at.is_null()
                & Client.deleted_at.is_null()
            )
            .first()
        )
        if credential is None:
            continue
        if credential.client.kind != "guest":
            raise Conflict(
                _("Номер %(plate)s уже привязан к участнику клуба", plate=plate), "plate_taken"
            )
        client: Client = credential.client
        return client
    return None


def join(
    phone: str,
    *,
    name: str,
    email: str = "",
    plates: Iterable[str] = (),
    consent: bool,
    config: CloudConfig,
    now: datetime,
    foreign: bool = False,
) -> Client:
    """Register the owner of ``phone`` (its code checked) as a member, or promote the guest
    they were; the consent is recorded. A member with the phone already is returned as is."""
    if not consent:
        raise Unprocessable(
            _("Нужно согласие на обработку персональных данных"), "consent_required"
        )
    try:
        plate_list = _plates(plates, foreign)
    except RuleError as error:
        raise Unprocessable(error.message, error.code) from None
    known = client_by_phone(phone)
    if known is not None and known.kind == "member":
        return known
    with db_proxy.atomic():
        guest = known or _guest_by_plate(plate_list)
        if guest is None:
            # The phone is the client's own (its SMS code was right): no shared-phone warning.
            client = clientbook.create_client(
                None,
                kind="member",
                name=name,
                phones=[phone],
                email=email,
                plates=plate_list,
                foreign=foreign,
                confirmed=True,
            )
        else:
            client = _promote(guest, phone, name, email, plate_list)
        bonus.welcome(client, effective_rules(config), at=now)
        record_consent(client, config.cabinet_consent_version, now)
    return client


def _promote(guest: Client, phone: str, name: str, email: str, plates: list[str]) -> Client:
    phones = [phone, *(p for p in clientbook.phones_of(guest) if p != phone)]
    client = clientbook.promote_to_member(
        None, guest, name=name, phones=phones, email=email, confirmed=True
    )
    held = {
        row.value
        for row in Credential.select().where(
            (Credential.client == client.id)
            & (Credential.kind == "plate")
            & Credential.unlinked_at.is_null()
        )
    }
    for plate in plates:
        if plate not in held:
            link(None, client, "plate", plate, foreign=is_foreign(plate))
    return client


def account_of(client: Client) -> CabinetAccount | None:
    return CabinetAccount.get_or_none(CabinetAccount.client == client.id)


def record_consent(client: Client, version: str, now: datetime) -> None:
    account, _created = CabinetAccount.get_or_create(client=client)
    account.consent_version = version
    account.consent_at = now
    account.save()


def set_locale(client: Client, locale: str) -> None:
    if locale not in LOCALES:
        raise Unprocessable(_("Язык: ru или en"), "bad_locale")
    account, _created = CabinetAccount.get_or_create(client=client)
    account.locale = locale
    account.save()


@dataclass(frozen=True)
class CabinetUse:
    """What the staff's client page shows of a client's cabinet."""

    uses_cabinet: bool
    live_sessions: int
    consent_version: str
    consent_at: datetime | None
    last_login_at: datetime | None


def cabinet_use(client: Client) -> CabinetUse:
    account = account_of(client)
    live = (
        CabinetSession.select()
        .where((CabinetSession.client == client.id) & CabinetSession.ended_at.is_null())
        .count()
    )
    return CabinetUse(
        uses_cabinet=account is not None and account.last_login_at is not None,
        live_sessions=live,
        consent_version=account.consent_version if account else "",
        consent_at=account.consent_at if account else None,
        last_login_at=account.last_login_at if account else None,
    )
