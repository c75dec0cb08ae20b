"""The client pages as staff use them: list and search, registering, the client page and its
actions, each shown and allowed only to the roles that may use it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.clients.qrkeys import public_key, qr_code
from cloud.ledger import service as ledger
from cloud.models import Client, ClientPhone, Comment, Credential, LedgerEntry, Session
from sync import qrtoken
from sync.money import format_kopecks
from tests.cloud.conftest import World, post_form


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _ended_session(world: World, client: Client) -> Session:
    started = datetime.now(UTC) - timedelta(hours=2)
    return Session.create(
        client=client,
        stand=world.stand_a,
        site=world.site_a,
        tariff_version=world.tariff_version,
        client_kind=client.kind,
        started_at=started,
        ended_at=started + timedelta(minutes=12, seconds=5),
        duration_s=725,
        cost_kopecks=13000,
        start_method="card",
        end_method="card",
    )


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_name_kind_plates_phones_and_balance(as_role: Any, world: World) -> None:
    ledger.post_entry(world.guest, "charge", -4500)
    page = _text(as_role("operator").get("/clients"))
    assert "Иван Петров" in page and "Ольга Гагарина" in page
    assert "А123ВС77" in page and "+79161234567" in page
    assert 'class="badge member"' in page and 'class="badge guest"' in page
    assert re.search(r'class="num negative">-45,00\xa0₽', page)
    assert "Новый клиент" in page and "Добавить гостя по номеру" in page


def test_a_plate_typed_in_latin_letters_finds_the_cyrillic_one(as_role: Any, world: World) -> None:
    page = _text(as_role("operator").get("/clients?q=a123bc77"))
    assert "Иван Петров" in page
    assert "Ольга Гагарина" not in page and "О777ОО99" not in page


def test_the_list_filters_by_kind_and_blocked(as_role: Any, world: World) -> None:
    clientbook.set_blocked(world.users["operator"], world.member, True)
    browser = as_role("operator")
    guests = _text(browser.get("/clients?kind=guest"))
    assert "О777ОО99" in guests and "Иван Петров" not in guests
    blocked = _text(browser.get("/clients?blocked=1"))
    assert "Иван Петров" in blocked and "Ольга Гагарина" not in blocked
    assert "Заблокирован" in blocked


def test_an_attendant_lists_and_opens_only_their_sites_clients(as_role: Any, world: World) -> None:
    browser = as_role("attendant")
    page = _text(browser.get("/clients"))
    assert "Иван Петров" in page and "Ольга Гагарина" not in page
    assert browser.get(f"/clients/{world.other_site_client.id}").status_code == 404
    response = post_form(
        browser, f"/clients/{world.other_site_client.id}/topup", {"amount": "100", "method": "cash"}
    )
    assert response.status_code == 404
    assert LedgerEntry.select().count() == 0


# --- registering ------------------------------------------------------------------------------


def test_registering_a_member_from_the_form(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    form_page = _text(browser.get("/clients/new"))
    assert "Зарегистрировать" in form_page
    assert f'<option value="{world.site_a.id}" selected>' in form_page  # the operator's own site
    response = post_form(
        browser,
        "/clients/new",
        {
            "name": "Мария Иванова",
            "phones": "8 903 123-45-67\n+7 (905) 000-11-22",
            "email": "maria@example.ru",
            "plates": "с065мк78, a777aa77",
            "cards": "04:11:22:33",
            "default_tariff_id": str(world.tariff.id),
            "site_id": str(world.site_b.id),
            "note": "постоянная",
        },
    )
    assert response.status_code == 302
    client = Client.get(Client.name == "Мария Иванова")
    assert response.headers["Location"].endswith(f"/clients/{client.id}")
    data = clientbook.client_to_dict(client)
    assert data["phones"] == ["+79031234567", "+79050001122"]
    assert data["plates"] == ["С065МК78", "А777АА77"] and data["cards"] == ["04112233"]
    assert client.home_site_id == world.site_b.id and client.default_tariff_id == world.tariff.id
    page = _text(browser.get(response.headers["Location"]))
    assert "Мария Иванова" in page and "Участник клуба добавлен" not in page
    assert "Участник клуба зарегистрирован" in page and "С065МК78" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": ""}, "Укажите имя"),
        ({"name": "Мария", "phones": "123"}, "Некорректный номер телефона"),
        ({"name": "Мария", "email": "maria"}, "электронной почты"),
        ({"name": "Мария", "cards": "12345"}, "Некорректный номер карты"),
        ({"name": "Мария", "plates": "???"}, "Некорректный номер автомобиля"),
        ({"name": "Мария", "default_tariff_id": "abc"}, "Неизвестный тариф"),
    ],
)
def test_a_bad_registration_form_shows_the_message_and_stores_nothing(
    as_role: Any, world: World, form: dict[str, str], message: str
) -> None:
    before = Client.select().count()
    response = post_form(as_role("operator"), "/clients/new", form)
    assert response.status_code == (422 if message == "Укажите имя" else 400)
    assert message in _text(response)
    assert Client.select().count() == before


def test_a_plate_clash_on_the_form_names_the_client_and_stores_nothing(
    as_role: Any, world: World
) -> None:
    before = Client.select().count(), ClientPhone.select().count()
    response = post_form(
        as_role("operator"),
        "/clients/new",
        {"name": "Двойник", "phones": "+79990000000", "plates": "A123BC 77"},
    )
    assert response.status_code == 409
    page = _text(response)
    assert "А123ВС77" in page and "Иван Петров" in page
    assert 'value="Двойник"' in page  # what was typed stays in the form
    assert (Client.select().count(), ClientPhone.select().count()) == before


def test_an_attendant_adds_a_guest_by_plate_at_their_site(as_role: Any, world: World) -> None:
    browser = as_role("attendant")
    response = post_form(browser, "/clients/new-guest", {"plate": "в 321 ор 750"})
    assert response.status_code == 302
    guest = Client.get_by_id(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert guest.kind == "guest" and guest.home_site_id == world.site_a.id
    assert clientbook.client_to_dict(guest)["plates"] == ["В321ОР750"]


@pytest.mark.parametrize("plate", ["", "!!!", "О777ОО99"])
def test_a_bad_or_taken_guest_plate_is_refused(as_role: Any, world: World, plate: str) -> None:
    before = Client.select().count()
    response = post_form(as_role("attendant"), "/clients/new-guest", {"plate": plate})
    assert response.status_code in (400, 409, 422)  # a guest without a plate: 422
    assert "flash-error" in _text(response)
    assert Client.select().count() == before


# --- the client page --------------------------------------------------------------------------


def test_the_client_page_shows_data_credentials_sessions_and_ledger(
    as_role: Any, world: World
) -> None:
    _ended_session(world, world.member)
    ledger.record_topup(world.users["attendant"], world.member, 30000, "transfer")
    page = _text(as_role("operator").get(f"/clients/{world.member.id}"))
    assert "Иван Петров" in page and "ivan@example.ru" in page and "+79161234567" in page
    assert "04A1B2C3D4E5F6" in page and "А123ВС77" in page
    assert "Пост 1" in page and "12:05" in page and format_kopecks(13000) in page
    assert "Пополнение" in page and "Перевод" in page and format_kopecks(30000) in page
    assert "Сотрудник attendant" in page


def test_the_page_shows_only_the_actions_the_role_may_do(as_role: Any, world: World) -> None:
    path = f"/clients/{world.guest.id}"
    attendant = _text(as_role("attendant").get(path))
    assert "Пополнить" in attendant and "Добавить комментарий" in attendant
    assert "Зарегистрировать в клубе" in attendant
    for hidden in ("Изменить", "Привязать карту", "Заблокировать", "Удалить клиента"):
        assert hidden not in attendant, hidden
    assert "Скорректировать" not in attendant
    operator = _text(as_role("operator").get(path))
    assert "Изменить" in operator and "Привязать карту" in operator and "Заблокировать" in operator
    assert "Удалить клиента" not in operator and "Скорректировать" not in operator
    administrator = _text(as_role("administrator").get(path))
    assert "Удалить клиента" in administrator and "Скорректировать" not in administrator
    assert "Скорректировать" in _text(as_role("owner").get(path))


def test_a_top_up_in_roubles_raises_the_balance(as_role: Any, world: World) -> None:
    browser = as_role("attendant")
    response = post_form(
        browser, f"/clients/{world.member.id}/topup", {"amount": "1 250,50", "method": "card"}
    )
    assert response.status_code == 302
    assert Client.get_by_id(world.member.id).balance_kopecks == 125050
    entry = LedgerEntry.get()
    assert entry.method == "card" and entry.created_by_id == world.users["attendant"].id
    assert entry.site_id == world.site_a.id  # the client's home site, preselected
    page = _text(browser.get(f"/clients/{world.member.id}"))
    assert "Баланс пополнен" in page and format_kopecks(125050) in page


def test_a_large_top_up_needs_a_confirmation_and_records_the_chosen_site(
    as_role: Any, world: World
) -> None:
    browser = as_role("owner")
    path = f"/clients/{world.member.id}/topup"
    form = {"amount": "1 000 000", "method": "cash", "site_id": str(world.site_b.id)}
    asked = post_form(browser, path, form)
    assert asked.status_code == 422
    page = _text(asked)
    assert "Сумма больше 10" in page and 'name="confirm_large"' in page
    assert 'value="1 000 000"' in page  # the amount typed is kept for the second look
    assert LedgerEntry.select().count() == 0

    assert post_form(browser, path, {**form, "confirm_large": "yes"}).status_code == 302
    entry = LedgerEntry.get()
    assert (entry.amount_kopecks, entry.site_id) == (100_000_000, world.site_b.id)
    assert post_form(browser, path, {"amount": "10 000", "method": "cash"}).status_code == 302


def test_an_attendant_takes_top_ups_only_for_their_own_sites(as_role: Any, world: World) -> None:
    path = f"/clients/{world.member.id}/topup"
    form = {"amount": "100", "method": "cash", "site_id": str(world.site_b.id)}
    refused = post_form(as_role("attendant"), path, form)
    assert refused.status_code == 404 and "Площадка не найдена" in _text(refused)
    assert LedgerEntry.select().count() == 0


@pytest.mark.parametrize(
    ("amount", "method", "message"),
    [
        ("0", "cash", "больше нуля"),
        ("-5", "cash", "отрицательной"),
        ("сто", "cash", "Некорректная сумма"),
        ("", "cash", "Введите сумму"),
        ("1000000,01", "cash", "Слишком большая"),
        ("100", "barter", "способ оплаты"),
    ],
)
def test_a_bad_top_up_shows_the_message_and_stores_nothing(
    as_role: Any, world: World, amount: str, method: str, message: str
) -> None:
    response = post_form(
        as_role("attendant"),
        f"/clients/{world.member.id}/topup",
        {"amount": amount, "method": method},
    )
    assert response.status_code == 400
    assert message in _text(response)
    assert LedgerEntry.select().count() == 0
    assert Client.get_by_id(world.member.id).balance_kopecks == 0


def test_the_owner_adjusts_a_balance_and_an_administrator_may_not(
    as_role: Any, world: World
) -> None:
    path = f"/clients/{world.member.id}/adjust"
    form = {"amount": "-150,00", "reason": "ошибка при пополнении"}
    assert post_form(as_role("administrator"), path, form).status_code == 403
    assert LedgerEntry.select().count() == 0
    missing = post_form(as_role("owner"), path, {"amount": "-150", "reason": ""})
    assert missing.status_code == 400 and "Укажите причину" in _text(missing)
    assert post_form(as_role("owner"), path, form).status_code == 302
    assert Client.get_by_id(world.member.id).balance_kopecks == -15000
    page = _text(as_role("owner").get(f"/clients/{world.member.id}"))
    assert "ошибка при пополнении" in page and "negative" in page


def test_comments_show_in_time_order_and_an_empty_one_is_refused(
    as_role: Any, world: World
) -> None:
    browser = as_role("attendant")
    path = f"/clients/{world.member.id}/comments"
    assert post_form(browser, path, {"text": "Первый визит, всё хорошо"}).status_code == 302
    assert post_form(browser, path, {"text": "Просил чек на почту"}).status_code == 302
    empty = post_form(browser, path, {"text": "  "})
    assert empty.status_code == 400 and "Напишите комментарий" in _text(empty)
    assert Comment.select().count() == 2
    page = _text(browser.get(f"/clients/{world.member.id}"))
    assert page.index("Первый визит") < page.index("Просил чек")


def test_cards_and_plates_are_linked_marked_lost_and_unlinked_from_the_page(
    as_role: Any, world: World
) -> None:
    browser = as_role("operator")
    base = f"/clients/{world.guest.id}"
    assert post_form(browser, f"{base}/cards", {"uid": "a1 b2 c3 d4"}).status_code == 302
    assert post_form(browser, f"{base}/plates", {"plate": "p 500 pp 50"}).status_code == 302
    taken = post_form(browser, f"{base}/cards", {"uid": "04A1B2C3D4E5F6"})
    assert taken.status_code == 409 and "Иван Петров" in _text(taken)
    bad = post_form(browser, f"{base}/plates", {"plate": "?"})
    assert bad.status_code == 400 and "Некорректный номер автомобиля" in _text(bad)
    card = Credential.get((Credential.client == world.guest) & (Credential.kind == "card"))
    assert card.value == "A1B2C3D4"
    assert post_form(browser, f"{base}/credentials/{card.id}/lost", {}).status_code == 302
    assert Credential.get_by_id(card.id).lost
    assert "потеряна" in _text(browser.get(base))
    plate = Credential.get(Credential.value == "Р500РР50")
    assert post_form(browser, f"{base}/credentials/{plate.id}/unlink", {}).status_code == 302
    assert Credential.get_by_id(plate.id).unlinked_at is not None
    assert post_form(as_role("attendant"), f"{base}/cards", {"uid": "01020304"}).status_code == 403


def test_blocking_and_unblocking_from_the_page(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    path = f"/clients/{world.member.id}/block"
    assert post_form(browser, path, {"action": "block", "reason": "долг"}).status_code == 302
    stored = Client.get_by_id(world.member.id)
    assert stored.blocked and stored.blocked_reason == "долг"
    assert "Разблокировать" in _text(browser.get(f"/clients/{world.member.id}"))
    assert post_form(browser, path, {"action": "unblock"}).status_code == 302
    assert not Client.get_by_id(world.member.id).blocked
    assert post_form(as_role("attendant"), path, {"action": "block"}).status_code == 403


def test_a_search_longer_than_anything_it_could_match_is_refused_in_words(
    as_role: Any, world: World
) -> None:
    page = as_role("operator").get("/clients?q=" + "А" * 5000)
    assert page.status_code == 400
    assert "Строка поиска — не длиннее 100 символов" in _text(page)
    found = as_role("operator").get("/clients?q=" + "  Иван  " + " " * 50)
    assert found.status_code == 200 and "Иван Петров" in _text(found)
    assert 'maxlength="100"' in _text(found)


def test_deleting_needs_the_confirmation_and_the_role(as_role: Any, world: World) -> None:
    path = f"/clients/{world.guest.id}/delete"
    assert post_form(as_role("operator"), path, {"confirm": "yes"}).status_code == 403
    admin = as_role("administrator")
    unconfirmed = post_form(admin, path, {})
    assert unconfirmed.status_code == 400 and "Подтвердите удаление" in _text(unconfirmed)
    assert Client.get_by_id(world.guest.id).deleted_at is None
    response = post_form(admin, path, {"confirm": "yes"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/clients")
    assert Client.get_by_id(world.guest.id).deleted_at is not None
    assert admin.get(f"/clients/{world.guest.id}").status_code == 404


def test_a_refused_deletion_says_why_and_the_owner_restores_from_the_deleted_list(
    as_role: Any, world: World
) -> None:
    owner = as_role("owner")
    ledger.record_topup(world.users["owner"], world.guest, 25000, "cash")
    refused = post_form(owner, f"/clients/{world.guest.id}/delete", {"confirm": "yes"})
    assert refused.status_code == 409 and "На счёте клиента 250,00\xa0₽." in _text(refused)
    assert Client.get_by_id(world.guest.id).deleted_at is None

    ledger.adjust_balance(world.users["owner"], world.guest, -25000, "вернули наличными")
    assert (
        post_form(owner, f"/clients/{world.guest.id}/delete", {"confirm": "yes"}).status_code == 302
    )
    listed = _text(owner.get("/clients/deleted"))
    assert f"Гость №{world.guest.id}" in listed and "Восстановить" in listed
    assert as_role("administrator").get("/clients/deleted").status_code == 403
    restored = post_form(owner, f"/clients/{world.guest.id}/restore", {})
    assert restored.status_code == 302
    assert owner.get(f"/clients/{world.guest.id}").status_code == 200
    assert "Удалённых клиентов нет" in _text(owner.get("/clients/deleted"))
    assert post_form(owner, f"/clients/{world.member.id}/restore", {}).status_code == 404


def test_editing_a_client(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    path = f"/clients/{world.member.id}/edit"
    form_page = _text(browser.get(path))
    assert 'value="Иван Петров"' in form_page and "+79161234567" in form_page
    bad = post_form(browser, path, {"name": "Иван", "email": "broken"})
    assert bad.status_code == 400 and "электронной почты" in _text(bad)
    assert Client.get_by_id(world.member.id).name == "Иван Петров"
    response = post_form(
        browser, path, {"name": "Иван Петрович", "phones": "89160000000", "email": "", "note": "x"}
    )
    assert response.status_code == 302
    stored = Client.get_by_id(world.member.id)
    assert stored.name == "Иван Петрович" and stored.note == "x" and stored.email == ""
    assert clientbook.phones_of(stored) == ["+79160000000"]
    assert as_role("attendant").get(path).status_code == 403


def test_registering_a_guest_as_a_member_keeps_their_history(as_role: Any, world: World) -> None:
    _ended_session(world, world.guest)
    ledger.record_topup(None, world.guest, 2000, "cash")
    browser = as_role("attendant")
    path = f"/clients/{world.guest.id}/promote"
    assert "Гость станет участником" in _text(browser.get(path))
    missing = post_form(browser, path, {"name": ""})
    assert missing.status_code == 422 and Client.get_by_id(world.guest.id).kind == "guest"
    response = post_form(browser, path, {"name": "Олег Гостев", "phones": "+79001112233"})
    assert response.status_code == 302
    stored = Client.get_by_id(world.guest.id)
    assert stored.kind == "member" and stored.name == "Олег Гостев"
    page = _text(browser.get(f"/clients/{world.guest.id}"))
    assert "О777ОО99" in page and format_kopecks(13000) in page and format_kopecks(2000) in page


def test_the_qr_page_shows_a_printable_code_and_reissue_needs_edit_rights(
    as_role: Any, world: World
) -> None:
    attendant = as_role("attendant")
    page = _text(attendant.get(f"/clients/{world.member.id}/qr"))
    assert "<svg" in page and "viewBox" in page and "data-print" in page  # forms.js prints
    assert "Выпустить новый QR-код" not in page
    first = Credential.get((Credential.kind == "qr") & Credential.unlinked_at.is_null())
    assert attendant.get(f"/clients/{world.member.id}/qr").status_code == 200
    assert Credential.select().where(Credential.kind == "qr").count() == 1
    path = f"/clients/{world.member.id}/qr/reissue"
    assert post_form(attendant, path, {}).status_code == 403
    operator: FlaskClient = as_role("operator")
    assert "Выпустить новый QR-код" in _text(operator.get(f"/clients/{world.member.id}/qr"))
    assert post_form(operator, path, {}).status_code == 302
    assert Credential.get_by_id(first.id).unlinked_at is not None
    assert (
        Credential.select()
        .where((Credential.kind == "qr") & Credential.unlinked_at.is_null())
        .count()
        == 1
    )


def test_a_form_without_the_csrf_token_is_refused(as_role: Any, world: World) -> None:
    browser = as_role("attendant")
    response = browser.post(
        f"/clients/{world.member.id}/topup", data={"amount": "100", "method": "cash"}
    )
    assert response.status_code == 400
    assert LedgerEntry.select().count() == 0


def test_the_printed_qr_code_is_the_compact_token_at_version_6_or_less(
    app: Flask, as_role: Any, world: World
) -> None:
    """A 53x53 code (version 9, the long token) is too fine for a phone held up to the stand's
    camera; the compact token is printed at level M in alphanumeric mode: 41x41 modules at most
    (49 with the 4-module border)."""
    page = _text(as_role("attendant").get(f"/clients/{world.member.id}/qr"))
    size = re.search(r'<svg viewBox="0 0 (\d+) (\d+)"', page)
    assert size is not None and int(size[1]) == int(size[2]) <= 6 * 4 + 17 + 2 * 4
    token = client_credentials.current_qr(None, world.member, app.config["AQ"])
    assert token is not None and token.startswith("AQ2:")
    code = qr_code(token)
    assert (code.version <= 6, code.error, code.mode) == (True, "M", "alphanumeric")
    assert qr_code(token).svg_inline(border=4, omitsize=True) in page
    claims = qrtoken.verify(public_key(app.config["AQ"]), token)
    assert claims.client_id == world.member.id
