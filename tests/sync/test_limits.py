"""A card's daily limit as both sides compute it, the credential a session was started with in
the session.started event, and the limit in the directory document."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.directory import validate_directory
from sync.directorypage import validate_directory_page
from sync.errors import RuleError
from sync.events import validate_event
from sync.limits import limit_reached, local_day, went_over
from tests.sync.test_directory import GOOD, page_with
from tests.sync.test_events import event


def test_a_local_day_runs_from_local_midnight_to_the_next() -> None:
    # 22:30 UTC on the 1st is 01:30 on the 2nd in Moscow (UTC+3).
    start, end = local_day(datetime(2026, 3, 1, 22, 30, tzinfo=UTC), "Europe/Moscow")

    assert start == datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spent", "limit", "reached", "over"),
    [
        (0, None, False, False),
        (149_999, 150_000, False, False),
        (150_000, 150_000, True, False),
        (150_001, 150_000, True, True),
    ],
)
def test_the_limit_gates_starts_at_reaching_it_and_flags_going_past_it(
    spent: int, limit: int | None, reached: bool, over: bool
) -> None:
    assert limit_reached(spent, limit) is reached
    assert went_over(spent, limit) is over


def started(**payload: Any) -> dict[str, Any]:
    raw = event("session.started")
    raw["payload"].update(payload)
    return raw


@pytest.mark.parametrize(
    ("kind", "value"),
    [("card", "04A1B2C3"), ("plate", "А123ВС77"), ("qr", "0123456789abcdef0123456789abcdef")],
)
def test_a_start_names_the_card_plate_or_qr_code_it_was_made_with(kind: str, value: str) -> None:
    payload = validate_event(started(credential_kind=kind, credential_value=value)).payload

    assert (payload["credential_kind"], payload["credential_value"]) == (kind, value)


def test_a_start_from_an_older_stand_without_the_keys_names_no_credential() -> None:
    raw = started()
    del raw["payload"]["credential_kind"], raw["payload"]["credential_value"]

    payload = validate_event(raw).payload

    assert (payload["credential_kind"], payload["credential_value"]) == (None, None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"credential_kind": "card", "credential_value": "xyz"}, "credential_value"),
        ({"credential_kind": "plate", "credential_value": "a123bc77"}, "credential_value"),
        ({"credential_kind": "qr", "credential_value": "AQ1.whole-token"}, "credential_value"),
        ({"credential_kind": "card", "credential_value": None}, "credential_value"),
        ({"credential_kind": None, "credential_value": "04A1B2C3"}, "credential_kind"),
        ({"credential_kind": "phone", "credential_value": "04A1B2C3"}, "credential_kind"),
    ],
)
def test_a_bad_credential_on_a_start_is_refused_naming_the_field(
    payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(RuleError, match=f"payload.{field}"):
        validate_event(started(**payload))


def test_a_card_limit_travels_in_the_directory_and_an_absent_one_is_none() -> None:
    doc = copy.deepcopy(GOOD)
    doc["credentials"][0]["daily_limit_kopecks"] = 150_000

    directory = validate_directory(doc)

    limits = {c.value: c.daily_limit_kopecks for c in directory.credentials}
    assert limits["04A1B2C3D4E5F6"] == 150_000
    assert limits["А123ВС77"] is None
    assert validate_directory(directory.to_dict()) == directory


def test_a_negative_card_limit_is_refused() -> None:
    doc = copy.deepcopy(GOOD)
    doc["credentials"][0]["daily_limit_kopecks"] = -1

    with pytest.raises(RuleError, match="daily_limit_kopecks"):
        validate_directory(doc)


def test_a_directory_page_carries_the_limit() -> None:
    def limited(page: dict[str, Any]) -> None:
        page["upserts"]["credentials"][0]["daily_limit_kopecks"] = 50_000

    page = validate_directory_page(page_with(limited))

    assert page.credentials[0].daily_limit_kopecks == 50_000
