"""Car plate normalisation."""

import pytest

from sync.errors import RuleError
from sync.plates import normalise_plate


@pytest.mark.parametrize(
    "text",
    [
        "а123вс77",
        "A123BC 77",
        "А123ВС77",
        "a 123 bc-77",
        "a123bc77",
        "A123BC77",
        "А 123 ВС 77",
        "а-123-вс-77",
        "A.123.BC.77",
        " a123bc77 ",
        "A123\u00a0BC\u00a077",
        "A123\tBC\n77",
        "A123–BC—77",  # en and em dashes
        "а123Bс77",  # mixed scripts within one plate
    ],
)
def test_equivalent_spellings(text: str) -> None:
    assert normalise_plate(text) == "А123ВС77"


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    list(zip("ABEKMHOPCTYX", "АВЕКМНОРСТУХ", strict=True)),
)
def test_each_lookalike_maps_to_cyrillic(latin: str, cyrillic: str) -> None:
    assert normalise_plate(f"{latin}1") == f"{cyrillic}1"
    assert normalise_plate(f"{latin.lower()}1") == f"{cyrillic}1"
    assert normalise_plate(f"{cyrillic.lower()}1") == f"{cyrillic}1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ё777ёё77", "Е777ЕЕ77"),
        ("Ё777ЕЕ77", "Е777ЕЕ77"),
        ("ab1234 7", "АВ12347"),  # transit-style letters still map
        ("1234 ав 77", "1234АВ77"),  # motorcycle/trailer order
        ("W-AB 1234", "WАВ1234"),  # foreign plate: W stays Latin, A and B map
        ("dl 01 zz 1234", "DL01ZZ1234"),  # D, L, Z have no Cyrillic look-alike
        ("ж123жж77", "Ж123ЖЖ77"),  # Cyrillic-only letters are kept
        ("12", "12"),
        ("a1", "А1"),
        ("123456789012", "123456789012"),
        ("ABCDEFGHIJK1", "АВСDЕFGНIJК1"),
    ],
)
def test_normalised_forms(text: str, expected: str) -> None:
    assert normalise_plate(text) == expected


def test_idempotent() -> None:
    for text in ["а123вс77", "W-AB 1234", "ё777ёё77", "dl 01 zz 1234"]:
        once = normalise_plate(text)
        assert normalise_plate(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "-",
        "1",  # too short
        "А",
        "АВС",  # no digit
        "ABCDEF",
        "1234567890123",  # 13 chars
        "А123ВС7777777",  # 13 chars
        "А123ВС/77",
        "А123ВС_77",
        "А123ВС#77",
        "А123ВС+77",
        "А123ВС77🚗",
        "Ä123",
        "Ї123",  # Ukrainian letter outside А-Я
        "١٢٣",  # Arabic-Indic digits
        "１２３",  # full-width digits
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(RuleError) as info:
        normalise_plate(text)
    assert info.value.code == "bad_plate"
    assert info.value.message.startswith("Некорректный номер автомобиля")


def test_reject_message_is_short_for_long_input() -> None:
    with pytest.raises(RuleError) as info:
        normalise_plate("x" * 10_000)
    assert len(info.value.message) < 100
