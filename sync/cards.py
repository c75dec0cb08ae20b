"""NFC card UIDs: one spelling, and which UIDs a card may be linked or registered with.

A UID is kept as upper-case hex without separators: "04:a1:b2:c3", "04 A1 B2 C3" and
"04A1B2C3" are the same card. A card may be linked (centrally) or registered (at a stand)
only with a UID of a length real readers report (``CARD_UID_BYTES``):

1. 4, 7 or 10 bytes: ISO 14443-A (MIFARE Classic, Ultralight, DESFire, NTAG, ...);
2. 8 bytes: a FeliCa IDm or an ISO 15693 (vicinity) UID.

Any other length is refused with RuleError(code "bad_card_uid").

``CARD_UID`` is the stored form that crosses the wire (the directory, the stand's events):
whole bytes of upper-case hex, 2 to 32 bytes. It is wider than the linking rule on purpose:
stands registered cards of other lengths before this rule, the central service holds them,
and a stand must keep recognising a card that is in its directory (and a reader's report of
an unknown tag must still reach the central service as a refused tap).

    normalise_card_uid("04:a1:b2:c3")  # "04A1B2C3"
    normalise_card_uid("0102")  # RuleError: 2 bytes is no card a reader reports
"""

import re

from sync.errors import RuleError

CARD_UID_BYTES = (4, 7, 8, 10)
CARD_UID = re.compile(r"(?:[0-9A-F]{2}){2,32}")

_SEPARATORS = re.compile(r"[\s:\-]+")
_HEX = re.compile(r"[0-9A-F]+")
_SHOWN = 40


def compact_card_uid(text: str) -> str:
    """The UID with separators removed and in upper case, not checked: how a tapped card is
    looked up (any card in the directory is recognised, whatever its length)."""
    raw = text if isinstance(text, str) else ""
    return _SEPARATORS.sub("", raw).upper()


def normalise_card_uid(text: str) -> str:
    """Return the canonical form of a UID a card may be linked with (4, 7, 8 or 10 bytes of
    hex), or raise RuleError(code "bad_card_uid")."""
    uid = compact_card_uid(text)
    if not _HEX.fullmatch(uid) or len(uid) not in {2 * n for n in CARD_UID_BYTES}:
        shown = (text if isinstance(text, str) else "").strip()[:_SHOWN]
        raise RuleError(
            f"Некорректный номер карты: «{shown}» — нужен UID из 4, 7, 8 или 10 байт "
            "(8, 14, 16 или 20 шестнадцатеричных знаков)",
            "bad_card_uid",
        )
    return uid
