"""The cabinet's pages: joining the club (consent, a guest keeping their history, the welcome
bonus), the home page, washes, cards (lost), the QR code (reissued), settings, and the staff's
view of a client's cabinet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from cloud.cabinet import auth
from cloud.ledger.service import post_entry
from cloud.models import CabinetAccount, CabinetSession, Client, Credential, LedgerEntry, Session
from tests.cloud.cabinethelp import cabinet_login, last_code, post
from tests.cloud.conftest import World, post_form

PHONE = "+79161234567"
NEW_PHONE = "+79031112233"


def _verified(app: Flask, phone: str) -> object:
    browser = app.test_client()
    post(browser, "/my/login", {"phone": phone})
    answer = post(browser, "/my/login/code", {"code": last_code(app, phone)})
    assert answer.headers["Location"].endswith("/my/join")
    return browser


def test_a_new_phone_joins_with_consent_and_gets_the_welcome_bonus(
    app: Flask, world: World
) -> None:
    app.config["AQ"].points_welcome = 100
    browser = _verified(app, NEW_PHONE)
    form = {"name": "Нина Новая", "email": "nina@example.ru", "plates": "м 001 мм 77"}
    refused = post(browser, "/my/join", form)  # type: ignore[arg-type]
    assert refused.status_code == 422
    assert Client.select().where(Client.name == "Нина Новая").count() == 0
    joined = post(browser, "/my/join", {**form, "consent": "1"})  # type: ignore[arg-type]
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/my/")
    client = Client.get(Client.name == "Нина Новая")
    assert client.kind == "member" and client.points_balance == 100
    plate = Credential.get((Credential.client == client) & (Credential.kind == "plate"))
    assert plate.value == "М001ММ77"
    account = CabinetAccount.get(CabinetAccount.client == client.id)
    assert account.consent_version == app.config["AQ"].cabinet_consent_version
    assert account.consent_at is not None and account.last_login_at is not None
    assert "Нина Новая" in browser.get("/my/").get_data(as_text=True)  # type: ignore[attr-defined]


def test_a_guest_who_joins_with_their_plate_keeps_their_history(app: Flask, world: World) -> None:
    Session.create(
        client=world.guest,
        stand=world.stand_a,
        site=world.site_a,
        tariff_version=world.tariff_version,
        client_kind="guest",
        started_at=datetime.now(UTC) - timedelta(days=3),
        ended_at=datetime.now(UTC) - timedelta(days=3) + timedelta(minutes=7),
        duration_s=420,
        cost_kopecks=10500,
        start_method="plate",
    )
    browser = _verified(app, NEW_PHONE)
    form = {"name": "Гость Бывший", "plates": "o777oo99", "consent": "1"}
    assert post(browser, "/my/join", form).status_code == 302  # type: ignore[arg-type]
    promoted = Client.get_by_id(world.guest.id)
    assert promoted.kind == "member" and promoted.name == "Гость Бывший"
    assert Client.select().where(Client.name == "Гость Бывший").count() == 1
    washes = browser.get("/my/washes").get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Мойка на Ленина" in washes and "105,00" in washes


def test_a_members_plate_cannot_be_claimed(app: Flask, world: World) -> None:
    browser = _verified(app, NEW_PHONE)
    form = {"name": "Чужой", "plates": "А123ВС77", "consent": "1"}
    answer = post(browser, "/my/join", form)  # type: ignore[arg-type]
    assert answer.status_code == 409
    assert Client.select().where(Client.name == "Чужой").count() == 0


def test_join_needs_a_verified_phone(app: Flask, world: World) -> None:
    answer = post(app.test_client(), "/my/join", {"name": "X", "consent": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/my/login")


def test_home_shows_balance_points_and_what_expires(app: Flask, world: World) -> None:
    post_entry(world.member, "topup", 125000, method="cash")
    post_entry(world.member, "bonus_accrual", 0, amount_points=40)
    page = cabinet_login(app, PHONE).get("/my/").get_data(as_text=True)
    assert "1\xa0250,00" in page
    assert "40" in page and "Сгорание баллов" in page


def test_qr_page_and_reissue_revoke_the_old_token(app: Flask, world: World) -> None:
    browser = cabinet_login(app, PHONE)
    page = browser.get("/my/qr").get_data(as_text=True)
    assert "<svg" in page and "яркость" in page
    first = Credential.get((Credential.client == world.member) & (Credential.kind == "qr"))
    assert post(browser, "/my/qr/reissue").status_code == 302
    assert Credential.get_by_id(first.id).unlinked_at is not None
    live = Credential.select().where(
        (Credential.client == world.member)
        & (Credential.kind == "qr")
        & Credential.unlinked_at.is_null()
    )
    assert live.count() == 1


def test_a_card_marked_lost_in_the_cabinet_is_lost(app: Flask, world: World) -> None:
    browser = cabinet_login(app, PHONE)
    card = Credential.get((Credential.client == world.member) & (Credential.kind == "card"))
    before = Client.get_by_id(world.member.id).updated_at
    assert post(browser, f"/my/cards/{card.id}/lost").status_code == 302
    assert Credential.get_by_id(card.id).lost
    assert Client.get_by_id(world.member.id).updated_at >= before  # the directory's change
    assert "потеряна" in browser.get("/my/cards").get_data(as_text=True)


def test_settings_change_email_mailings_and_language(app: Flask, world: World) -> None:
    browser = cabinet_login(app, PHONE)
    form = {"email": "new@example.ru", "locale": "en"}  # mailings unticked: unsubscribed
    assert post(browser, "/my/settings", form).status_code == 302
    client = Client.get_by_id(world.member.id)
    assert client.email == "new@example.ru" and client.unsubscribed
    assert "Settings" in browser.get("/my/settings").get_data(as_text=True)
    bad = post(browser, "/my/settings", {"email": "not an email", "mailings": "1"})
    assert bad.status_code == 400
    assert Client.get_by_id(world.member.id).email == "new@example.ru"


def test_staff_see_the_cabinet_and_operators_end_its_sessions(
    app: Flask, world: World, as_role: object
) -> None:
    auth.open_session(world.member, "web")
    operator = as_role("operator")  # type: ignore[operator]
    page = operator.get(f"/clients/{world.member.id}").get_data(as_text=True)
    assert "Личный кабинет" in page and "Завершить сеансы личного кабинета" in page
    attendant = as_role("attendant")  # type: ignore[operator]
    path = f"/clients/{world.member.id}/cabinet/end-sessions"
    assert post_form(attendant, path, {}).status_code == 403
    assert post_form(operator, path, {}).status_code == 302
    live = CabinetSession.select().where(CabinetSession.ended_at.is_null())
    assert live.count() == 0


def test_washes_show_points_spent(app: Flask, world: World) -> None:
    wash = Session.create(
        client=world.member,
        stand=world.stand_a,
        site=world.site_a,
        tariff_version=world.tariff_version,
        client_kind="member",
        started_at=datetime.now(UTC) - timedelta(hours=2),
        ended_at=datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=5),
        duration_s=300,
        cost_kopecks=5000,
        start_method="card",
    )
    post_entry(world.member, "bonus_accrual", 0, amount_points=30)
    post_entry(world.member, "bonus_spend", 0, amount_points=-30, session=wash)
    page = cabinet_login(app, PHONE).get("/my/washes").get_data(as_text=True)
    assert "Пост 1" in page and "50,00" in page and "5:00" in page and "баллами: 30" in page
    assert LedgerEntry.select().where(LedgerEntry.session == wash).count() == 1
