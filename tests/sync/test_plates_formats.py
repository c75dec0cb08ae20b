"""The Russian plate formats (GOST R 50577-2018) a newly entered plate must match unless it
is marked foreign: each format accepted with every allowed letter and both region widths,
near misses refused, Latin look-alikes normalised, and the table checked against an
independent reference (the plate read as runs of letters and digits)."""

import itertools
import random
import re

import pytest

from sync.errors import RuleError
from sync.plates import PLATE_CYRILLIC, PLATE_FORMATS, check_new_plate, plate_format

ACCEPTED = [
    ("А123ВС77", "private"),
    ("А123ВС777", "private"),
    ("Х001ХХ01", "private"),
    ("АВ12377", "taxi"),
    ("АВ123177", "taxi"),  # a taxi of region 177 reads like a trailer of region 77: both valid
    ("АВ1234777", "trailer"),
    ("1234АВ77", "motorcycle"),
    ("1234АВ777", "motorcycle"),
    ("АВ123С77", "transit"),
    ("АВ123С777", "transit"),
    ("123СD177", "diplomatic_head"),
    ("123СD1777", "diplomatic_head"),
    ("123D12377", "diplomatic"),
    ("123D123777", "diplomatic"),
    ("123Т12377", "diplomatic_staff"),
    ("А1234777", "police"),
    ("1234А77", "police_motorcycle"),
    ("1234А777", "police_motorcycle"),
]


@pytest.mark.parametrize(("plate", "name"), ACCEPTED)
def test_each_format_is_accepted(plate: str, name: str) -> None:
    found = plate_format(plate)
    assert found is not None and found.name == name
    assert check_new_plate(plate, foreign=False) == plate


@pytest.mark.parametrize("fmt", PLATE_FORMATS, ids=lambda fmt: fmt.name)
def test_every_example_in_the_table_is_accepted(fmt: object) -> None:
    assert check_new_plate(fmt.example, foreign=False)  # type: ignore[attr-defined]


def _fill(shape: str, letter: str, region: str) -> str:
    return "".join({"L": letter, "9": "5", "R": region}.get(c, c) for c in shape)


@pytest.mark.parametrize("fmt", PLATE_FORMATS, ids=lambda fmt: fmt.name)
@pytest.mark.parametrize("letter", PLATE_CYRILLIC)
def test_every_allowed_letter_in_every_format(fmt: object, letter: str) -> None:
    shape = fmt.shape  # type: ignore[attr-defined]
    for region in ("01", "99") if "R" not in shape else ("01", "77", "99", "102", "777", "977"):
        plate = _fill(shape, letter, region)
        assert plate_format(plate) is not None, plate


@pytest.mark.parametrize("letter", "БГДЖЗИЙЛПФЦЧШЩЪЫЬЭЮЯ")
def test_other_cyrillic_letters_are_refused(letter: str) -> None:
    with pytest.raises(RuleError) as refused:
        check_new_plate(f"{letter}123ВС77", foreign=False)
    assert refused.value.code in ("plate_format", "bad_plate")


@pytest.mark.parametrize("letter", "DFGIJLNQRSUVWZ")
def test_latin_letters_without_a_lookalike_are_refused(letter: str) -> None:
    with pytest.raises(RuleError) as refused:
        check_new_plate(f"{letter}123BC77", foreign=False)
    assert refused.value.code == "plate_format"


@pytest.mark.parametrize(
    "plate",
    [
        "А123ВС7",  # region of one digit
        "А123ВС7777",  # region of four digits
        "А123ВС00",  # no region 00
        "А123ВС077",  # a three-digit region does not start with 0
        "А12ВС77",  # two digits
        "А1234ВС777",  # four digits and a three-digit region
        "АВС12377",  # three letters before the digits
        "А123В77",  # one letter after the digits
        "123АВС77",  # letters in the wrong places
        "АВ12С77",  # transit with two digits
        "12АВ77",  # motorcycle with two digits
        "12345АВ77",  # five digits
        "123CD77",  # diplomatic without the number
        "123Х12377",  # diplomatic with a letter other than D or T
        "АВ1277",
        "1234",
        "АВ",
    ],
)
def test_near_misses_are_refused(plate: str) -> None:
    with pytest.raises(RuleError) as refused:
        check_new_plate(plate, foreign=False)
    assert refused.value.code in ("plate_format", "bad_plate")


def test_the_refusal_names_the_formats() -> None:
    with pytest.raises(RuleError) as refused:
        check_new_plate("W-AB 1234", foreign=False)
    for fmt in PLATE_FORMATS:
        assert fmt.example in refused.value.message
    assert "Иностранный номер" in refused.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a123bc77", "А123ВС77"),
        ("A 123 BC 777", "А123ВС777"),
        ("ab 123 77", "АВ12377"),
        ("ab 1234 77", "АВ123477"),
        ("1234 ax 77", "1234АХ77"),
        ("ab123c77", "АВ123С77"),
        ("123 CD 1 77", "123СD177"),  # C is the Cyrillic С once normalised, D stays Latin
        ("123 D 123 77", "123D12377"),
        ("123 T 123 77", "123Т12377"),
        ("ё777ёё77", "Е777ЕЕ77"),
    ]
    + [
        (f"{lat}123{lat}{lat}77", f"{cyr}123{cyr}{cyr}77")
        for lat, cyr in zip("ABEKMHOPCTYX", PLATE_CYRILLIC, strict=True)
    ],
)
def test_lookalikes_are_normalised_before_the_check(text: str, expected: str) -> None:
    assert check_new_plate(text, foreign=False) == expected


@pytest.mark.parametrize("text", ["W-AB 1234", "DL 01 ZZ 1234", "B-123-XYZ", "А12ВС77"])
def test_a_foreign_plate_is_accepted_when_marked(text: str) -> None:
    plate = check_new_plate(text, foreign=True)
    assert plate_format(plate) is None
    with pytest.raises(RuleError):
        check_new_plate(text, foreign=False)


@pytest.mark.parametrize("text", ["", "   ", "ABC", "12345678901234", "А1!"])
def test_a_foreign_plate_still_needs_the_plate_rules(text: str) -> None:
    with pytest.raises(RuleError) as refused:
        check_new_plate(text, foreign=True)
    assert refused.value.code == "bad_plate"


# --- an independent reference: the plate as runs of letters and digits --------------------------

_REGION_OK = re.compile(r"0[1-9]|[1-9][0-9]|[1-9][0-9]{2}")
# Each format as its runs before the last one (a kind: "L" the allowed letters, "9" digits, or
# "=" and an exact text; and a length), then how many digits of the last run are the plate's
# own before the region.
_REFERENCE: list[tuple[list[tuple[str, int]], int]] = [
    ([("L", 1), ("9", 3), ("L", 2)], 0),  # private
    ([("L", 2)], 3),  # taxi
    ([("L", 2)], 4),  # trailer
    ([("9", 4), ("L", 2)], 0),  # motorcycle, military
    ([("L", 2), ("9", 3), ("L", 1)], 0),  # transit
    ([("9", 3), ("=СD", 2)], 1),  # diplomatic, head of mission
    ([("9", 3), ("=D", 1)], 3),  # diplomatic
    ([("9", 3), ("=Т", 1)], 3),  # diplomatic, technical staff
    ([("L", 1)], 4),  # police
    ([("9", 4), ("L", 1)], 0),  # police motorcycle
]


def _runs(plate: str) -> list[str]:
    return ["".join(group) for _, group in itertools.groupby(plate, key=str.isdigit)]


def _run_fits(run: str, kind: str, size: int) -> bool:
    if kind.startswith("="):
        return run == kind[1:]
    if kind == "9":
        return run.isdigit() and len(run) == size
    return len(run) == size and all(c in PLATE_CYRILLIC for c in run)


def _reference_accepts(plate: str) -> bool:
    runs = _runs(plate)
    for head, own in _REFERENCE:
        if len(runs) != len(head) + 1 or not runs[-1].isdigit():
            continue
        if not all(
            _run_fits(run, kind, size) for run, (kind, size) in zip(runs, head, strict=False)
        ):
            continue
        if _REGION_OK.fullmatch(runs[-1][own:]) and len(runs[-1]) > own:
            return True
    return False


def _random_plate(rng: random.Random) -> str:
    """Alternating runs of letters and digits of likely lengths, so that many are valid."""
    letters = PLATE_CYRILLIC + "ЖDZ"
    runs = []
    digit = rng.random() < 0.5
    for _ in range(rng.randint(2, 4)):
        if digit:
            runs.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 7))))
        elif rng.random() < 0.15:
            runs.append(rng.choice(["СD", "D", "Т", "CD"]))
        else:
            runs.append("".join(rng.choice(letters) for _ in range(rng.randint(1, 3))))
        digit = not digit
    return "".join(runs)


def test_the_table_agrees_with_the_reference_on_random_plates() -> None:
    rng = random.Random(50577)
    accepted = 0
    for _ in range(60_000):
        plate = _random_plate(rng)
        expected = _reference_accepts(plate)
        assert (plate_format(plate) is not None) == expected, plate
        accepted += expected
    for plate, _name in ACCEPTED:
        assert _reference_accepts(plate), plate
    assert accepted > 1_000  # the generator reaches the formats, not only near misses
