"""The English interface: every Russian source string has an English translation in the
committed catalogue, the compiled catalogue matches it, and choosing English at /lang/en turns
the pages (navigation, forms, messages of the central service) into English."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from cloud.models import LedgerEntry
from tests.cloud.conftest import World, login, post_form

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "cloud" / "translations" / "en" / "LC_MESSAGES"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
CYRILLIC = re.compile("[\u0400-\u04ff]")


def _source_messages() -> dict[str, str]:
    """Every translatable string in cloud/ (as babel.cfg maps it) -> where it first occurs."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{lineno}")
    return found


def _po() -> Any:
    with (CATALOGUE / "messages.po").open("rb") as file:
        return read_po(file, locale="en")


def _translations(catalog: Any) -> dict[str, str]:
    return {
        message.id: message.string
        for message in catalog
        if message.id and isinstance(message.id, str)
    }


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _nav(page: str) -> str:
    match = re.search(r"<nav>(.*?)</nav>", page, re.S)
    assert match, "no navigation on the page"
    return match.group(1)


# --- the catalogue ----------------------------------------------------------------------------


def test_the_extraction_finds_both_python_and_templates() -> None:
    places = {where.split(":")[0] for where in _source_messages().values()}
    assert any(place.endswith(".py") for place in places)
    assert any(place.startswith("cloud/templates/") for place in places)


def test_every_source_string_has_an_english_translation() -> None:
    translations = _translations(_po())
    untranslated = {
        text: where
        for text, where in _source_messages().items()
        if not translations.get(text, "").strip()
    }
    assert untranslated == {}


def test_the_catalogue_has_no_fuzzy_entries_nor_broken_placeholders() -> None:
    catalog = _po()
    assert not catalog.fuzzy
    assert [message.id for message in catalog if message.id and message.fuzzy] == []
    assert [(message.id, errors) for message, errors in catalog.check()] == []


def test_the_english_strings_are_english() -> None:
    russian = {
        text: english for text, english in _translations(_po()).items() if CYRILLIC.search(english)
    }
    assert russian == {}


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with (CATALOGUE / "messages.mo").open("rb") as file:
        compiled = read_mo(file)
    assert _translations(compiled) == _translations(_po())


# --- the pages in English ---------------------------------------------------------------------


def test_the_login_page_is_russian_by_default_and_english_after_choosing_it(
    client: FlaskClient,
) -> None:
    page = _text(client.get("/login"))
    assert "Вход для сотрудников" in page and 'lang="ru"' in page

    response = client.get("/lang/en")
    assert response.status_code == 302
    page = _text(client.get("/login"))
    assert 'lang="en"' in page
    assert "Staff sign-in" in page and "Sign in" in page and "Password" in page
    assert "Вход" not in page and "Пароль" not in page


def test_english_chosen_before_signing_in_stays_after_it(client: FlaskClient, world: World) -> None:
    client.get("/lang/en")
    assert login(client, world.phone("attendant")).status_code == 302
    page = _text(client.get("/"))
    assert "Open sessions" in page and "Sign out" in page


def test_russian_can_be_chosen_again(client: FlaskClient) -> None:
    client.get("/lang/en")
    client.get("/lang/ru")
    assert "Вход для сотрудников" in _text(client.get("/login"))


@pytest.mark.parametrize(
    "path", ["/", "/clients", "/tariffs", "/sites", "/staff", "/reports/sessions"]
)
def test_an_owners_pages_have_an_english_navigation(as_role: Any, path: str) -> None:
    browser = as_role("owner")
    browser.get("/lang/en")
    response = browser.get(path, follow_redirects=True)
    assert response.status_code == 200
    nav = _nav(_text(response))
    assert not CYRILLIC.search(nav), nav
    for label in ("Sessions", "Clients", "Tariffs", "Sites", "Users", "Reports"):
        assert f">{label}</a>" in nav


def test_an_operators_client_list_is_english(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    russian_nav = _nav(_text(browser.get("/clients")))
    assert "Клиенты" in russian_nav

    browser.get("/lang/en")
    page = _text(browser.get("/clients"))
    assert not CYRILLIC.search(_nav(page))
    assert "New client" in page and "Sign out" in page and "Club member" in page
    assert "Новый клиент" not in page and "Выйти" not in page


def test_a_form_error_from_the_central_service_is_english(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    browser.get("/lang/en")
    response = post_form(
        browser, f"/clients/{world.member.id}/topup", {"amount": "100", "method": "cheque"}
    )
    assert response.status_code == 400
    page = _text(response)
    assert "Choose a payment method: cash, card or bank transfer" in page
    assert "Выберите способ оплаты" not in page
    assert LedgerEntry.select().count() == 0


def test_a_success_message_is_english(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    browser.get("/lang/en")
    response = post_form(
        browser,
        f"/clients/{world.member.id}/topup",
        {"amount": "100", "method": "cash"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Balance topped up" in _text(response)


def test_an_api_error_follows_no_session_language(client: FlaskClient, world: World) -> None:
    """The API has no session: its messages stay in the default language (Russian)."""
    response = client.get("/api/v1/clients/999999", headers=world.bearer("operator"))
    assert response.status_code == 404
    assert CYRILLIC.search(response.get_json()["error"]["message"])
