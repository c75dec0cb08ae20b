"""Every event type of the contract (``sync.events``) has its central applier, and nothing
else does: a type added to the contract without one fails here by itself."""

from __future__ import annotations

import typing

import pytest

from cloud.standsync.ingest.appliers import APPLIERS, RUN_KINDS
from sync.events import EVENT_TYPES, PAYLOAD_READERS


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_central_applier(event_type: str) -> None:
    assert event_type in APPLIERS, f"{event_type} has no applier in cloud.standsync.ingest"


def test_every_central_applier_is_for_an_event_type_of_the_contract() -> None:
    assert set(APPLIERS) - set(EVENT_TYPES) == set()


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_an_applier_reads_the_payload_its_type_is_read_into(event_type: str) -> None:
    applier = APPLIERS[event_type]
    applies = [f for f in (applier.plan, applier.apply) if f is not None]

    assert len(applies) == 1  # planned in runs, or applied one by one: never both
    read_into = typing.get_type_hints(PAYLOAD_READERS[event_type])["return"]
    for function in (*applies, applier.check):
        if function is not None:
            assert typing.get_type_hints(function)["p"] is read_into, function.__module__


def test_sessions_topups_and_refused_taps_are_applied_in_runs() -> None:
    assert {"session.started", "session.ended", "topup.recorded", "tap.refused"} == RUN_KINDS
