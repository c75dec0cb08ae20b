"""Mailings through a real SMTP server (aiosmtpd on 127.0.0.1): what arrives (recipients,
subject, personalised body, Russian text encoded), who is skipped and why, a refused recipient
or a server that is down recorded as failed while the rest go on, and a resumed run that sends
nobody twice. Also the pages (preview, queue, status), the API and the command."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from cloud import cli
from cloud.clock import FixedClock, SystemClock
from cloud.db import db_proxy, utcnow
from cloud.marketing import mailings
from cloud.marketing import segments as segmentbook
from cloud.marketing.mailings import send_queued
from cloud.models import Client, Mailing, MailingRecipient, Segment
from tests.cloud.conftest import World, post_form
from tests.cloud.test_openapi import _success_validator

SENDER = "Аквастенд <news@aquastand.example>"
PUBLIC_URL = "https://wash.example.ru"
SUBJECT = "Скидка для вас, {name}"
BODY = "Здравствуйте, {name}!\nВ субботу мойка со скидкой 20 %. Ждём вас."


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it accepted and refuses chosen recipients."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    after_each: Any = None  # called with the count after every accepted message

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        if self.after_each is not None:
            self.after_each(len(self.received))
        return "250 Message accepted for delivery"

    def raw_ascii_only(self) -> bool:
        return all(r.message.as_bytes().isascii() for r in self.received)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
def outbox(app: Flask, smtp_server: tuple[Recorder, int]) -> Recorder:
    """The service configured to send through the test's SMTP server (no TLS on loopback)."""
    recorder, port = smtp_server
    config = app.config["AQ"]
    config.smtp_host, config.smtp_port = "127.0.0.1", port
    config.smtp_sender, config.smtp_security, config.smtp_timeout = SENDER, "none", 10
    config.public_url = PUBLIC_URL
    return recorder


@dataclass
class Audience:
    segment: Segment
    reachable: list[Client]  # with an address and subscribed
    no_email: Client
    unsubscribed: Client


@pytest.fixture
def audience(world: World) -> Audience:
    """Members of site A: three with an address, one without, one unsubscribed."""
    reachable = [world.member]
    for number, name in enumerate(["Анна Смирнова", "Пётр Иванов"], start=1):
        reachable.append(
            Client.create(
                kind="member", name=name, email=f"m{number}@example.ru", home_site=world.site_a
            )
        )
    no_email = Client.create(kind="member", name="Без почты", home_site=world.site_a)
    unsubscribed = Client.create(
        kind="member",
        name="Отписавшийся",
        email="off@example.ru",
        home_site=world.site_a,
        unsubscribed=True,
    )
    conditions = segmentbook.parse_filter({"kind": "member", "site_id": world.site_a.id})
    segment = segmentbook.create_segment(None, "Участники на Ленина", conditions)
    return Audience(segment, reachable, no_email, unsubscribed)


def queue(app: Flask, audience: Audience, subject: str = SUBJECT, body: str = BODY) -> Mailing:
    return mailings.create_mailing(None, audience.segment, subject, body, app.config["AQ"])


def statuses(mailing: Mailing) -> dict[int, tuple[str, str]]:
    rows = MailingRecipient.select().where(MailingRecipient.mailing == mailing.id)
    return {row.client_id: (row.status, mailings.reason_text(row)) for row in rows}


def addresses(recorder: Recorder) -> list[str]:
    return sorted(address for r in recorder.received for address in r.rcpt_tos)


# --- sending ---------------------------------------------------------------------------------


def test_each_reachable_client_gets_one_personalised_message_in_russian(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    mailing = queue(app, audience)

    report = send_queued(app.config["AQ"], SystemClock())

    assert (report.sent, report.failed) == (3, 0)
    assert addresses(outbox) == sorted(c.email for c in audience.reachable)
    for received in outbox.received:
        (address,) = received.rcpt_tos
        client = Client.get(Client.email == address)
        assert received.mail_from == "news@aquastand.example"
        assert received.message["Subject"] == f"Скидка для вас, {client.name}"
        assert received.message["To"].addresses[0].display_name == client.name
        assert received.message["From"].addresses[0].display_name == "Аквастенд"
        assert received.message.get_content_charset() == "utf-8"
        text, _, footer = received.message.get_content().partition("\n\n-- \n")
        assert text == BODY.replace("{name}", client.name)
        assert footer.startswith(f"Отписаться от рассылки: {PUBLIC_URL}/unsubscribe/")
    assert outbox.raw_ascii_only()  # encoded for any server: RFC 2047 headers, base64 body
    assert Mailing.get_by_id(mailing.id).finished_at is not None


def test_clients_without_an_address_or_unsubscribed_are_skipped_with_the_reason(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    mailing = queue(app, audience)
    send_queued(app.config["AQ"], SystemClock())

    recorded = statuses(mailing)

    assert recorded[audience.no_email.id] == ("skipped", "Нет адреса электронной почты")
    assert recorded[audience.unsubscribed.id] == ("skipped", "Отписан от рассылок")
    assert "off@example.ru" not in addresses(outbox)
    assert {recorded[c.id][0] for c in audience.reachable} == {"sent"}


def test_a_client_who_unsubscribes_after_queueing_receives_nothing(
    app: Flask, outbox: Recorder, audience: Audience, client: FlaskClient, world: World
) -> None:
    mailing = queue(app, audience)
    leaving = audience.reachable[1]
    response = client.patch(
        f"/api/v1/clients/{leaving.id}",
        json={"unsubscribed": True},
        headers=world.bearer("operator"),
    )

    send_queued(app.config["AQ"], SystemClock())

    assert response.status_code == 200 and response.get_json()["unsubscribed"] is True
    assert leaving.email not in addresses(outbox)
    assert statuses(mailing)[leaving.id] == ("skipped", "Отписан от рассылок")
    assert len(outbox.received) == 2


def test_a_refused_recipient_is_failed_with_the_server_reply_and_the_rest_are_sent(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    refused = audience.reachable[1]
    outbox.refuse.add(refused.email)
    mailing = queue(app, audience)

    report = send_queued(app.config["AQ"], SystemClock())

    status, reason = statuses(mailing)[refused.id]
    assert (report.sent, report.failed) == (2, 1)
    assert status == "failed" and reason.startswith("550")
    assert addresses(outbox) == sorted(c.email for c in audience.reachable if c is not refused)


def test_a_server_that_is_down_fails_every_message_and_the_run_still_ends(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    app.config["AQ"].smtp_port = free_port()  # nothing listens there
    mailing = queue(app, audience)

    report = send_queued(app.config["AQ"], SystemClock())

    recorded = statuses(mailing)
    assert (report.sent, report.failed) == (0, 3)
    for person in audience.reachable:
        status, reason = recorded[person.id]
        assert status == "failed" and "refused" in reason.lower(), reason
    assert Mailing.get_by_id(mailing.id).finished_at is not None


def test_a_stopped_run_resumed_sends_only_the_rest_and_nobody_twice(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    mailing = queue(app, audience)
    stop = threading.Event()
    outbox.after_each = lambda count: stop.set() if count == 1 else None

    first = send_queued(app.config["AQ"], SystemClock(), stop)
    between = statuses(mailing)
    second = send_queued(app.config["AQ"], SystemClock())
    third = send_queued(app.config["AQ"], SystemClock())

    assert first.sent == 1
    assert sorted(status for status, _r in between.values()) == [
        "queued",
        "queued",
        "sent",
        "skipped",
        "skipped",
    ]
    assert (second.sent, third.sent) == (2, 0)
    assert addresses(outbox) == sorted(c.email for c in audience.reachable)  # each once


def test_a_claim_is_taken_for_interrupted_only_once_the_sender_clock_passes_the_hold(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    """A claim younger than the hold may belong to a sender still at work: left alone. The
    same claim, with the sender's clock past the hold, is failed (never sent twice)."""
    mailing = queue(app, audience)
    claimed = audience.reachable[0]
    start = utcnow()
    MailingRecipient.update(status="sending", updated_at=start).where(
        (MailingRecipient.mailing == mailing.id) & (MailingRecipient.client == claimed.id)
    ).execute()
    clock = FixedClock(start)
    clock.advance(minutes=1)

    early = send_queued(app.config["AQ"], clock)
    assert (early.interrupted, statuses(mailing)[claimed.id][0]) == (0, "sending")

    clock.advance(hours=1)
    late = send_queued(app.config["AQ"], clock)
    assert (late.interrupted, statuses(mailing)[claimed.id][0]) == (1, "failed")
    assert claimed.email not in addresses(outbox)


def test_a_message_cut_off_mid_send_is_never_sent_again(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    """A sender killed between claiming a recipient and marking it leaves ``sending``; the
    message may have gone out, so a later run marks it failed instead of sending it again."""
    mailing = queue(app, audience)
    cut_off = audience.reachable[0]
    MailingRecipient.update(status="sending", updated_at=utcnow() - timedelta(hours=1)).where(
        (MailingRecipient.mailing == mailing.id) & (MailingRecipient.client == cut_off.id)
    ).execute()

    report = send_queued(app.config["AQ"], SystemClock())

    status, reason = statuses(mailing)[cut_off.id]
    assert report.interrupted == 1 and report.sent == 2
    assert status == "failed" and "повторно не отправлено" in reason
    assert cut_off.email not in addresses(outbox)


def test_two_senders_at_once_send_each_message_once(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    queue(app, audience)
    database = app.extensions["aquastand_db"]
    errors: list[BaseException] = []

    def sender() -> None:
        with app.app_context():
            try:
                send_queued(app.config["AQ"], SystemClock())
            except BaseException as error:  # reported by the assertion below
                errors.append(error)
            finally:
                database.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert addresses(outbox) == sorted(c.email for c in audience.reachable)


def test_the_name_is_replaced_literally_never_formatted(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    for person in audience.reachable[1:]:
        Client.update(email="").where(Client.id == person.id).execute()
    Client.update(name="{0.__class__} {name}", search_name="x").where(
        Client.id == audience.reachable[0].id
    ).execute()
    body = "Привет, {name}! {0} {body.__class__} %(name)s {{name}}"
    queue(app, audience, subject="{name}: {__import__}", body=body)

    send_queued(app.config["AQ"], SystemClock())

    (received,) = outbox.received
    name = "{0.__class__} {name}"
    assert received.message["Subject"] == f"{name}: {{__import__}}"
    assert received.message.get_content().partition("\n\n-- \n")[0] == (
        f"Привет, {name}! {{0}} {{body.__class__}} %(name)s {{{name}}}"
    )


def test_a_mailing_is_refused_when_no_smtp_server_is_configured(
    client: FlaskClient, world: World, audience: Audience
) -> None:
    response = client.post(
        "/api/v1/mailings",
        json={"segment_id": audience.segment.id, "subject": "Тема", "body": "Текст"},
        headers=world.bearer("operator"),
    )

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "smtp_not_configured"
    assert Mailing.select().count() == 0 and MailingRecipient.select().count() == 0


@pytest.mark.parametrize("segment_id", [2**64 - 1, -(2**63), 2**31])
def test_a_segment_id_past_the_databases_integers_is_a_400_not_a_server_error(
    client: FlaskClient, world: World, outbox: Recorder, segment_id: int
) -> None:
    """Found by Schemathesis: 2⁶⁴−1 reached the database and overflowed it (a 500)."""
    response = client.post(
        "/api/v1/mailings",
        json={"segment_id": segment_id, "subject": "Тема", "body": "Текст"},
        headers=world.bearer("operator"),
    )

    assert response.status_code == 400
    assert "segment_id" in response.get_json()["error"]["message"]
    assert Mailing.select().count() == 0


# --- the API ---------------------------------------------------------------------------------


def test_api_queues_a_mailing_then_reports_its_state_and_recipients(
    app: Flask, client: FlaskClient, world: World, outbox: Recorder, audience: Audience
) -> None:
    headers = world.bearer("administrator")

    created = client.post(
        "/api/v1/mailings",
        json={"segment_id": audience.segment.id, "subject": SUBJECT, "body": BODY},
        headers=headers,
    )
    mailing_id = created.get_json()["id"]
    before = client.get(f"/api/v1/mailings/{mailing_id}", headers=headers).get_json()
    send_queued(app.config["AQ"], SystemClock())
    after = client.get(f"/api/v1/mailings/{mailing_id}", headers=headers).get_json()
    recipients = client.get(f"/api/v1/mailings/{mailing_id}/recipients", headers=headers).get_json()
    listed = client.get("/api/v1/mailings", headers=headers).get_json()

    assert created.status_code == 201 and len(outbox.received) == 3
    assert before["state"] == "sending"
    assert before["counts"] == {"queued": 3, "sending": 0, "sent": 0, "failed": 0, "skipped": 2}
    assert after["state"] == "done" and after["counts"]["sent"] == 3
    assert after["finished_at"] is not None
    by_client = {r["client_id"]: r for r in recipients["items"]}
    assert recipients["total"] == 5
    assert by_client[audience.unsubscribed.id]["status"] == "skipped"
    assert by_client[world.member.id] == {
        **by_client[world.member.id],
        "email": "ivan@example.ru",
        "status": "sent",
        "reason": "",
    }
    assert [m["id"] for m in listed["items"]] == [mailing_id]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"segment_id": 999_999, "subject": "Тема", "body": "Текст"}, 404),
        ({"subject": "Тема", "body": "Текст"}, 400),
        ({"segment_id": "SEGMENT", "subject": "Тема", "body": "Текст"}, 400),
        ({"segment_id": 0, "subject": "  ", "body": "Текст"}, 400),
        ({"segment_id": 0, "subject": "Тема", "body": ""}, 400),
        ({"segment_id": 0, "subject": "Т" * 201, "body": "Текст"}, 400),
    ],
)
def test_api_refuses_a_bad_mailing_and_queues_nothing(
    client: FlaskClient, world: World, outbox: Recorder, audience: Audience, body: Any, status: int
) -> None:
    if body.get("segment_id") == 0:
        body = {**body, "segment_id": audience.segment.id}

    response = client.post("/api/v1/mailings", json=body, headers=world.bearer("owner"))

    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message"}
    assert Mailing.select().count() == 0


# --- pages -----------------------------------------------------------------------------------


def test_the_preview_shows_the_message_for_a_real_client_and_queues_nothing(
    as_role: Any, outbox: Recorder, audience: Audience
) -> None:
    page = post_form(
        as_role("operator"),
        f"/segments/{audience.segment.id}/mailing",
        {"subject": SUBJECT, "body": BODY, "action": "preview"},
    ).get_data(as_text=True)

    first = audience.reachable[0]
    assert f"Скидка для вас, {first.name}" in page
    assert f"Здравствуйте, {first.name}!" in page
    assert first.email in page
    assert Mailing.select().count() == 0 and outbox.received == []


def test_sending_from_the_page_queues_and_the_status_page_shows_each_recipient(
    app: Flask, as_role: Any, outbox: Recorder, audience: Audience
) -> None:
    browser = as_role("operator")

    queued = post_form(
        browser,
        f"/segments/{audience.segment.id}/mailing",
        {"subject": SUBJECT, "body": BODY, "action": "send"},
    )
    mailing = Mailing.get()
    waiting = browser.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    nothing_yet = list(outbox.received)
    send_queued(app.config["AQ"], SystemClock())
    done = browser.get(f"/mailings/{mailing.id}").get_data(as_text=True)
    listed = browser.get("/mailings").get_data(as_text=True)

    assert queued.status_code == 302 and queued.headers["Location"] == f"/mailings/{mailing.id}"
    assert nothing_yet == []  # the request only queues
    assert 'id="mailing-state">Отправляется<' in waiting
    assert 'id="mailing-state">Завершена<' in done
    assert done.count("Отправлено") >= 3 and "Отписан от рассылок" in done
    assert "Скидка для вас, {name}" in listed
    assert len(outbox.received) == 3


def test_a_bad_mailing_form_shows_a_russian_message(as_role: Any, audience: Audience) -> None:
    response = post_form(
        as_role("operator"),
        f"/segments/{audience.segment.id}/mailing",
        {"subject": "", "body": "Текст", "action": "send"},
    )

    assert response.status_code == 400
    assert "Укажите тему письма" in response.get_data(as_text=True)
    assert Mailing.select().count() == 0


def test_unsubscribing_on_the_client_form(as_role: Any, world: World) -> None:
    browser = as_role("operator")
    form = {"name": world.member.name, "email": world.member.email, "phones": "+79161234567"}

    post_form(browser, f"/clients/{world.member.id}/edit", {**form, "unsubscribed": "1"})
    off = Client.get_by_id(world.member.id).unsubscribed
    page = browser.get(f"/clients/{world.member.id}/edit").get_data(as_text=True)
    post_form(browser, f"/clients/{world.member.id}/edit", form)

    assert off is True
    assert 'name="unsubscribed" value="1" checked' in page
    assert Client.get_by_id(world.member.id).unsubscribed is False


# --- the command -----------------------------------------------------------------------------


def test_the_send_mailings_command_sends_the_queue(
    app: Flask,
    database_url: str,
    outbox: Recorder,
    audience: Audience,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    queue(app, audience)
    config = app.config["AQ"]
    settings = {
        "DATA_DIR": str(tmp_path / "cli-data"),
        "DATABASE_URL": database_url,
        "SMTP_HOST": config.smtp_host,
        "SMTP_PORT": str(config.smtp_port),
        "SMTP_SENDER": SENDER,
        "SMTP_SECURITY": "none",
        "PUBLIC_URL": PUBLIC_URL,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"AQUASTAND_{name}", value)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        first = CliRunner().invoke(cli.main, ["send-mailings"])
        again = CliRunner().invoke(cli.main, ["send-mailings"])
    finally:
        if db_proxy.obj is not previous:
            db_proxy.obj.close()
        db_proxy.initialize(previous)

    assert first.exit_code == 0, first.output
    assert "sent 3, failed 0, skipped 0" in first.output
    assert "sent 0" in again.output
    assert len(outbox.received) == 3


def test_the_command_says_when_no_smtp_server_is_configured(
    database_url: str, app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_SMTP_HOST", raising=False)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)
    previous = db_proxy.obj
    try:
        result = CliRunner().invoke(cli.main, ["send-mailings"])
    finally:
        if db_proxy.obj is not previous:
            db_proxy.obj.close()
        db_proxy.initialize(previous)

    assert result.exit_code == 1
    assert "smtp_host" in result.output


def test_segment_and_mailing_answers_fit_their_documented_schemas(
    client: FlaskClient, world: World, outbox: Recorder, audience: Audience, app: Flask
) -> None:
    segmentbook.update_segment(
        audience.segment,
        conditions=segmentbook.parse_filter(
            {"kind": "member", "period_from": "2026-01-01", "spent_max_kopecks": 100_000}
        ),
    )
    mailing = queue(app, audience)
    document = client.get("/api/v1/openapi.json").get_json()
    values = {"segment_id": audience.segment.id, "mailing_id": mailing.id}
    paths = [path for path in document["paths"] if "/segments" in path or "/mailings" in path]

    for path in paths:
        if "get" not in document["paths"][path]:
            continue
        url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
        response = client.get(url, headers=world.bearer("operator"))
        validator = _success_validator(document, path, "get")
        assert response.status_code == 200 and validator is not None, url
        assert list(validator.iter_errors(response.get_json())) == [], url
    assert document["paths"]["/api/v1/mailings"]["post"]["x-capability"] == "segments"
    assert len(paths) == 6


def test_a_recipient_whose_message_cannot_be_built_is_failed_logged_and_the_rest_are_sent(
    app: Flask, outbox: Recorder, audience: Audience, caplog: pytest.LogCaptureFixture
) -> None:
    """A name with a line break (stored before stands' names were cleaned, issue 19) cannot
    be a mail header: that recipient fails with the reason, logged, and the run goes on."""
    broken = audience.reachable[1]
    Client.update(name="Анна\r\nBcc: all@example.ru").where(Client.id == broken.id).execute()
    mailing = queue(app, audience)

    report = send_queued(app.config["AQ"], SystemClock())

    status, reason = statuses(mailing)[broken.id]
    assert (report.sent, report.failed) == (2, 1)
    assert status == "failed" and reason.startswith("ValueError"), reason
    assert addresses(outbox) == sorted(c.email for c in audience.reachable if c is not broken)
    assert all("all@example.ru" not in r.rcpt_tos for r in outbox.received)
    assert f"message to client {broken.id} failed" in caplog.text
    assert Mailing.get_by_id(mailing.id).finished_at is not None
