"""Car plates: one spelling per plate before any lookup, and the Russian plate formats.

Upper case; spaces, dashes and dots removed; Latin look-alikes of the Cyrillic letters
А В Е К М Н О Р С Т У Х mapped to Cyrillic, and Ё to Е. Other Latin letters are kept
(foreign plates). So "а123вс77", "A123BC 77" and "А123ВС77" are the same plate.

``normalise_plate`` is what every lookup and every stored plate goes through (plates stored
before the formats were checked stay valid). ``check_new_plate`` is for a plate a person
enters: it must also match one of ``PLATE_FORMATS`` (GOST R 50577-2018) unless it is marked
foreign::

    check_new_plate("a123bc 77", foreign=False)   # "А123ВС77"
    check_new_plate("B-123-XYZ", foreign=True)    # "В123XYZ" (kept, marked foreign)
"""

import re
from typing import NamedTuple

from sync.errors import RuleError

_LOOKALIKES = str.maketrans("ABEKMHOPCTYXЁ", "АВЕКМНОРСТУХЕ")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.]+")
# What a plate is made of once normalised (the central API's schema is built from these).
PLATE_LETTERS = "A-ZА-Я"
MIN_PLATE, MAX_PLATE = 2, 12
_VALID = re.compile(f"[0-9{PLATE_LETTERS}]{{{MIN_PLATE},{MAX_PLATE}}}")
_DIGIT = re.compile(r"[0-9]")


def normalise_plate(text: str) -> str:
    """Return the canonical form of a car plate, or raise RuleError(code "bad_plate").

    The result is 2 to 12 digits and Cyrillic or Latin capital letters, with at least
    one digit.
    """
    raw = text if isinstance(text, str) else ""
    plate = _SEPARATORS.sub("", raw.upper()).translate(_LOOKALIKES)
    if not _VALID.fullmatch(plate) or not _DIGIT.search(plate):
        shown = raw.strip()[:20]
        raise RuleError(f"Некорректный номер автомобиля: «{shown}»", "bad_plate")
    return plate


# --- the Russian formats (GOST R 50577-2018) ----------------------------------------------------

# The 12 Cyrillic letters a Russian plate may carry (those with a Latin look-alike).
PLATE_CYRILLIC = "АВЕКМНОРСТУХ"
# A region code: 01..99, or three digits (102, 116, 750, 777, 977 …).
_REGION = "(?:0[1-9]|[1-9][0-9]|[1-9][0-9]{2})"


class PlateFormat(NamedTuple):
    """One registration plate format: ``shape`` uses ``L`` for one of the 12 letters, ``9``
    for a digit, ``R`` for the region code (2 or 3 digits); anything else is itself
    (the diplomatic plates' Latin ``CD``, ``D``, ``T``, in normalised form)."""

    name: str
    label: str  # Russian, for messages and the page
    example: str  # as written on the plate (normalised by check_new_plate)
    shape: str


# A new format is one row. Shapes that coincide (a motorcycle's and a military plate) are
# listed once each so that a message can name both; the first match names the plate.
PLATE_FORMATS: tuple[PlateFormat, ...] = (
    PlateFormat("private", "частный", "А123ВС77", "L999LLR"),
    PlateFormat("taxi", "такси и маршрутный транспорт", "АВ12377", "LL999R"),
    PlateFormat("trailer", "прицеп", "АВ123477", "LL9999R"),
    PlateFormat("motorcycle", "мотоцикл, трактор", "1234АВ77", "9999LLR"),
    PlateFormat("transit", "транзитный", "АВ123С77", "LL999LR"),
    PlateFormat("diplomatic_head", "дипломатический (глава миссии)", "123CD177", "999СD9R"),
    PlateFormat("diplomatic", "дипломатический", "123D12377", "999D999R"),
    PlateFormat("diplomatic_staff", "технический персонал миссии", "123T12377", "999Т999R"),
    PlateFormat("police", "полиция", "А123477", "L9999R"),
    PlateFormat("police_motorcycle", "мотоцикл полиции", "1234А77", "9999LR"),
    PlateFormat("military", "воинская часть", "1234АВ50", "9999LLR"),
)


def _pattern(shape: str) -> re.Pattern[str]:
    parts = {"L": f"[{PLATE_CYRILLIC}]", "9": "[0-9]", "R": _REGION}
    return re.compile("".join(parts.get(c, re.escape(c)) for c in shape))


_COMPILED = tuple((fmt, _pattern(fmt.shape)) for fmt in PLATE_FORMATS)


def plate_format(plate: str) -> PlateFormat | None:
    """The first Russian format a normalised plate matches, or None (foreign or mistyped)."""
    for fmt, pattern in _COMPILED:
        if pattern.fullmatch(plate):
            return fmt
    return None


def formats_text() -> str:
    """The formats named with an example each, for a refusal message."""
    return "; ".join(f"{fmt.label} {fmt.example}" for fmt in PLATE_FORMATS)


def check_new_plate(text: str, *, foreign: bool) -> str:
    """Normalise a plate a person enters and check it against the Russian formats, unless
    ``foreign``; raise RuleError(code "bad_plate") or RuleError(code "plate_format")."""
    plate = normalise_plate(text)
    if not foreign and plate_format(plate) is None:
        raise RuleError(
            f"Номер «{plate}» не похож на российский ({formats_text()}). "
            "Для иностранного номера отметьте «Иностранный номер».",
            "plate_format",
        )
    return plate
