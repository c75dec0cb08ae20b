"""The bulk writes' rows (cloud/db.py ``insert_rows``, ``update_rows``; a stand's batch goes
through them): on PostgreSQL each value reaches JSON as its field's ``db_value`` makes it,
though the conversion is skipped where it would change nothing; and a session planned by
ingest carries a value for every column of ``Session``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import peewee
import pytest

from cloud.db import _json_rows, _json_value
from cloud.models import LedgerEntry, Session, Stand, StandEvent
from cloud.standsync.ingest.appliers import APPLIERS
from cloud.standsync.ingest.plan import Plan
from sync.events import validate_event
from tests.cloud.conftest import World
from tests.cloud.eventstream import Stream

NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _by_db_value(rows: list[dict[str, Any]], fields: list[peewee.Field]) -> Any:
    """The rows as each field's ``db_value`` and ``_json_value`` make them, one value at a time."""
    data = [{f.column_name: f.db_value(row[f.name]) for f in fields} for row in rows]
    return json.loads(json.dumps(data, default=_json_value, ensure_ascii=False))


def _event_row(number: int, **changes: Any) -> dict[str, Any]:
    row = {
        "stand": 1,
        "seq": number,
        "event_uuid": f"00000000-0000-4000-8000-{number:012d}",
        "type": "session.started",
        "occurred_at_raw": "2026-03-01T09:30:15Z",
        "occurred_at": NOW + timedelta(seconds=number),
        "time_source": "clock",
        "boot_id": "00000000-0000-4000-8000-000000000000",
        "mono_ms": 1000 * number,
        "actor": "card",
        "directory_version": 3,
        "payload": json.dumps({"comment": "мойка «люкс»"}, ensure_ascii=False),
        "subject_uuid": None,
        "client": 7,
        "flag": "",
        "flag_note": "",
        "received_at": NOW,
    }
    return {**row, **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"occurred_at": NOW.replace(microsecond=0)},  # no fraction: str() leaves it out
        {"received_at": NOW.astimezone(timezone(timedelta(hours=3)))},  # aware, not UTC
        {"stand": Stand(id=4)},  # a model for a foreign key: its id
        {"seq": True, "directory_version": 2.0},  # not exactly int: converted as before
        {"actor": 15, "flag": b"late"},  # not exactly str: converted as before
        {"client": None, "subject_uuid": None},
    ],
)
def test_bulk_rows_carry_what_each_fields_db_value_makes(changes: dict[str, Any]) -> None:
    rows = [_event_row(1), _event_row(2, **changes), _event_row(3)]
    fields = [StandEvent._meta.fields[name] for name in rows[0]]

    sent = _json_rows(rows, fields)

    assert sent is not None
    assert json.loads(sent) == _by_db_value(rows, fields)


def test_a_utc_time_goes_as_naive_utc_text() -> None:
    fields = [LedgerEntry._meta.fields["created_at"]]
    rows = [{"created_at": NOW}, {"created_at": NOW.astimezone(timezone(timedelta(hours=-5)))}]

    sent = _json_rows(rows, fields)

    assert sent is not None
    assert [row["created_at"] for row in json.loads(sent)] == ["2026-03-01 09:30:15.123456"] * 2


def test_a_naive_time_in_bulk_rows_is_refused_as_by_the_field() -> None:
    fields = [LedgerEntry._meta.fields["created_at"]]

    with pytest.raises(ValueError, match="naive"):
        _json_rows([{"created_at": NOW}, {"created_at": NOW.replace(tzinfo=None)}], fields)


def test_a_planned_session_has_a_value_for_every_column(world: World) -> None:
    stream = Stream(world.stand_a.id)
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    event = validate_event(started)
    plan = Plan(Stand.get_by_id(world.stand_a.id), [event])
    row: dict[str, Any] = {"actor": "card", "occurred_at": NOW, "flag": "", "flag_note": ""}

    planner = APPLIERS["session.started"].plan
    assert planner is not None
    planner(plan, event.data, row)

    session = plan.new_sessions[session_uuid]
    assert set(session.__data__) == set(Session._meta.fields) - {"id"}
    assert (session.client_id, session.stand_id, session.started_at) == (
        world.member.id,
        world.stand_a.id,
        NOW,
    )
    assert session.force_closed is False and session.ended_at is None
