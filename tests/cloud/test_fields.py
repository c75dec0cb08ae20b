"""The API schema's patterns agree with the shared rules they are built from: every text a
pattern allows is one the rule normalises (so the schema never promises what the code refuses),
and every canonical form the rule produces is allowed (so nothing the stands store is refused
when it comes back through the API)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.fields import CARD_UID_PATTERN, DAY_PATTERN, PHONE_PATTERN, PLATE_PATTERN
from cloud.periods import parse_day
from sync.cards import CARD_UID_BYTES, normalise_card_uid
from sync.phones import normalise_phone
from sync.plates import normalise_plate

EXAMPLES = settings(max_examples=300, deadline=None)


@EXAMPLES
@given(st.from_regex(PLATE_PATTERN, fullmatch=True))
def test_every_plate_the_schema_allows_is_a_plate(text: str) -> None:
    assert re.fullmatch(PLATE_PATTERN, normalise_plate(text))


@EXAMPLES
@given(st.from_regex(CARD_UID_PATTERN, fullmatch=True))
def test_every_card_uid_the_schema_allows_can_be_linked(text: str) -> None:
    assert len(normalise_card_uid(text)) // 2 in CARD_UID_BYTES


@EXAMPLES
@given(st.from_regex(PHONE_PATTERN, fullmatch=True))
def test_every_phone_the_schema_allows_is_a_phone(text: str) -> None:
    assert re.fullmatch(PHONE_PATTERN, normalise_phone(text))


@EXAMPLES
@given(st.from_regex(DAY_PATTERN, fullmatch=True))
def test_every_day_the_schema_allows_is_read_or_refused_as_no_such_day(text: str) -> None:
    try:
        parse_day(text, "from")
    except Exception as error:  # 2024-02-30 fits the pattern; the date format refuses it
        assert getattr(error, "code", None) == "bad_date"


def test_the_patterns_refuse_what_the_rules_refuse() -> None:
    assert not re.fullmatch(PLATE_PATTERN, "АВС")  # no digit
    assert not re.fullmatch(PLATE_PATTERN, "А" * 12 + "1")  # 13 signs
    assert not re.fullmatch(CARD_UID_PATTERN, "0102")  # 2 bytes: no reader reports that
    assert not re.fullmatch(CARD_UID_PATTERN, "0102030405")  # 5 bytes
    assert not re.fullmatch(PHONE_PATTERN, "+0123456789")  # no country code starts with 0
    assert not re.fullmatch(DAY_PATTERN, "1999-12-31")  # before the service's calendar
