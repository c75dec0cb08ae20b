"""``shift.closed``: the shift is closed with the cash counted, and the event's ``seq`` ends
its top-ups. A shift this stand never opened (flag ``unknown_shift``) or one closed already
(flag ``duplicate_shift``) is left as it is: the event is stored, the stand's queue goes on."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Shift
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import ShiftClosed


def apply(a: Applying, p: ShiftClosed) -> None:
    shift = Shift.get_or_none((Shift.uuid == p.shift_uuid) & (Shift.stand == a.stand.id))
    if shift is None:
        a.flag("unknown_shift", _("Смена не найдена на этом посту: закрытие записано без действия"))
        return
    if shift.closed_seq is not None:
        a.flag("duplicate_shift", _("Эта смена уже закрыта"))
        return
    shift.counted_kopecks = p.counted_kopecks
    shift.closed_at = a.at
    shift.closed_seq = a.event.seq
    shift.closed_event = a.row
    shift.save()


APPLIER = Applier[ShiftClosed](subject=lambda p: p.shift_uuid, apply=apply)
