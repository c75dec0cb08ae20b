"""Money formatting and parsing: integer kopecks, Russian display."""

import random

import pytest

from sync.errors import RuleError
from sync.money import MAX_KOPECKS, format_kopecks, parse_roubles

NB = "\u00a0"


@pytest.mark.parametrize(
    ("kopecks", "text"),
    [
        (0, f"0,00{NB}₽"),
        (1, f"0,01{NB}₽"),
        (10, f"0,10{NB}₽"),
        (99, f"0,99{NB}₽"),
        (100, f"1,00{NB}₽"),
        (125000, f"1{NB}250,00{NB}₽"),
        (125050, f"1{NB}250,50{NB}₽"),
        (99999, f"999,99{NB}₽"),
        (100000, f"1{NB}000,00{NB}₽"),
        (123456789, f"1{NB}234{NB}567,89{NB}₽"),
        (MAX_KOPECKS, f"100{NB}000{NB}000,00{NB}₽"),
        (-1, f"-0,01{NB}₽"),
        (-125000, f"-1{NB}250,00{NB}₽"),
    ],
)
def test_format_kopecks(kopecks: int, text: str) -> None:
    assert format_kopecks(kopecks) == text


def test_format_uses_only_no_break_spaces_and_hyphen_minus() -> None:
    text = format_kopecks(-123456789)
    assert " " not in text
    assert "\u2212" not in text
    assert text.startswith("-")


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        ("1250", 125000),
        ("1 250,50", 125050),
        ("1250.5", 125050),
        ("1250,5", 125050),
        ("1250,05", 125005),
        ("1250,50", 125050),
        (" 12 ", 1200),
        ("\t12\n", 1200),
        ("0", 0),
        ("0,01", 1),
        ("0.1", 10),
        ("007", 700),
        ("1 000 000", 100000000),
        (f"1{NB}250,00", 125000),
        ("1\u202f250", 125000),
        (f"1{NB}250,00{NB}₽", 125000),
        ("1250₽", 125000),
        ("1250 ₽", 125000),
        ("100000000", MAX_KOPECKS),
        ("100 000 000,00", MAX_KOPECKS),
    ],
)
def test_parse_roubles(text: str, kopecks: int) -> None:
    assert parse_roubles(text) == kopecks


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "12a",
        "a12",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1e5",
        "1E5",
        "0x10",
        "1,234",  # three decimals: ambiguous with an English thousands separator
        "1.250,50",
        "1,2,3",
        "1..5",
        "1,",
        "1.",
        ",5",
        ".5",
        "1,505",
        "12 34",  # spaces must group thousands in threes
        "1 2 3",
        "1  250",
        "1250 00",
        "+5",
        "--5",
        "- 5",
        "5-",
        "١٢",  # non-ASCII digits
        "１２",  # full-width digits
        "12 руб",
        "₽",
        "100000000,01",
        "100000001",
        "9" * 30,
        "1" * 5000,
        "1_000",
    ],
)
def test_parse_roubles_rejects(text: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_roubles(text)
    assert info.value.code == "bad_amount"
    assert info.value.message


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [("-5", -500), ("-1 250,50", -125050), ("\u22125", -500), ("-0", 0), ("5", 500)],
)
def test_parse_roubles_negative_when_allowed(text: str, kopecks: int) -> None:
    assert parse_roubles(text, allow_negative=True) == kopecks


@pytest.mark.parametrize("text", ["-5", "-0", "\u22121 250,50"])
def test_parse_roubles_negative_refused_by_default(text: str) -> None:
    with pytest.raises(RuleError, match="отрицательной"):
        parse_roubles(text)


def test_parse_roubles_huge_negative_refused() -> None:
    with pytest.raises(RuleError, match="Слишком большая"):
        parse_roubles("-100000001", allow_negative=True)


def test_specific_messages() -> None:
    with pytest.raises(RuleError, match="Введите сумму"):
        parse_roubles("")
    with pytest.raises(RuleError, match="двух знаков"):
        parse_roubles("1,234")
    with pytest.raises(RuleError, match="Некорректная сумма"):
        parse_roubles("abc")


def test_format_then_parse_roundtrips() -> None:
    rng = random.Random(20240601)
    values = [0, 1, 99, 100, 999_99, 1_000_00, MAX_KOPECKS]
    values += [rng.randrange(0, MAX_KOPECKS + 1) for _ in range(2000)]
    for k in values:
        assert parse_roubles(format_kopecks(k)) == k
        assert parse_roubles(format_kopecks(-k), allow_negative=True) == -k
