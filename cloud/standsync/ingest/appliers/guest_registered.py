"""``guest.registered``: a car's plate becomes a guest client of the stand's site.

- A client uuid registered before: no change (flag ``duplicate_registration``).
- A plate an existing guest holds (two stands registering one car offline): the stand's
  client uuid is attached to that guest (flag ``linked_existing_guest``).
- A plate a member holds: the new guest is left without the plate (flag ``plate_conflict``)."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Client, Credential
from cloud.standsync.ingest.appliers.links import active_credential, registered_before
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import GuestRegistered
from sync.plates import plate_format


def apply(a: Applying, p: GuestRegistered) -> None:
    if registered_before(a, p.client_uuid):
        return
    plate = p.plate
    held = active_credential("plate", plate)
    holder = Client.get_by_id(held.client_id) if held is not None else None
    if holder is not None and holder.kind == "guest" and holder.deleted_at is None:
        if holder.uuid is None:
            Client.update(uuid=p.client_uuid).where(Client.id == holder.id).execute()
        a.row.client = holder
        a.flag("linked_existing_guest", _("Номер %(plate)s уже у гостя: это он", plate=plate))
        return
    guest = Client.create(
        kind="guest",
        uuid=p.client_uuid,
        home_site=a.stand.site_id,
        created_by=a.staff,
        created_at=a.at,
    )
    a.row.client = guest
    if holder is not None:
        a.flag(
            "plate_conflict",
            _("Номер %(plate)s уже у клиента №%(id)s: гость без номера", plate=plate, id=holder.id),
        )
    else:
        # A stand takes a plate of no Russian format only with its "foreign plate" tick.
        Credential.create(
            client=guest,
            kind="plate",
            value=plate,
            created_at=a.at,
            is_foreign=plate_format(plate) is None,
        )


APPLIER = Applier[GuestRegistered](subject=lambda p: p.client_uuid, apply=apply)
