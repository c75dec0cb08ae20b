"""What every directory answer to a stand needs to know first, read in one round trip.

A head (protocols 2 and 3) or a page (protocol 1) says the stand's acknowledged seq, the owner's
point value and the stand's default tariff, and sends staff, commands and client details only
when there are some. These were ten small reads a poll; at thousands of stands building and
sending them was most of a head's cost (bench/fleet.py). ``stand_facts`` answers them all with
one prepared statement (cloud/prepared.py): the scalars themselves, and for staff, commands and
details only whether there are any, so the reads of those run only when they would find
something.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from cloud import changes
from cloud.models import DirectoryChange, LoyaltySetting, Site, StandCommand, StandEvent
from cloud.prepared import Prepared

POINTS_VALUE = "points_value_kopecks"


@dataclass(frozen=True)
class StandFacts:
    newest: int  # the last position handed out
    acked_seq: int  # the highest seq applied from the stand (0: none)
    points_value: str | None  # the owner's saved point value (None: the configuration's)
    site_default_tariff_id: int | None
    tariffs_at: tuple[int, int]  # the tariff entries' newest position and count
    staff_changed: bool  # a staff entry after the cursor
    commands_pending: bool  # a command of the stand not done
    details_changed: bool  # an entry of the details entity after ``since``


def _facts(
    stand_id: int, site_id: int, cursor: int, commands_of: int, entity: str, since: int
) -> pw.Select:
    def after(stream: str | pw.Node, position: int | pw.Node) -> pw.Node:
        return pw.fn.EXISTS(
            DirectoryChange.select(DirectoryChange.id).where(
                (DirectoryChange.entity == stream) & (DirectoryChange.position > position)
            )
        )

    tariffs = DirectoryChange.select().where(DirectoryChange.entity == changes.TARIFF)
    columns = [
        changes.position_query(),
        StandEvent.select(pw.fn.MAX(StandEvent.seq)).where(StandEvent.stand == stand_id),
        LoyaltySetting.select(LoyaltySetting.value).where(LoyaltySetting.name == POINTS_VALUE),
        Site.select(Site.default_tariff).where(Site.id == site_id),
        tariffs.select(pw.fn.MAX(DirectoryChange.position)),
        tariffs.select(pw.fn.COUNT(DirectoryChange.id)),
        after(changes.STAFF, cursor),
        pw.fn.EXISTS(
            StandCommand.select(StandCommand.id).where(
                (StandCommand.stand == commands_of) & StandCommand.done_at.is_null()
            )
        ),
        after(entity, since),
    ]
    return pw.Select(columns=columns).tuples()


_FACTS = Prepared(_facts)


def stand_facts(
    stand_id: int, site_id: int, cursor: int, entity: str = changes.DETAILS, since: int = 0
) -> StandFacts:
    """The stand's facts in the caller's snapshot: staff changed after ``cursor``, details
    (``entity``'s entries) after ``since``."""
    ((newest, acked, points, site_default, tariff_max, tariff_count, staff, orders, details),) = (
        _FACTS.rows(stand_id, site_id, cursor, stand_id, entity, since)
    )
    return StandFacts(
        newest=int(newest or 0),
        acked_seq=int(acked or 0),
        points_value=points,
        site_default_tariff_id=site_default,
        tariffs_at=(int(tariff_max or 0), int(tariff_count or 0)),
        staff_changed=bool(staff),
        commands_pending=bool(orders),
        details_changed=bool(details),
    )
