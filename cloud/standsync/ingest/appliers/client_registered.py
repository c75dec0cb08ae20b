"""``client.registered``: a member joins the club at the stand.

- A client uuid registered before: no change (flag ``duplicate_registration``).
- The guest who became this member (``guest_client_id``/``guest_client_uuid``) becomes the
  member, keeping their history; one not found here gives a new member (flag
  ``unknown_guest``), so does a deleted one (flag ``deleted_client``); one who is a member
  already stays so (flag ``already_member``).
- The name is cleaned as one typed centrally (``cloud.clients.service.clean_name``: no CR,
  LF or other control characters, whitespace collapsed).
- Phones are added; cards and plates are linked, one another client holds is skipped (flag
  ``credential_conflict``). The welcome bonus is given by the loyalty rules."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.clients.service import clean_name
from cloud.loyalty import bonus
from cloud.models import Client, ClientPhone
from cloud.standsync.ingest.appliers.links import link, registered_before
from cloud.standsync.ingest.context import Applier, Applying
from cloud.standsync.ingest.lookups import client_by_uuid, deleted_note
from sync.payloads import ClientRegistered


def _former_guest(p: ClientRegistered) -> Client | None:
    guest_id, guest_uuid = p.guest_client_id, p.guest_client_uuid
    if guest_id is not None:
        return Client.get_or_none(Client.id == guest_id) if guest_id < 2**31 else None
    if guest_uuid is not None:
        return client_by_uuid(guest_uuid)
    return None


def apply(a: Applying, p: ClientRegistered) -> None:
    if registered_before(a, p.client_uuid):
        return
    name = clean_name(p.name, required=False)
    client = _former_guest(p)
    if client is not None and client.deleted_at is not None:
        a.flag("deleted_client", deleted_note(client.id))
        client = None
    elif client is None and (p.guest_client_id or p.guest_client_uuid):
        a.flag("unknown_guest", _("Гость, ставший участником, не найден: новый клиент"))
    if client is None:
        client = Client.create(
            kind="member",
            uuid=p.client_uuid,
            name=name,
            home_site=a.stand.site_id,
            member_since=a.at,
            created_by=a.staff,
            created_at=a.at,
        )
    elif client.kind == "guest":
        client.kind = "member"
        client.name = name
        client.member_since = a.at
        client.updated_at = a.at
        client.uuid = client.uuid or p.client_uuid
        client.save()
    else:
        a.flag("already_member", _("Клиент №%(id)s уже участник клуба", id=client.id))
    a.row.client = client
    bonus.welcome(client, a.rules, at=a.at, event=a.row)
    known = {row.phone for row in ClientPhone.select().where(ClientPhone.client == client.id)}
    for position, phone in enumerate(p.phones, start=len(known)):
        if phone not in known:
            ClientPhone.create(client=client, phone=phone, position=position)
            known.add(phone)
    for plate in p.plates:
        link(a, client, "plate", plate)
    for uid in p.cards:
        link(a, client, "card", uid)


APPLIER = Applier[ClientRegistered](subject=lambda p: p.client_uuid, apply=apply)
