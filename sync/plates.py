"""Car plate normalisation: one spelling per plate before any lookup.

Upper case; spaces, dashes and dots removed; Latin look-alikes of the Cyrillic letters
А В Е К М Н О Р С Т У Х mapped to Cyrillic, and Ё to Е. Other Latin letters are kept
(foreign plates). So "а123вс77", "A123BC 77" and "А123ВС77" are the same plate.
"""

import re

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
