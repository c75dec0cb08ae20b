"""Money: integer kopecks everywhere, displayed as roubles ("1 250,00 ₽").

No floats are used: amounts are parsed from text digit by digit.
"""

import re

from sync.errors import RuleError

NBSP = "\u00a0"
MAX_ROUBLES = 100_000_000
MAX_KOPECKS = MAX_ROUBLES * 100

_SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space
_AMOUNT = re.compile(
    rf"(?P<sign>[-\u2212])?"
    rf"(?P<int>[0-9]{{1,3}}(?:[{_SPACES}][0-9]{{3}})+|[0-9]+)"
    rf"(?:[.,](?P<frac>[0-9]+))?"
    rf"(?:[{_SPACES}]?₽)?"
)
_MAX_INPUT = 40


def format_kopecks(k: int) -> str:
    """Format kopecks as roubles: 125000 -> "1 250,00 ₽" (no-break spaces, "-" for negatives)."""
    sign = "-" if k < 0 else ""
    roubles, kopecks = divmod(abs(k), 100)
    grouped = f"{roubles:,}".replace(",", NBSP)
    return f"{sign}{grouped},{kopecks:02d}{NBSP}₽"


def parse_roubles(text: str, *, allow_negative: bool = False) -> int:
    """Parse roubles typed by a person ("1 250,50", "1250.5", " 12 ") into integer kopecks.

    Thousands may be grouped by spaces in threes, the decimal separator is a comma or a
    dot with at most two digits after it, and a trailing "₽" is allowed (so the output of
    `format_kopecks` parses back). A leading minus is accepted only with `allow_negative`.
    Raises RuleError(code "bad_amount") otherwise.
    """
    cleaned = text.strip(" \t\r\n" + _SPACES) if isinstance(text, str) else ""
    if not cleaned:
        raise RuleError("Введите сумму", "bad_amount")
    match = _AMOUNT.fullmatch(cleaned) if len(cleaned) <= _MAX_INPUT else None
    if match is None:
        raise RuleError(f"Некорректная сумма: «{cleaned[:_MAX_INPUT]}»", "bad_amount")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise RuleError("Укажите не больше двух знаков после запятой", "bad_amount")
    if match["sign"] and not allow_negative:
        raise RuleError("Сумма не может быть отрицательной", "bad_amount")
    digits = re.sub(f"[{_SPACES}]", "", match["int"])
    kopecks = int(digits) * 100 + int(frac.ljust(2, "0"))
    if kopecks > MAX_KOPECKS:
        raise RuleError(
            f"Слишком большая сумма: не больше {format_kopecks(MAX_KOPECKS)}", "bad_amount"
        )
    return -kopecks if match["sign"] else kopecks
