"""Phone normalisation to "+7XXXXXXXXXX" (Russia) or "+<digits>" (other countries).

Separators (spaces, dashes, dots, slashes, brackets) are removed; a "+" is allowed only
at the start. Without "+": 11 digits starting with 8 or 7, or 10 digits, are Russian.
With "+": "+7" needs exactly 10 more digits; other country codes (never starting with 0)
keep 8 to 15 digits.
Any other character (letters included) is refused rather than silently dropped.
"""

import re

from sync.errors import RuleError

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.()/]+")
_DIGITS = re.compile(r"\+?[0-9]+")
_MAX_INPUT = 40


def normalise_phone(text: str) -> str:
    """Return the canonical phone number or raise RuleError(code "bad_phone")."""
    raw = text if isinstance(text, str) else ""
    compact = _SEPARATORS.sub("", raw)
    if len(compact) <= _MAX_INPUT and _DIGITS.fullmatch(compact):
        digits = compact.lstrip("+")
        if compact.startswith("+"):
            if digits.startswith("7"):
                if len(digits) == 11:
                    return "+" + digits
            elif 8 <= len(digits) <= 15 and digits[0] != "0":
                return "+" + digits
        elif len(digits) == 11 and digits[0] in "78":
            return "+7" + digits[1:]
        elif len(digits) == 10:
            return "+7" + digits
    raise RuleError(f"Некорректный номер телефона: «{raw.strip()[:_MAX_INPUT]}»", "bad_phone")
