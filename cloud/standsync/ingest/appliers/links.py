"""Linking a card or plate to a client from a stand's event (``client.registered``,
``card.linked``), and the check for a registration applied before."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Client, Credential
from cloud.standsync.ingest.context import Applying
from cloud.standsync.ingest.lookups import client_by_uuid
from sync.plates import plate_format


def active_credential(kind: str, value: str) -> Credential | None:
    """The client's credential of this kind and value that is linked now, if any."""
    return Credential.get_or_none(
        (Credential.kind == kind) & (Credential.value == value) & Credential.unlinked_at.is_null()
    )


def link(a: Applying, client: Client, kind: str, value: str) -> None:
    """Link a card or plate; one held by another client is skipped and flagged
    (``credential_conflict``)."""
    held = active_credential(kind, value)
    if held is None:
        # A stand takes a plate of no Russian format only with its "foreign plate" tick.
        foreign = kind == "plate" and plate_format(value) is None
        Credential.create(
            client=client, kind=kind, value=value, created_at=a.at, is_foreign=foreign
        )
    elif held.client_id != client.id:
        a.flag(
            "credential_conflict",
            _("%(value)s уже у клиента №%(id)s: не привязан", value=value, id=held.client_id),
        )


def registered_before(a: Applying, client_uuid: str) -> bool:
    """Whether a client was registered under ``client_uuid`` already (the event then has no
    effect: flag ``duplicate_registration``)."""
    existing = client_by_uuid(client_uuid)
    if existing is None:
        return False
    a.row.client = existing
    a.flag("duplicate_registration", _("Клиент уже зарегистрирован: без изменений"))
    return True
