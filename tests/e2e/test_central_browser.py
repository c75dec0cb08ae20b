"""The central app in a real browser: an operator registers a member with a Cyrillic plate,
finds them by the same plate typed in Latin letters, tops up and sees the balance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud.models import Client, LedgerEntry
from tests.cloud.conftest import PASSWORD, World


def test_register_find_by_latin_plate_and_top_up(
    page: Any, live_server: str, world: World, artifacts: Path
) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", "8 (900) 000-00-02")  # the operator, typed the way people do
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/clients/new")
    page.fill("input[name=name]", "Анна Смирнова")
    page.fill("textarea[name=phones]", "8 916 555-44-33")
    page.fill("textarea[name=plates]", "в456ор 197")
    page.click("button:has-text('Зарегистрировать')")
    page.wait_for_load_state()
    assert "Анна Смирнова" in page.content()
    assert "В456ОР197" in page.content()

    page.goto(f"{live_server}/clients")
    page.fill("input[name=q]", "B456OP197")  # Latin look-alikes
    page.click("button:has-text('Найти')")
    page.wait_for_load_state()
    page.click("text=Анна Смирнова")
    page.wait_for_load_state()

    page.fill("#topup input[name=amount]", "1 250,50")
    page.select_option("#topup select[name=method]", "cash")
    page.click("#topup button[type=submit]")
    page.wait_for_load_state()
    balance = page.inner_text(".balance")
    assert balance.replace("\xa0", " ") == "1 250,50 ₽"
    page.screenshot(path=str(artifacts / "central-client-topup.png"), full_page=True)

    client = Client.get(Client.name == "Анна Смирнова")
    entries = list(LedgerEntry.select().where(LedgerEntry.client == client))
    assert [(e.kind, e.amount_kopecks, e.method, e.created_by_id) for e in entries] == [
        ("topup", 125050, "cash", world.users["operator"].id)
    ]
    assert client.balance_kopecks == 125050


def test_on_a_phone_the_client_page_and_ones_own_page_never_scroll_sideways(
    browser: Any, live_server: str, world: World
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.fill("input[name=phone]", "+79000000004")  # the owner
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/")
        for path in (f"/clients/{world.member.id}", "/staff/me"):
            page.goto(live_server + path)
            # Their tables are wider than a phone: they scroll inside their card.
            assert page.evaluate("document.scrollingElement.scrollWidth") <= 390, path
    finally:
        context.close()
