"""The values a JSON API request may carry, as pydantic types whose JSON Schema says exactly what
they accept: the OpenAPI document (cloud/api/openapi.py) is generated from them, and a value
the schema allows is one the code takes (or refuses only for a reason no schema can state: a
row that does not exist, a rule between two fields). Each type is checked by pydantic with the
same pattern or range it publishes, before the shared rules normalise it.

Texts refuse control characters (a multi-line text keeps tab and line breaks), and so lone
surrogates, which pydantic refuses for any string with a pattern: such text is a 400, never a
database error. Whole numbers are JSON Schema's integers: ``5`` and ``5.0`` alike, never
``"5"`` or ``true``.

The patterns of card UIDs, plates and phones are built from the shared rules' own figures
(``sync.cards``, ``sync.plates``, ``sync.phones``) and accept a subset of what those rules
normalise, with the usual separators (tests/cloud/test_fields.py checks both ways)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from cloud.db import MAX_ROW_ID
from cloud.errors import DomainError, ValidationFailed
from sync.cards import CARD_UID_BYTES, normalise_card_uid
from sync.errors import RuleError
from sync.phones import normalise_phone
from sync.plates import MAX_PLATE, MIN_PLATE, PLATE_LETTERS, normalise_plate

# 1 000 000 ₽: larger top-ups, adjustments and limits are typing slips; keeps sums in 32 bits.
MAX_AMOUNT_KOPECKS = 100_000_000

# --- the services' words ----------------------------------------------------------------------

Rule = Callable[[Any], object]  # a service's check of one value: raises DomainError or RuleError


def refusal(code: str, words: Callable[[], str]) -> Rule:
    """A rule that refuses whatever reaches it, in these words (for values only a range
    or a pattern can refuse)."""

    def rule(_value: Any) -> None:
        raise ValidationFailed(words(), code)

    return rule


def said_by(rule: Rule, kind: type = object) -> WrapValidator:
    """When the checks before it (the schema's) refuse a value, the service's own rule says why,
    with its code and its words, as if the value had reached it; a value the rule would take
    (a control character, a separator the pattern leaves out) is refused in general words."""

    def check(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                try:
                    rule(value)
                except (DomainError, RuleError) as refused:
                    raise _refused(refused.code, refused.message) from None
                except Exception:  # noqa: S110 (a value of a shape the rule never sees)
                    pass
            if error.errors()[0]["type"] == "string_pattern_mismatch":
                raise _refused("bad_text", _("Недопустимые символы или формат")) from None
            raise

    return WrapValidator(check)


def _refused(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, "{message}", {"message": message, "refused": True})


# --- whole numbers ----------------------------------------------------------------------------


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as the integer 5; pydantic's strict int would not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole(ge: int, le: int, description: str | None = None) -> Any:
    """A whole number from ``ge`` to ``le``."""
    # The before-validator last: it still runs first, and the range shows in the JSON Schema.
    return Annotated[
        int, Strict(), Field(ge=ge, le=le, description=description), BeforeValidator(_integral)
    ]


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("0")
    return value


def non_zero(limit: int, description: str | None = None) -> Any:
    """A whole number from −``limit`` to ``limit``, not 0."""
    return Annotated[
        int,
        Strict(),
        Field(
            ge=-limit, le=limit, description=description, json_schema_extra={"not": {"const": 0}}
        ),
        AfterValidator(_not_zero),
        BeforeValidator(_integral),
    ]


RowId = whole(1, MAX_ROW_ID)
Kopecks = whole(1, MAX_AMOUNT_KOPECKS, "kopecks, 1 to 100 000 000")

# --- texts ------------------------------------------------------------------------------------

_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_CONTROLS_BUT_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # tab, LF and CR stay


def _text(controls: str, max_length: int, required: bool, description: str | None) -> Any:
    pattern = (
        rf"^[^{controls}]*[^\s{controls}][^{controls}]*$" if required else rf"^[^{controls}]*$"
    )
    return Annotated[str, Field(max_length=max_length, pattern=pattern, description=description)]


def line(max_length: int, *, required: bool = True, description: str | None = None) -> Any:
    """One line of text, at most ``max_length`` characters; ``required``: not blank."""
    return _text(_CONTROLS, max_length, required, description)


def text(max_length: int, *, required: bool = True, description: str | None = None) -> Any:
    """Text that may span lines, at most ``max_length`` characters; ``required``: not blank."""
    return _text(_CONTROLS_BUT_BREAKS, max_length, required, description)


Password = Annotated[str, Field(min_length=8, max_length=200, pattern=rf"^[^{_CONTROLS}]*$")]
# A new PIN (cloud/staff/auth.py set_pin: shorter ones set before keep working, none is new).
MIN_PIN_DIGITS, MAX_PIN_DIGITS = 6, 8
Pin = Annotated[
    str,
    Field(
        pattern=rf"^(?:[0-9]{{{MIN_PIN_DIGITS},{MAX_PIN_DIGITS}}})?$",
        description=f"{MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits, or empty",
    ),
]
EMAIL_PATTERN = rf"^(?:[^@\s{_CONTROLS}]+@[^@\s{_CONTROLS}]+\.[^@\s{_CONTROLS}]+)?$"
EmailText = Annotated[str, Field(max_length=200, pattern=EMAIL_PATTERN, description="or empty")]

# --- cards, plates, phones ------------------------------------------------------------------


def _repeat(unit: str, separators: str, times: str) -> str:
    return f"(?:{unit}{separators}*){{{times}}}"


_CARD_SEPARATORS = "[ :-]"
CARD_UID_PATTERN = "^{s}*(?:{alternatives})$".format(
    s=_CARD_SEPARATORS,
    alternatives="|".join(
        _repeat("[0-9A-Fa-f]", _CARD_SEPARATORS, str(2 * n)) for n in CARD_UID_BYTES
    ),
)
CardUid = Annotated[
    str,
    Field(
        pattern=CARD_UID_PATTERN,
        description="NFC UID of 4, 7, 8 or 10 bytes in hex; spaces, colons, dashes ignored",
    ),
    said_by(normalise_card_uid, str),
]


def _plate_pattern() -> str:
    """2 to 12 letters and digits with at least one digit: the first digit's place is spelled
    out (the checking engine has no look-ahead)."""
    upper = PLATE_LETTERS
    letters = upper + upper.lower() + "Ёё"
    letter, sign, separators = f"[{letters}]", f"[0-9{letters}]", "[ .\\-\u2010-\u2015\u2212]"
    branches = []
    for before in range(MAX_PLATE):
        low, high = max(0, MIN_PLATE - 1 - before), MAX_PLATE - 1 - before
        branches.append(
            _repeat(letter, separators, str(before))
            + f"[0-9]{separators}*"
            + _repeat(sign, separators, f"{low},{high}")
        )
    return f"^{separators}*(?:{'|'.join(branches)})$"


PLATE_PATTERN = _plate_pattern()
Plate = Annotated[
    str,
    Field(
        pattern=PLATE_PATTERN,
        description="car plate: 2 to 12 letters and digits with a digit; spaces, dots, dashes ignored",
    ),
    said_by(normalise_plate, str),
]

_PHONE_SEPARATORS = r"[ ().\-/]"


def _digits(count: str) -> str:
    return _repeat("[0-9]", _PHONE_SEPARATORS, count)


PHONE_PATTERN = "^{s}*(?:\\+{s}*7{s}*{ten}|\\+{s}*[1-689]{s}*{more}|[78]{s}*{ten}|{ten})$".format(
    s=_PHONE_SEPARATORS, ten=_digits("10"), more=_digits("7,14")
)
Phone = Annotated[
    str,
    Field(
        pattern=PHONE_PATTERN,
        description="+7 and 10 digits (or 8…, or 10 digits), or + and 8 to 15 digits",
    ),
    said_by(normalise_phone, str),
]

# --- days -------------------------------------------------------------------------------------

FIRST_YEAR, LAST_YEAR = 2000, 2100  # the service's calendar: reports, statements, filters
_YEAR = "(?:20[0-9]{2}|2100)"
MONTH_PATTERN = rf"^{_YEAR}-(?:0[1-9]|1[0-2])$"
DAY_PATTERN = rf"^{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"


def _day_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(DAY_PATTERN, value):
        raise ValueError(f"YYYY-MM-DD, {FIRST_YEAR} to {LAST_YEAR}")
    return value


Day = Annotated[
    date,
    BeforeValidator(_day_text),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]


# --- query parameters -------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,10}")


def query_row_id(text: str | None, name: str) -> int | None:
    """A row id (1 to 2³¹−1, where PostgreSQL's integer columns end) given in a query string,
    or None when absent or empty; anything else is a 400."""
    if not text:
        return None
    whole = _WHOLE_NUMBER.fullmatch(text)  # "3", or "3.0": JSON Schema's integer 3 as well
    if whole is None or not 1 <= int(whole[1]) <= MAX_ROW_ID:
        raise ValidationFailed(_("%(name)s: нужно целое число", name=name), "bad_parameter")
    return int(whole[1])


_WHOLE_NUMBER = re.compile(r"([0-9]{1,10})(?:\.0+)?")


# --- moments ----------------------------------------------------------------------------------

# RFC 3339, as JSON Schema's date-time: pydantic alone would also take "1700000000" or a space.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _moment_text(value: Any) -> Any:
    # Not a number either: pydantic would read 0 as 1970-01-01 (a date-time is a string).
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        raise ValueError("RFC 3339 date-time with a time zone")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_moment_text)]
