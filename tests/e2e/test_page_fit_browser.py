"""Every staff page fits a phone, a tablet and a laptop (issue 20): Chromium opens each page the
owner can reach at 390×844, 768×1024 and 1366×900, checks that nothing is wider than the
screen, and keeps a screenshot of each in test-artifacts/pages/<size>/ for people to look at.

The pages are read from the app's url_map, so a new page is walked (and must fit) by itself;
the data is the demo chain (cloud/demodata.py), whose month of sessions, top-ups, staff and
clients fills the tables as a real chain's would, plus a long note and a long segment name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from peewee import fn
from werkzeug.routing import Rule

from cloud.clients.comments import add_comment
from cloud.clock import Clock
from cloud.demodata import DEMO_STAFF, load_demo_data
from cloud.models import (
    Client,
    Credential,
    Mailing,
    Segment,
    Session,
    Site,
    Stand,
    Tariff,
    TariffVersion,
    User,
)
from tests.cloud.conftest import PASSWORD, World

pytestmark = pytest.mark.browser

SIZES = {"390x844": (390, 844), "768x1024": (768, 1024), "1366x900": (1366, 900)}
# Not pages: the JSON API, the stands' API, files, and the pages before log-in or outside it.
NOT_PAGES = ("api.", "syncapi.", "static", "auth.", "unsubscribe.")
# Not staff pages: the JSON APIs (staff, clients', stands'), the client cabinet (walked at a
# phone's size by tests/e2e/test_cabinet_browser.py), the payment provider's notifications.
NOT_STAFF_PATHS = ("/api/", "/sync/", "/my", "/payments/")
OWNER = next(login for login in DEMO_STAFF if login.role == "owner")
# A note no phone can fit on one line, as attendants write them.
LONG_NOTE = (
    "Клиент просил не мыть двигатель: после прошлой мойки машина не заводилась, проверяли "
    "свечи; ссылка на фото https://example.ru/photos/2024/06/01/a-very-long-unbroken-path-12345"
)


def staff_pages(app: Flask) -> list[Rule]:
    """The GET rules of the staff's HTML pages, in path order."""
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ())
            and not rule.endpoint.startswith(NOT_PAGES)
            and not rule.rule.startswith(NOT_STAFF_PATHS)
            and not rule.rule.endswith((".csv", ".json"))
        ),
        key=lambda rule: rule.rule,
    )


def _objects() -> dict[str, dict[str, int]]:
    """Values for the rules' arguments: a busy member, a guest, one of everything else."""
    busiest = (
        Client.select()
        .join(Session, on=Session.client == Client.id)
        .where(Client.kind == "member")
        .group_by(Client.id)
        .order_by(fn.COUNT(Session.id).desc(), Client.id)
        .first()
    )
    owner = User.get(User.phone == OWNER.phone)
    add_comment(owner, busiest, LONG_NOTE)
    segment = Segment.create(name="Постоянные клиенты с долгом больше тысячи рублей")
    mailing = Mailing.create(
        segment=segment, segment_name=segment.name, subject="Скидка", body=LONG_NOTE
    )
    common = {
        "client_id": busiest.id,
        "tariff_id": Tariff.select().order_by(Tariff.id).first().id,
        "site_id": Site.select().order_by(Site.id).first().id,
        "user_id": User.select().where(User.role == "attendant").order_by(User.id).first().id,
        "session_id": Session.select().where(Session.client == busiest).first().id,
        "segment_id": segment.id,
        "mailing_id": mailing.id,
        "stand_id": Stand.select().order_by(Stand.id).first().id,
        "version_id": TariffVersion.select().order_by(TariffVersion.id.desc()).first().id,
        "credential_id": Credential.select().where(Credential.client == busiest).first().id,
    }
    guest = Client.select().where(Client.kind == "guest").order_by(Client.id).first()
    return {"": common, "clients.promote": {**common, "client_id": guest.id}}


def _path(rule: Rule, objects: dict[str, dict[str, int]]) -> str:
    values = objects.get(rule.endpoint, objects[""])
    missing = sorted(set(rule.arguments) - set(values))
    assert not missing, f"the page-fit walk has no value for {missing} in {rule.rule}"
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match.group(1)]), rule.rule)


def _name(rule: Rule) -> str:
    return rule.endpoint.replace(".", "-")


@pytest.fixture
def demo_chain(app: Flask, clock: Clock) -> dict[str, dict[str, int]]:
    """The demo chain, its history ending a minute ago, and the objects the pages name."""
    load_demo_data(ZoneInfo("Europe/Moscow"), clock.now() - timedelta(minutes=1))
    return _objects()


@pytest.fixture
def screen(browser: Any) -> Iterator[Any]:
    """One tab whose viewport each step sets."""
    context = browser.new_context(locale="ru-RU", viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def _log_in(tab: Any, url: str, phone: str, password: str) -> None:
    tab.goto(f"{url}/login")
    tab.fill("input[name=phone]", phone)
    tab.fill("input[name=password]", password)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{url}/")


# A table wider than its own box: it scrolls inside itself (the fallback) instead of fitting.
SCROLLING_TABLES = """() => [...document.querySelectorAll('main table')]
    .filter(table => table.scrollWidth > table.clientWidth + 1).length"""


def _overflow(tab: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return int(tab.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def _misfits(tab: Any, url: str, pages: list[tuple[str, str]], folder: Path) -> list[str]:
    """Open each page, keep its screenshot, and say which are wider than the screen (and, on
    a phone, which still have a table scrolling inside itself instead of cards)."""
    found = []
    width = tab.viewport_size["width"]
    for name, path in pages:
        answer = tab.goto(url + path)
        assert answer.status == 200, path
        tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        if (extra := _overflow(tab)) > 0:
            found.append(f"{width}px {path} +{extra}px")
        if width <= 640 and (tables := tab.evaluate(SCROLLING_TABLES)):
            found.append(f"{width}px {path}: {tables} table(s) scroll, not cards")
    return found


def test_every_staff_page_fits_a_phone_a_tablet_and_a_laptop(
    app: Flask,
    live_server: str,
    demo_chain: dict[str, dict[str, int]],
    screen: Any,
    artifacts: Path,
) -> None:
    pages = [(_name(rule), _path(rule, demo_chain)) for rule in staff_pages(app)]
    assert len(pages) > 30  # the walk found the pages, not an empty map
    misfits: list[str] = []
    for size, (width, height) in SIZES.items():
        screen.set_viewport_size({"width": width, "height": height})
        folder = artifacts / "pages" / size
        folder.mkdir(parents=True, exist_ok=True)
        screen.context.clear_cookies()
        misfits += _misfits(screen, live_server, [("login", "/login")], folder)
        _log_in(screen, live_server, OWNER.phone, OWNER.password)
        misfits += _misfits(screen, live_server, pages, folder)
    assert misfits == []


def test_the_menu_opens_and_closes_on_a_phone_and_is_a_row_elsewhere(
    live_server: str, world: World, screen: Any, artifacts: Path
) -> None:
    (artifacts / "pages" / "390x844").mkdir(parents=True, exist_ok=True)
    screen.set_viewport_size({"width": 390, "height": 844})
    _log_in(screen, live_server, world.phone("owner"), PASSWORD)
    header = screen.locator("header.topbar")
    links = screen.locator("header nav a")
    assert links.count() >= 8
    # Closed: one short line, the links out of sight, the button in reach.
    assert header.bounding_box()["height"] <= 0.1 * 844
    assert not links.first.is_visible()
    assert not screen.locator(".session-box").is_visible()
    screen.click("header summary")
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert links.nth(index).is_visible() and box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40
    assert screen.locator(".session-box button", has_text="Выйти").is_visible()
    assert _overflow(screen) <= 0
    screen.screenshot(path=str(artifacts / "pages" / "390x844" / "menu-open.png"))
    screen.click("header summary")
    assert not links.first.is_visible()
    # Opened again, a link leads to its page (and the new page starts with the menu closed).
    screen.click("header summary")
    screen.click("header nav a[href='/clients']")
    screen.wait_for_url(f"{live_server}/clients")
    assert not links.first.is_visible()

    # A tablet: no button, the links wrap in rows under the brand, several to a row.
    screen.set_viewport_size({"width": 768, "height": 1024})
    assert not screen.locator("header summary").is_visible()
    tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
    assert links.first.is_visible() and len(tops) <= 3
    # A laptop: as before, brand, links and the session box side by side.
    screen.set_viewport_size({"width": 1366, "height": 900})
    assert not screen.locator("header summary").is_visible()
    brand = screen.locator("header .brand").bounding_box()
    first = links.first.bounding_box()
    assert abs(first["y"] - brand["y"]) < brand["height"] and first["x"] > brand["x"]
