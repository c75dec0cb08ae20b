"""Alerts by e-mail (cloud/alerts/) through a real SMTP server (aiosmtpd on 127.0.0.1), on
SQLite and PostgreSQL, with the app's clock set by the test: each kind of trouble opens one
incident, mails its recipients once, and mails once more when it clears; two passes at once
send one mail; a server that is down is tried again at the next pass and never mails twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from cloud import demoalerts
from cloud.alerts import incidents as incidents_book
from cloud.alerts import messages
from cloud.alerts.probes import Finding
from cloud.alerts.service import check_alerts
from cloud.clock import FixedClock
from cloud.demodata import load_demo_data
from cloud.models import (
    AlertIncident,
    AlertSubscription,
    AuditEntry,
    Client,
    HeldTopup,
    LedgerEntry,
    Receipt,
    Session,
    Stand,
    StandHeartbeat,
    User,
)
from tests.cloud.conftest import World, post_form
from tests.cloud.heldrows import add_held_topup
from tests.cloud.sessionrows import add_session
from tests.cloud.test_mailings import Recorder, free_port, smtp_server  # noqa: F401  (a fixture)
from tests.cloud.test_standauth import commands  # noqa: F401  (a fixture)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENDER = "Аквастенд <alerts@aquastand.example>"
OWNER_MAIL = "owner@aquastand.example"
pytestmark = pytest.mark.parametrize("clock", [NOW], indirect=True)


@pytest.fixture
def mail(app: Flask, smtp_server: tuple[Recorder, int]) -> Recorder:  # noqa: F811
    """The service sending through the test's SMTP server (no TLS on loopback)."""
    recorder, port = smtp_server
    config = app.config["AQ"]
    config.smtp_host, config.smtp_port = "127.0.0.1", port
    config.smtp_sender, config.smtp_security, config.smtp_timeout = SENDER, "none", 10
    return recorder


def subscribe(user: User, *kinds: str, email: str = OWNER_MAIL) -> None:
    User.update(email=email).where(User.id == user.id).execute()
    for kind in kinds:
        AlertSubscription.create(user=user, kind=kind)


def run(app: Flask, clock: FixedClock) -> Any:
    return check_alerts(app.config["AQ"], clock)


def enrol(stand: Stand, at: datetime, alarm: str = "") -> None:
    Stand.update(token_hash="f" * 64, enrolled_at=at).where(Stand.id == stand.id).execute()
    beat(stand, at, alarm)


def beat(stand: Stand, at: datetime, alarm: str = "") -> None:
    values = {
        "received_at": at,
        "version": "1",
        "uptime_s": 1,
        "outbox": 0,
        "cursor": 1,
        "alarm": alarm,
    }
    StandHeartbeat.insert(stand=stand.id, **values).on_conflict(
        conflict_target=[StandHeartbeat.stand], update=values
    ).execute()


def failed_receipt(world: World) -> Receipt:
    entry = LedgerEntry.create(
        client=world.member, kind="topup", amount_kopecks=1_000, method="cash"
    )
    return Receipt.create(
        entry=entry,
        client=world.member,
        kind="advance",
        amount_kopecks=1_000,
        payment_method="advance",
        external_id=f"aq-alerts-{entry.id}",
        status="failed",
    )


@dataclass(frozen=True)
class Trouble:
    """How a test makes one kind of trouble (returning the subject it expects) and ends it."""

    make: Callable[[World, FixedClock], str]
    end: Callable[[World, FixedClock], None]
    words: str  # in the opening mail's body


def _offline(world: World, clock: FixedClock) -> str:
    enrol(world.stand_a, clock.now())
    clock.advance(minutes=16)  # alert_stand_offline_minutes is 15
    return f"stand:{world.stand_a.id}"


def _alarm(world: World, clock: FixedClock) -> str:
    enrol(world.stand_a, clock.now(), alarm="События 5–9 потеряны при восстановлении")
    return f"stand:{world.stand_a.id}"


def _long_session(world: World, clock: FixedClock) -> str:
    session = add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=clock.now() - timedelta(hours=13),
    )
    return f"session:{session.id}"


def _end_sessions(world: World, clock: FixedClock) -> None:
    Session.update(ended_at=clock.now(), duration_s=1, cost_kopecks=0).execute()


def _held(world: World, clock: FixedClock) -> str:
    return f"held:{add_held_topup(world, clock.now()).id}"


def _receipts(world: World, clock: FixedClock) -> str:
    failed_receipt(world)
    return "failed"


def _balance(world: World, clock: FixedClock) -> str:
    Client.update(balance_kopecks=12_345).where(Client.id == world.member.id).execute()
    return "balances"


TROUBLES = {
    "stand_offline": Trouble(
        _offline, lambda world, clock: beat(world.stand_a, clock.now()), "не выходит на связь 16"
    ),
    "stand_alarm": Trouble(
        _alarm, lambda world, clock: beat(world.stand_a, clock.now()), "События 5–9 потеряны"
    ),
    "long_session": Trouble(_long_session, _end_sessions, "Открыта 13 ч."),
    "held_topup": Trouble(
        _held,
        lambda world, clock: HeldTopup.update(status="rejected").execute(),
        "Задержано для проверки",
    ),
    "receipts": Trouble(
        _receipts,
        lambda world, clock: Receipt.update(status="done").execute(),
        "Чеков с ошибкой: 1",
    ),
    "integrity": Trouble(
        _balance,
        lambda world, clock: (
            Client.update(balance_kopecks=0).where(Client.id == world.member.id).execute()
        ),
        "баланс 123,45",
    ),
}


def incidents(kind: str) -> list[AlertIncident]:
    return list(AlertIncident.select().where(AlertIncident.kind == kind).order_by(AlertIncident.id))


@pytest.mark.parametrize("kind", list(TROUBLES))
def test_each_kind_opens_once_mails_once_and_recovers_once(
    app: Flask, clock: FixedClock, world: World, mail: Recorder, kind: str
) -> None:
    trouble = TROUBLES[kind]
    subscribe(world.users["owner"], kind)
    subscribe(world.users["administrator"], kind, email="admin@aquastand.example")
    run(app, clock)  # whatever the world holds already
    before = len(mail.received)

    subject = trouble.make(world, clock)
    run(app, clock)
    clock.advance(minutes=2)
    run(app, clock)

    (incident,) = [i for i in incidents(kind) if i.subject == subject]
    assert incident.closed_at is None and incident.open_mail == "sent"
    opening = mail.received[before:]
    assert len(opening) == 1
    message = opening[0].message
    assert sorted(opening[0].rcpt_tos) == ["admin@aquastand.example", OWNER_MAIL]
    assert str(message["Subject"]).startswith("Тревога: " + str(messages.KIND_TITLES[kind]))
    assert trouble.words in message.get_content()
    assert message["Message-ID"] == f"<alert-{incident.id}-open@aquastand.example>"

    clock.advance(minutes=2)
    trouble.end(world, clock)
    run(app, clock)
    clock.advance(minutes=2)
    run(app, clock)

    incident = AlertIncident.get_by_id(incident.id)
    assert incident.closed_at is not None and incident.close_mail == "sent"
    assert [i.id for i in incidents(kind) if i.subject == subject] == [incident.id]
    recovery = mail.received[before + 1 :]
    assert len(recovery) == 1
    assert str(recovery[0].message["Subject"]).startswith("Устранено: ")
    assert "Длилось: " in recovery[0].message.get_content()


def test_trouble_that_comes_back_is_a_new_incident_with_its_own_mails(
    app: Flask, clock: FixedClock, world: World, mail: Recorder
) -> None:
    subscribe(world.users["owner"], "stand_alarm")
    for alarm in ("потеряны события", "", "потеряны события", ""):
        enrol(world.stand_a, clock.now(), alarm=alarm)
        run(app, clock)
        clock.advance(minutes=2)
    assert [(i.open_mail, i.close_mail) for i in incidents("stand_alarm")] == [("sent", "sent")] * 2
    subjects = [str(r.message["Subject"]).split(":")[0] for r in mail.received]
    assert subjects == ["Тревога", "Устранено", "Тревога", "Устранено"]


def test_only_staff_who_chose_the_kind_are_mailed_and_nobody_means_no_mail(
    app: Flask, clock: FixedClock, world: World, mail: Recorder
) -> None:
    subscribe(world.users["owner"], "held_topup")
    subscribe(world.users["administrator"], "long_session", email="admin@aquastand.example")
    User.update(active=False).where(User.id == world.users["administrator"].id).execute()
    _long_session(world, clock)
    _held(world, clock)

    run(app, clock)
    _end_sessions(world, clock)
    run(app, clock)

    assert [r.rcpt_tos for r in mail.received] == [[OWNER_MAIL]]  # the held top-up only
    (session_incident,) = incidents("long_session")
    assert (session_incident.open_mail, session_incident.close_mail) == ("none", "none")


def test_two_passes_at_once_open_one_incident_and_send_one_mail(
    app: Flask, clock: FixedClock, world: World, mail: Recorder
) -> None:
    subscribe(world.users["owner"], "long_session")
    for _ in range(3):
        add_session(
            world.member, world.stand_a, world.tariff_version, started_at=NOW - timedelta(hours=20)
        )
    database = app.extensions["aquastand_db"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_pass() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                run(app, clock)
            except BaseException as error:  # the assertion below names it
                errors.append(error)
            finally:
                database.close()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(incidents("long_session")) == 3
    assert len(mail.received) == 3
    assert len({str(r.message["Subject"]) for r in mail.received}) == 3


def test_a_server_that_is_down_is_tried_again_and_never_mails_twice(
    app: Flask,
    clock: FixedClock,
    world: World,
    smtp_server: tuple[Recorder, int],  # noqa: F811
) -> None:
    recorder, port = smtp_server
    config = app.config["AQ"]
    config.smtp_host, config.smtp_port = "127.0.0.1", free_port()  # nothing listens there
    config.smtp_sender, config.smtp_security, config.smtp_timeout = SENDER, "none", 5
    subscribe(world.users["owner"], "receipts")
    _receipts(world, clock)

    down = run(app, clock)
    clock.advance(minutes=2)
    run(app, clock)
    (incident,) = incidents("receipts")
    assert down.mail.failed == 1 and incident.open_mail == "pending"
    assert incident.attempts == 2 and incident.last_error

    config.smtp_port = port  # the server is back
    Receipt.update(status="done").execute()  # and the trouble cleared meanwhile
    clock.advance(minutes=2)
    up = run(app, clock)
    clock.advance(minutes=2)
    again = run(app, clock)

    subjects = [str(r.message["Subject"]).split(":")[0] for r in recorder.received]
    assert subjects == ["Тревога", "Устранено"]  # the opening mail first, late but once
    assert up.mail.sent == 2 and again.mail.sent == 0


def test_a_mail_claimed_by_a_sender_that_died_is_never_sent_again(
    app: Flask, clock: FixedClock, world: World, mail: Recorder
) -> None:
    subscribe(world.users["owner"], "held_topup")
    _held(world, clock)
    run(app, clock)
    (incident,) = incidents("held_topup")
    # A second incident whose mail a sender claimed and never finished.
    held_topup_two = AlertIncident.create(
        kind="held_topup",
        subject="held:999",
        label="x",
        opened_at=clock.now(),
        open_mail="sending",
        open_mail_at=clock.now(),
    )
    clock.advance(minutes=11)
    report = run(app, clock)

    assert report.mail.interrupted == 1
    assert AlertIncident.get_by_id(held_topup_two.id).open_mail == "interrupted"
    # Its trouble is gone too: the recovery mail follows a claim that may have gone out.
    subjects = [str(r.message["Subject"]).split(":")[0] for r in mail.received]
    assert subjects == ["Тревога", "Устранено"]
    assert mail.received[0].message["Message-ID"].startswith(f"<alert-{incident.id}-open@")


def test_without_an_smtp_server_mails_wait(app: Flask, clock: FixedClock, world: World) -> None:
    subscribe(world.users["owner"], "held_topup")
    _held(world, clock)
    report = run(app, clock)
    assert report.mail.not_configured
    (incident,) = incidents("held_topup")
    assert incident.open_mail == "pending"


# --- the page -----------------------------------------------------------------------------------


def test_the_alerts_page_lists_open_and_recent_incidents(
    app: Flask, clock: FixedClock, world: World, as_role: Any
) -> None:
    _held(world, clock)
    _long_session(world, clock)
    run(app, clock)
    _end_sessions(world, clock)
    run(app, clock)

    page = as_role("administrator").get("/alerts").get_data(as_text=True)
    open_part, recent_part = page.split('id="recent-incidents"')
    assert 'data-kind="held_topup"' in open_part and "Пополнение задержано" in open_part
    assert 'data-kind="long_session"' in recent_part
    assert as_role("operator").get("/alerts").status_code == 403


def test_an_administrator_chooses_a_recipient_and_the_audit_log_records_it(
    app: Flask, clock: FixedClock, world: World, as_role: Any
) -> None:
    browser = as_role("administrator")
    target = world.users["operator"]
    response = post_form(
        browser,
        f"/alerts/recipients/{target.id}",
        {"email": "op@aquastand.example", "kind": ["stand_offline", "receipts"]},
    )
    assert response.status_code == 302
    assert User.get_by_id(target.id).email == "op@aquastand.example"
    chosen = AlertSubscription.select().where(AlertSubscription.user == target.id)
    assert sorted(row.kind for row in chosen) == ["receipts", "stand_offline"]
    (entry,) = AuditEntry.select().where(AuditEntry.action == "staff.alerts")
    assert entry.actor_id == world.users["administrator"].id and entry.target_id == target.id


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "not-an-address", "kind": ["receipts"]}, "Некорректный адрес"),
        ({"email": "", "kind": ["receipts"]}, "Укажите адрес"),
        ({"email": "a@b.ru", "kind": ["bogus"]}, "Неизвестный вид"),
    ],
)
def test_bad_recipient_input_is_refused_and_changes_nothing(
    app: Flask, clock: FixedClock, world: World, as_role: Any, form: dict[str, Any], message: str
) -> None:
    target = world.users["operator"]
    response = post_form(as_role("owner"), f"/alerts/recipients/{target.id}", form)
    assert response.status_code in (400, 422)
    assert message in response.get_data(as_text=True)
    assert User.get_by_id(target.id).email == ""
    assert not AlertSubscription.select().exists()
    assert not AuditEntry.select().where(AuditEntry.action == "staff.alerts").exists()


def test_unknown_staff_member_is_a_404(clock: FixedClock, world: World, as_role: Any) -> None:
    response = post_form(as_role("owner"), "/alerts/recipients/999999", {"email": ""})
    assert response.status_code == 404


# --- the command and the demo ----------------------------------------------------------------


def test_the_check_alerts_command_mails_once_and_fails_while_mail_cannot_go(
    app: Flask,
    clock: FixedClock,
    world: World,
    smtp_server: tuple[Recorder, int],  # noqa: F811
    commands: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder, port = smtp_server
    subscribe(world.users["owner"], "long_session")
    add_session(  # the command reads the wall clock
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=datetime.now(UTC) - timedelta(hours=20),
    )
    monkeypatch.delenv("AQUASTAND_SMTP_HOST", raising=False)

    without = commands("check-alerts")
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SENDER": SENDER,
        "SMTP_SECURITY": "none",
    }.items():
        monkeypatch.setenv(f"AQUASTAND_{name}", value)
    first = commands("check-alerts")
    again = commands("check-alerts")

    assert without.exit_code == 1 and "smtp_host" in without.output
    assert "opened 1" in without.output
    assert first.exit_code == 0, first.output
    assert "opened 0, closed 0; mails sent 1" in first.output
    assert "mails sent 0" in again.output
    assert [r.rcpt_tos for r in recorder.received] == [[OWNER_MAIL]]


def test_the_demo_has_alert_recipients(app: Flask, clock: FixedClock) -> None:
    assert load_demo_data(ZoneInfo("Europe/Moscow"), NOW) is not None
    owner = User.get(User.role == "owner")
    assert owner.email == demoalerts.OWNER_EMAIL
    assert set(messages.recipients("integrity")) == {owner}
    assert {user.role for user in messages.recipients("stand_offline")} == {
        "owner",
        "administrator",
    }


def test_the_database_keeps_one_open_incident_per_kind_and_subject(
    app: Flask, clock: FixedClock
) -> None:
    """What makes two passes at once safe whatever their timing: the second insert of an open
    incident does nothing, and a closed one does not stop a new one."""
    finding = Finding("receipts", "failed", "Чеки с ошибкой", "1")
    assert incidents_book._open(finding, clock.now()) is True
    assert incidents_book._open(finding, clock.now()) is False
    (first,) = incidents("receipts")
    assert incidents_book._close(first.id, clock.now()) is True
    assert incidents_book._close(first.id, clock.now()) is False
    assert incidents_book._open(finding, clock.now()) is True
    assert [i.closed_at is None for i in incidents("receipts")] == [False, True]
