"""Online top-ups through YooKassa (cloud/payments/), against the emulator of its API
(tests/emulators/yookassa.py) with the real SDK: a payment is credited exactly once whichever
of the notification, the client's return and reconciliation comes first or twice; a
notification's body is never trusted; limits; the provider down; unknown payments."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from cloud.clock import app_now
from cloud.db import db_proxy, is_postgresql
from cloud.errors import ValidationFailed
from cloud.ledger.service import ledger_balance, record_topup
from cloud.models import Client, OnlinePayment
from cloud.payments import service
from cloud.payments.providers import ProviderUnavailable
from tests.cloud.conftest import World
from tests.cloud.onlinepay import (
    balance,
    notify,
    online_entries,
    provider,
    start,
)
from tests.emulators.yookassa import DEMO_SHOPS, YooKassaEmulator


def test_a_payment_succeeded_twice_notification_and_return_credits_once(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = start(paying_app, world.member, 50_000)
    assert payment.status == "pending"
    assert payment.confirmation_url.startswith(f"http://127.0.0.1:{emulator.port}/pay/")

    emulator.pay(str(payment.provider_payment_id))
    first = notify(paying_app, emulator.notification(str(payment.provider_payment_id)))
    again = notify(paying_app, emulator.notification(str(payment.provider_payment_id)))
    returned = service.sync_payment(provider(paying_app), payment, app_now())

    assert (first.status_code, first.get_json()) == (200, {"status": "succeeded"})
    assert again.status_code == 200
    assert returned.status == "succeeded" and returned.credited_at is not None
    assert balance(world.member) == 50_000 == ledger_balance(world.member)
    [entry] = online_entries(world.member)
    assert (entry.kind, entry.amount_kopecks) == ("topup", 50_000)
    assert returned.entry_id == entry.id
    assert str(payment.provider_payment_id) in entry.reason


def test_a_forged_notification_for_a_pending_payment_credits_nothing(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = start(paying_app, world.member)
    forged = emulator.notification(str(payment.provider_payment_id), "payment.succeeded")
    forged["object"].update(status="succeeded", paid=True)

    answer = notify(paying_app, forged)

    assert (answer.status_code, answer.get_json()) == (200, {"status": "pending"})
    assert balance(world.member) == 0
    assert online_entries(world.member) == []
    assert ("GET", f"/v3/payments/{payment.provider_payment_id}") in emulator.requests


def test_a_payment_left_pending_is_credited_by_reconciliation(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    paid = start(paying_app, world.member, 30_000)
    unpaid = start(paying_app, world.member, 20_000)
    canceled = start(paying_app, world.member, 10_000)
    emulator.pay(str(paid.provider_payment_id))  # the notification never arrives
    emulator.cancel(str(canceled.provider_payment_id))

    report = service.reconcile(provider(paying_app), app_now())
    again = service.reconcile(provider(paying_app), app_now())

    assert (report.asked, report.credited, report.unanswered) == (3, 1, 0)
    assert (again.asked, again.credited) == (1, 0)  # only the unpaid one is still open
    assert balance(world.member) == 30_000
    statuses = {p.id: p.status for p in OnlinePayment.select()}
    assert statuses == {paid.id: "succeeded", unpaid.id: "pending", canceled.id: "canceled"}


def test_out_of_order_notifications_leave_a_credited_payment_credited(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = start(paying_app, world.member)
    stale = emulator.notification(str(payment.provider_payment_id))  # pending, sent late
    emulator.pay(str(payment.provider_payment_id))
    notify(paying_app, emulator.notification(str(payment.provider_payment_id)))

    answer = notify(paying_app, stale)

    assert answer.get_json() == {"status": "succeeded"}
    assert OnlinePayment.get_by_id(payment.id).status == "succeeded"
    assert balance(world.member) == 50_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (5_000, "Минимальная сумма пополнения — 100,00 ₽"),
        (2_000_000, "Максимальная сумма пополнения — 15 000,00 ₽"),
        (0, "Сумма пополнения должна быть больше нуля"),
    ],
)
def test_amounts_out_of_the_limits_are_refused_with_a_clear_message(
    paying_app: Flask, emulator: YooKassaEmulator, world: World, amount: int, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        start(paying_app, world.member, amount)
    assert refused.value.message.replace("\xa0", " ") == message
    assert emulator.payments == {}
    assert OnlinePayment.select().count() == 0


def test_the_day_limit_counts_the_clients_payments_of_the_day(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    start(paying_app, world.member, 1_500_000)
    failed = start(paying_app, world.member, 1_000_000)
    emulator.cancel(str(failed.provider_payment_id))
    service.sync_payment(provider(paying_app), failed, app_now())  # canceled: not counted
    start(paying_app, world.member, 1_400_000)

    with pytest.raises(ValidationFailed) as refused:
        start(paying_app, world.member, 200_000)

    assert refused.value.code == "day_limit"
    assert "сегодня можно ещё 1 000,00 ₽" in refused.value.message.replace("\xa0", " ")
    start(paying_app, world.other_site_client, 200_000)  # another client's day is their own


def test_a_payment_started_while_another_is_being_started_sees_it_in_the_day_limit(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    """Two payments started at once are checked against the day limit one after the other:
    while another start of the client's holds its transaction, the second waits for it and is
    then refused, instead of both passing the check on the same day total."""
    outcome: list[BaseException | OnlinePayment] = []

    def second_start() -> None:
        try:
            with paying_app.app_context():
                outcome.append(start(paying_app, world.member, 1_000_000))
        except BaseException as error:  # the assertion below names it
            outcome.append(error)
        finally:
            db_proxy.close()

    second = threading.Thread(target=second_start)
    with db_proxy.atomic():  # the first start, between its check and its commit
        query = Client.select(Client.id).where(Client.id == world.member.id)
        (query.for_update() if is_postgresql() else query).execute()
        OnlinePayment.create(
            client=world.member,
            provider="yookassa",
            idempotence_key="first-of-two",
            amount_kopecks=2_500_000,
            created_at=app_now(),
            updated_at=app_now(),
        )
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive(), f"the second start did not wait for the first: {outcome}"
    second.join(timeout=15)

    [refused] = outcome
    assert isinstance(refused, ValidationFailed) and refused.code == "day_limit"
    assert OnlinePayment.select().count() == 1


def test_a_notification_for_an_unknown_or_foreign_payment_changes_nothing(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    ours = start(paying_app, world.member)
    other_shop = YooKassaEmulator(shops={"200700": DEMO_SHOPS["200700"]})
    foreign = (
        other_shop.app.test_client()
        .post(
            "/v3/payments",
            json={
                "amount": {"value": "500.00", "currency": "RUB"},
                "confirmation": {"type": "redirect", "return_url": "http://x/"},
                "capture": True,
            },
            headers={
                "Idempotence-Key": "k",
                "Authorization": "Basic MjAwNzAwOnRlc3Rfb3RoZXJfc2VjcmV0",
            },
        )
        .get_json()
    )
    other_shop.pay(foreign["id"])
    # The id of a payment of ours, moved to another shop's payment: the provider denies it.
    OnlinePayment.update(provider_payment_id="00000000-000f-5000-8000-000000000000").where(
        OnlinePayment.id == ours.id
    ).execute()

    unknown = notify(paying_app, other_shop.notification(foreign["id"]))
    denied = notify(
        paying_app,
        {
            "type": "notification",
            "event": "payment.succeeded",
            "object": {"id": "00000000-000f-5000-8000-000000000000", "status": "succeeded"},
        },
    )
    not_a_notification = notify(paying_app, {"hello": "world"})

    assert (unknown.status_code, unknown.get_json()) == (200, {"status": "unknown"})
    assert (denied.status_code, denied.get_json()) == (200, {"status": "pending"})
    assert not_a_notification.status_code == 400
    assert balance(world.member) == 0 and online_entries(world.member) == []


def test_the_provider_down_is_a_clear_error_and_credits_nothing(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    pending = start(paying_app, world.member)
    emulator.pay(str(pending.provider_payment_id))
    emulator.down = True

    with pytest.raises(ProviderUnavailable) as refused:
        start(paying_app, world.member)
    answer = notify(paying_app, emulator.notification(str(pending.provider_payment_id)))
    report = service.reconcile(provider(paying_app), app_now())
    emulator.stop()  # nothing listens at all now
    with pytest.raises(ProviderUnavailable):
        service.sync_payment(provider(paying_app), pending, app_now())

    assert refused.value.message == "Платёжный сервис не отвечает, попробуйте позже"
    assert answer.status_code == 503
    assert report.unanswered == 1
    assert balance(world.member) == 0
    assert [p.status for p in OnlinePayment.select().order_by(OnlinePayment.id)] == [
        "pending",
        "failed",
    ]


def test_concurrent_credits_of_one_payment_post_one_entry(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = start(paying_app, world.member, 70_000)
    emulator.pay(str(payment.provider_payment_id))
    now = app_now()
    barrier = threading.Barrier(4)
    won: list[bool] = []
    errors: list[BaseException] = []

    def credit() -> None:
        try:
            barrier.wait(timeout=10)
            won.append(service.credit(OnlinePayment.get_by_id(payment.id), now))
        except BaseException as error:  # the assertion below names it
            errors.append(error)
        finally:
            db_proxy.close()

    threads = [threading.Thread(target=credit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(won) == [False, False, False, True]
    assert len(online_entries(world.member)) == 1
    assert balance(world.member) == 70_000 == ledger_balance(world.member)


def test_online_top_ups_are_in_the_top_up_report_and_staff_cannot_type_the_method(
    paying_app: Flask, emulator: YooKassaEmulator, world: World
) -> None:
    payment = start(paying_app, world.member, 40_000)
    emulator.pay(str(payment.provider_payment_id))
    service.sync_payment(provider(paying_app), payment, app_now())
    record_topup(world.users["owner"], world.member, 10_000, "cash")

    api = paying_app.test_client()
    history = api.get("/api/v1/reports/topups/history?method=online", headers=world.bearer("owner"))
    summary = api.get("/api/v1/reports/topups?group_by=method", headers=world.bearer("owner"))

    assert history.status_code == 200, history.get_data(as_text=True)
    items = history.get_json()["items"]
    assert [(item["method"], item["amount_kopecks"]) for item in items] == [("online", 40_000)]
    groups = {g["key"]: g["amount_kopecks"] for g in summary.get_json()["rows"]}
    assert groups == {"online": 40_000, "cash": 10_000}
    with pytest.raises(ValidationFailed):
        record_topup(world.users["owner"], world.member, 10_000, "online")
