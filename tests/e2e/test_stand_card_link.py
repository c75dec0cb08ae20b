"""A member's card linked by tapping it: a whole stand (its nfcpy reader on the udp link), the
attendant's screen in Chromium at 800x480 waiting for a card, a card emulated by nfcpy tapped
meanwhile; the UID fills the form and the card ends up the new member's, with no refusal or
session on the way. A card of another client is refused with a clear message."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import TIMEOUT_MS, log_in, stand_staff
from tests.edge.conftest import IVAN, IVAN_CARD, StartStand, directory_doc, events, wait_for

NEW_CARD = "04C0FFEE123456"  # 7 bytes: an NXP Type A card


def test_a_card_tapped_while_the_screen_waits_is_linked_to_the_new_member(
    browser: Any, start_stand: StartStand
) -> None:
    running = start_stand(document=directory_doc(staff=stand_staff()))
    store = running.stand.store
    context = browser.new_context(locale="ru-RU", viewport={"width": 800, "height": 480})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, running.url)
        page.goto(f"{running.url}/members/new")
        page.fill("input[name=name]", "Ольга Новикова")

        # Another client's card first: refused with who has it, and nothing starts.
        page.click("button[data-card-wait]")
        page.wait_for_selector(".card-status.waiting")
        assert "Приложите карту, чтобы привязать" in page.inner_text(".card-status")
        running.tap(IVAN_CARD)
        page.wait_for_selector(".card-status.bad")
        assert "уже принадлежит клиенту: Иван Петров" in page.inner_text(".card-status")
        assert page.input_value("input[name=card]") == ""
        assert store.open_session_of(IVAN) is None

        running.let_the_card_go()
        page.click("button[data-card-wait]")
        page.wait_for_selector(".card-status.waiting")
        running.tap(NEW_CARD)
        page.wait_for_selector(".card-status.ok")
        assert page.input_value("input[name=card]") == NEW_CARD
        page.click("#member button[type=submit]")
        page.wait_for_url("**/clients/-*")

        credential = store.credential("card", NEW_CARD)
        assert credential is not None and credential.client.name == "Ольга Новикова"
        assert [event.type for event in events(store)] == ["client.registered"]
        assert events(store)[0].payload["cards"] == [NEW_CARD]
        assert store.open_sessions() == []
    finally:
        context.close()


GUEST_CARD = "0A1B2C3D"  # 4 bytes


def test_a_card_tapped_on_the_cards_tab_is_given_to_an_existing_client(
    browser: Any, start_stand: StartStand
) -> None:
    running = start_stand(document=directory_doc(staff=stand_staff()))
    store = running.stand.store
    context = browser.new_context(locale="ru-RU", viewport={"width": 800, "height": 480})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, running.url)
        page.goto(f"{running.url}/clients/{IVAN}?tab=cards")
        assert IVAN_CARD in page.inner_text("#tab-cards")
        page.click("#tab-cards button[data-card-wait]")
        page.wait_for_selector(".card-status.waiting")
        running.tap(GUEST_CARD)
        page.wait_for_selector(".card-status.ok")
        page.click("#link-card button[type=submit]")
        page.wait_for_selector(".flash")
        assert f"Карта {GUEST_CARD} привязана" in page.inner_text("main")
        assert GUEST_CARD in page.inner_text("#tab-cards")
        # The whole page still fits the stand's 7" screen with the tab open.
        assert page.evaluate("document.scrollingElement.scrollHeight") <= 480

        (linked,) = events(store, "card.linked")
        assert linked.payload == {"client_id": IVAN, "client_uuid": None, "uid": GUEST_CARD}
        # The card is Ivan's at this stand at once: a tap starts his session.
        running.let_the_card_go()
        running.tap(GUEST_CARD)
        session = wait_for("Ivan's session", lambda: store.open_session_of(IVAN))
        assert session.credential_value == GUEST_CARD
    finally:
        context.close()
