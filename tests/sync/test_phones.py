"""Phone normalisation."""

import pytest

from sync.errors import RuleError
from sync.phones import normalise_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("89161234567", "+79161234567"),
        ("79161234567", "+79161234567"),
        ("+79161234567", "+79161234567"),
        ("9161234567", "+79161234567"),
        ("8 (916) 123-45-67", "+79161234567"),
        ("+7 (916) 123-45-67", "+79161234567"),
        ("+7 916 123 45 67", "+79161234567"),
        ("7.916.123.45.67", "+79161234567"),
        ("916/123-45-67", "+79161234567"),
        (" 8-916-123-45-67 ", "+79161234567"),
        ("8\u00a0916\u00a0123\u201245\u201367", "+79161234567"),
        ("+7 495 123-45-67", "+74951234567"),
        ("84951234567", "+74951234567"),
        ("+375 29 123-45-67", "+375291234567"),  # Belarus, 12 digits
        ("+49 30 1234567", "+49301234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (212) 555-0123", "+12125550123"),
        ("+99 123 456", "+99123456"),  # 8 digits, the minimum
        ("+123456789012345", "+123456789012345"),  # 15 digits, the maximum
        ("+89161234567", "+89161234567"),  # "+8…" is an international code (81, 82, 86…)
    ],
)
def test_normalise_phone(text: str, expected: str) -> None:
    assert normalise_phone(text) == expected


def test_idempotent() -> None:
    for text in ["8 (916) 123-45-67", "+375 29 123-45-67", "9161234567"]:
        once = normalise_phone(text)
        assert normalise_phone(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "+",
        "++79161234567",
        "7+9161234567",  # "+" only at the start
        "891612345",  # 9 digits starting with 8
        "916123456",  # 9 digits
        "891612345678",  # 12 digits without "+"
        "69161234567",  # 11 digits not starting with 7 or 8
        "+7916123456",  # +7 with 9 digits
        "+791612345678",  # +7 with 11 digits
        "+1234567",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+0123456789",  # no country code starts with 0
        "8 916 123 45 67 доб. 12",
        "call 9161234567",
        "9161234567a",
        "916-123-45-67#",
        "١٢٣٤٥٦٧٨٩٠",  # non-ASCII digits
        "1" * 100,
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(RuleError) as info:
        normalise_phone(text)
    assert info.value.code == "bad_phone"
    assert info.value.message.startswith("Некорректный номер телефона")


def test_ten_digits_starting_with_eight_is_russian() -> None:
    assert normalise_phone("8123456789") == "+78123456789"
