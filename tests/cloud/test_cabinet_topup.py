"""The client's online top-up in the cabinet (cloud/payments/cabinetpages.py): the form with
the amounts offered and the limits, the payment created and the client sent to the emulated
provider's page, the return page crediting once, and another client's payment out of reach."""

from __future__ import annotations

from flask import Flask

from cloud.models import LedgerEntry, OnlinePayment
from tests.cloud.cabinethelp import cabinet_login, post
from tests.cloud.conftest import World
from tests.cloud.onlinepay import balance
from tests.emulators.yookassa import YooKassaEmulator

PHONE = "+79161234567"  # the world's member


def test_a_member_tops_up_online_from_the_cabinet(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    browser = cabinet_login(paying_app, PHONE)

    form = browser.get("/my/topup").get_data(as_text=True)
    sent = post(browser, "/my/topup", {"preset": "100000"})
    payment = OnlinePayment.get()
    back = browser.get(f"/my/topup/return/{payment.id}").get_data(as_text=True)
    emulator.pay(str(payment.provider_payment_id))
    paid = browser.get(f"/my/topup/return/{payment.id}").get_data(as_text=True)
    again = browser.get(f"/my/topup/return/{payment.id}")

    assert 'data-preset="100000"' in form and "100,00" in form  # presets and the minimum
    assert sent.status_code == 303
    assert sent.headers["Location"] == payment.confirmation_url
    confirmation = emulator.payments[str(payment.provider_payment_id)]["confirmation"]
    assert confirmation["return_url"] == f"http://127.0.0.1:1/my/topup/return/{payment.id}"
    assert 'data-status="pending"' in back
    assert 'data-status="succeeded"' in paid and "Оплачено, баланс пополнен." in paid
    assert again.status_code == 200
    assert balance(world.member) == 100_000
    assert LedgerEntry.select().where(LedgerEntry.method == "online").count() == 1


def test_a_custom_amount_out_of_the_limits_is_refused_on_the_form(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    browser = cabinet_login(paying_app, PHONE)

    low = post(browser, "/my/topup", {"amount": "50"})
    bad = post(browser, "/my/topup", {"amount": "пятьсот"})

    assert low.status_code == 422
    assert "Минимальная сумма пополнения" in low.get_data(as_text=True)
    assert bad.status_code == 400
    assert emulator.payments == {} and OnlinePayment.select().count() == 0


def test_the_provider_down_keeps_the_client_on_the_form_with_the_reason(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    browser = cabinet_login(paying_app, PHONE)
    emulator.down = True

    answer = post(browser, "/my/topup", {"amount": "500"})

    assert answer.status_code == 503
    assert "Платёжный сервис не отвечает" in answer.get_data(as_text=True)
    assert balance(world.member) == 0


def test_another_clients_payment_is_not_found(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    from cloud.models import ClientPhone

    ClientPhone.create(client=world.other_site_client, phone="+79165550000")
    owner = cabinet_login(paying_app, PHONE)
    post(owner, "/my/topup", {"amount": "500"})
    payment = OnlinePayment.get()
    stranger = cabinet_login(paying_app, "+79165550000")

    answer = stranger.get(f"/my/topup/return/{payment.id}")

    assert answer.status_code == 404
    assert str(payment.provider_payment_id) not in answer.get_data(as_text=True)


def test_the_client_api_starts_a_top_up_and_reads_it_credited_once(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    from cloud.cabinet import auth

    token = {"Authorization": f"Bearer {auth.open_session(world.member, 'api')}"}
    api = paying_app.test_client()

    limits = api.get("/api/client/v1/topups/limits", headers=token).get_json()
    low = api.post("/api/client/v1/topups", headers=token, json={"amount_kopecks": 500})
    started = api.post("/api/client/v1/topups", headers=token, json={"amount_kopecks": 70_000})
    body = started.get_json()
    emulator.pay(emulator_id := str(OnlinePayment.get_by_id(body["id"]).provider_payment_id))
    first = api.get(f"/api/client/v1/topups/{body['id']}", headers=token).get_json()
    second = api.get(f"/api/client/v1/topups/{body['id']}", headers=token).get_json()
    staff = api.get(f"/api/client/v1/topups/{body['id']}", headers=world.bearer("owner"))

    assert limits["enabled"] and limits["min_kopecks"] == 10_000
    assert limits["presets_kopecks"] == [50_000, 100_000, 200_000, 500_000]
    assert low.status_code == 422 and low.get_json()["error"]["code"] == "below_min"
    assert started.status_code == 201
    assert body["status"] == "pending" and body["confirmation_url"].endswith(emulator_id)
    assert (first["status"], first["credited"]) == ("succeeded", True) and second == first
    assert staff.status_code == 401
    assert balance(world.member) == 70_000
