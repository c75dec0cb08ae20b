"""The on-screen keyboard in Chromium at the 7" display's 800x480: fields filled by tapping its
keys with the mouse (Cyrillic, Latin, digits, shift), a search by plate and a member's
registration typed with its keys only, and every text field of every page opening the right
layout with the field in view above it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import REGULAR, TIMEOUT_MS, StandScreen, log_in
from tests.edge.conftest import IVAN, events

DIGIT_KEYS = "0123456789+,"
TEXT_FIELDS = "main :is(input[type=text], input[type=search], input[type=tel], textarea)"
FIELD_IN_VIEW = """field => {
  const r = field.getBoundingClientRect(), keyboard = document.getElementById('osk');
  return r.top >= 0 && r.bottom <= keyboard.getBoundingClientRect().top;
}"""


@pytest.fixture
def small_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU", viewport={"width": 800, "height": 480})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def layout(page: Any) -> str:
    """The on-screen keyboard's layout, once it has one (after a link, the new page's script
    sets it when the page has loaded)."""
    page.wait_for_selector("#osk[data-layout]", state="attached")
    return str(page.get_attribute("#osk", "data-layout"))


def tap(page: Any, key: str) -> None:
    page.click(f"#osk button[data-osk-key='{key}']")


def tap_text(page: Any, text: str) -> None:
    """Type ``text`` into the focused field with the on-screen keys alone, switching layouts
    and pressing shift as a person would."""
    for char in text:
        if char in DIGIT_KEYS:
            wanted = "digits"
        elif char.isalpha():
            wanted = "en" if char.isascii() else "ru"
        else:
            wanted = layout(page)  # space, dot, dash: on the letters' layouts
        if wanted == "digits" and layout(page) != "digits":
            tap(page, "digits")
        if wanted != "digits" and layout(page) == "digits":
            tap(page, "letters")
        if layout(page) != wanted:
            tap(page, "lang")
        assert layout(page) == wanted
        if char == " ":
            tap(page, "space")
            continue
        if char != char.lower():
            tap(page, "shift")
        tap(page, char.lower())


def test_the_keys_fill_a_field_in_cyrillic_latin_and_digits(
    small_page: Any, stand_screen: StandScreen
) -> None:
    page = small_page
    log_in(page, stand_screen.url)
    page.goto(f"{stand_screen.url}/clients/{IVAN}")
    page.click(".tabs [data-tab=comments]")
    page.click("#comment textarea")
    assert page.is_visible("#osk") and layout(page) == "ru"

    tap_text(page, "Ёлка Bmw x5, 2 раза")

    assert page.input_value("#comment textarea") == "Ёлка Bmw x5, 2 раза"
    tap(page, "back")
    tap(page, "back")
    assert page.input_value("#comment textarea") == "Ёлка Bmw x5, 2 ра"
    tap(page, "shift")
    tap(page, "shift")  # a second touch locks the capitals
    tap_text(page, "з")
    tap_text(page, "ы")
    assert page.input_value("#comment textarea") == "Ёлка Bmw x5, 2 раЗЫ"
    tap(page, "done")
    assert not page.is_visible("#osk")
    page.click("#comment button[type=submit]")
    page.wait_for_url("**tab=comments")
    assert "Ёлка Bmw x5, 2 раЗЫ" in page.inner_text(".comments")


def test_a_search_by_plate_typed_on_the_keys_finds_the_client(
    small_page: Any, stand_screen: StandScreen
) -> None:
    page = small_page
    log_in(page, stand_screen.url)
    page.click("nav a:has-text('Найти')")
    page.wait_for_url("**/clients")
    # The search box takes the focus once the page has loaded, and the keyboard opens for it.
    page.locator("#osk").wait_for(state="visible")
    assert layout(page) == "ru"

    tap_text(page, "а123вс77")
    assert page.input_value("input[name=q]") == "а123вс77"
    page.click("form.search button[type=submit]")  # above the keyboard

    page.wait_for_url("**/clients?q=*")
    assert "Иван Петров" in page.inner_text(".rows")


def test_a_member_is_registered_with_the_keys_alone(
    small_page: Any, stand_screen: StandScreen
) -> None:
    page = small_page
    log_in(page, stand_screen.url)
    page.click("nav a:has-text('Член клуба')")
    page.wait_for_url("**/members/new")
    assert layout(page) == "ru"  # the name has the focus
    tap_text(page, "Мария Кузнецова")
    page.click("input[name=phone]")
    assert layout(page) == "digits"  # a phone opens the digits
    tap_text(page, "+79031112233")
    page.click("input[name=plate]")
    tap_text(page, "e001kx750")  # Latin look-alikes, as people type them
    page.click("input[name=card]")
    assert layout(page) == "en"  # a card's UID is hex
    tap_text(page, "04aabbcc")
    tap(page, "done")
    page.click("#member button[type=submit]")

    page.wait_for_url("**/clients/-*")
    assert "Мария Кузнецова" in page.inner_text("h1")
    (registered,) = events(stand_screen.store, "client.registered")
    assert registered.payload["name"] == "Мария Кузнецова"
    assert registered.payload["phones"] == ["+79031112233"]
    assert registered.payload["plates"] == ["Е001КХ750"]
    assert registered.payload["cards"] == ["04AABBCC"]


def test_every_text_field_opens_the_keyboard_and_stays_in_view_above_it(
    small_page: Any, busy_stand: StandScreen
) -> None:
    page, url = small_page, busy_stand.url
    log_in(page, url)
    regular_session = busy_stand.store.open_session_of(REGULAR)
    assert regular_session is not None
    pages = {  # page, then the tab to open: its fields and the layout each opens
        ("/clients?q=ов", None): {"input[name=q]": "ru"},
        (f"/clients/{REGULAR}", "session"): {"#end textarea": "ru"},
        (f"/clients/{REGULAR}", "topup"): {"input[name=amount]": "digits"},
        (f"/clients/{REGULAR}", "comments"): {"#comment textarea": "ru"},
        (f"/clients/{REGULAR}", "cards"): {"#link-card input[name=card]": "en"},
        (f"/sessions/{regular_session.uuid}/end", None): {"textarea": "ru"},
        ("/guests/new", None): {"input[name=plate]": "ru"},
        ("/members/new", None): {
            "input[name=name]": "ru",
            "input[name=phone]": "digits",
            "input[name=plate]": "ru",
            "input[name=card]": "en",
        },
    }
    on_page: dict[str, int] = {}
    checked: dict[str, int] = {}
    for (path, tab), fields in pages.items():
        page.goto(url + path)
        on_page[path] = page.locator(TEXT_FIELDS).count()
        checked[path] = checked.get(path, 0) + len(fields)
        if tab:
            page.click(f".tabs [data-tab={tab}]")
        for selector, expected in fields.items():
            if page.is_visible("#osk"):
                tap(page, "done")
            page.click(selector)
            assert page.is_visible("#osk") and layout(page) == expected, (path, selector)
            assert page.eval_on_selector(selector, FIELD_IN_VIEW), f"{selector} on {path}"
        tap(page, "done")
        assert not page.is_visible("#osk")
        assert page.evaluate("document.scrollingElement.scrollHeight") <= 480  # as it was
    assert checked == on_page  # no text field left out
