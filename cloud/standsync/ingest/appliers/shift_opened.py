"""``shift.opened``: an attendant's shift at the stand is stored (cloud/shifts/), with the
cash in the drawer and the event's ``seq``, from which the shift's top-ups count. A shift
whose uuid is stored already (resent under a new id) has no second effect (flag
``duplicate_shift``)."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Shift
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import ShiftOpened


def apply(a: Applying, p: ShiftOpened) -> None:
    if Shift.select().where(Shift.uuid == p.shift_uuid).exists():
        a.flag("duplicate_shift", _("Эта смена уже открыта"))
        return
    Shift.create(
        uuid=p.shift_uuid,
        stand=a.stand.id,
        site=a.stand.site_id,
        user=a.staff,
        opening_kopecks=p.cash_kopecks,
        opened_at=a.at,
        opened_seq=a.event.seq,
        opened_event=a.row.id,
    )


APPLIER = Applier[ShiftOpened](subject=lambda p: p.shift_uuid, apply=apply)
