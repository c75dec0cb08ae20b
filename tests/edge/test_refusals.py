"""The stand's refusals (``edge.refusals``): one text per code of the shared vocabulary, the
same text in the engine's refusal, the stand's state and the touchscreen, and an English one
in the touchscreen's catalogue; and every touchscreen text has one."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from edge.engine import MESSAGES
from edge.refusals import REFUSAL_TEXTS, refusal, refusal_text
from sync.events import REFUSALS, RETIRED_REFUSALS

SENT = [code for code in REFUSALS if code not in RETIRED_REFUSALS]  # what this stand may send

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "edge" / "translations"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def _source_messages() -> dict[str, str]:
    """Every translatable string of the stand (as its babel.cfg maps it) -> where it is."""
    with (TRANSLATIONS / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{lineno}")
    return found


def _strings(catalog: Catalog) -> dict[str, str]:
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and not m.fuzzy}


def _committed() -> dict[str, str]:
    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return _strings(read_po(file, locale="en"))


def _compiled() -> dict[str, str]:
    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        return _strings(read_mo(file))


def test_every_refusal_code_has_one_text() -> None:
    assert sorted(REFUSAL_TEXTS) == sorted(SENT)
    assert set(RETIRED_REFUSALS) <= set(REFUSALS)  # still accepted from older stands


def test_the_engine_reports_a_refusal_with_the_tables_text() -> None:
    refused = refusal("lost", 7)
    assert (refused.code, refused.message, refused.client_id) == ("lost", REFUSAL_TEXTS["lost"], 7)
    assert {code: MESSAGES[code] for code in SENT} == REFUSAL_TEXTS


def test_the_refusal_texts_are_extracted_for_the_catalogue() -> None:
    places = _source_messages()
    assert all(places[text].startswith("edge/refusals.py") for text in REFUSAL_TEXTS.values())


def test_every_touchscreen_text_has_an_english_translation() -> None:
    english = _committed()
    untranslated = {
        text: where for text, where in _source_messages().items() if not english.get(text)
    }
    assert untranslated == {}


def test_the_compiled_catalogue_matches_the_committed_one() -> None:
    assert _compiled() == _committed()


def test_a_refusal_text_that_names_a_value_is_filled_in_both_languages() -> None:
    refused = refusal("too_soon_to_end", 7, seconds=42)
    assert refused.message == "Сеанс идёт: чтобы завершить, приложите ещё раз через 42 с"
    assert refused.params == {"seconds": 42}
    english = _compiled()[REFUSAL_TEXTS["too_soon_to_end"]]
    assert refusal_text(english, refused.params) == "Session running: to end it, tap again in 42 s"
