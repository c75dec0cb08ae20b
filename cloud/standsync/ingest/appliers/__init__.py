"""What the central service does with each event type: one module per type, all in
``APPLIERS``. A test walks ``sync.events.EVENT_TYPES`` against this table both ways, so a
type added to the contract without an applier here fails it."""

from __future__ import annotations

from cloud.standsync.ingest.appliers import (
    card_linked,
    client_registered,
    command_refused,
    comment_added,
    guest_registered,
    session_ended,
    session_started,
    shift_closed,
    shift_opened,
    tap_refused,
    topup_recorded,
)
from cloud.standsync.ingest.context import AnyApplier

APPLIERS: dict[str, AnyApplier] = {
    "session.started": session_started.APPLIER,
    "session.ended": session_ended.APPLIER,
    "topup.recorded": topup_recorded.APPLIER,
    "comment.added": comment_added.APPLIER,
    "guest.registered": guest_registered.APPLIER,
    "client.registered": client_registered.APPLIER,
    "card.linked": card_linked.APPLIER,
    "tap.refused": tap_refused.APPLIER,
    "shift.opened": shift_opened.APPLIER,
    "shift.closed": shift_closed.APPLIER,
    "command.refused": command_refused.APPLIER,
}
# Applied together in runs (``ingest.run``): nearly all of a stand's events.
RUN_KINDS = frozenset(kind for kind, applier in APPLIERS.items() if applier.plan is not None)
