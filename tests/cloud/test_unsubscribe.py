"""The one-click unsubscribe link every mailing carries (issue 16 closing issue 5's gap): the
link in a real message from a real SMTP exchange, opened without a log-in; a GET changes
nothing, a POST (the page's button or a mail program's RFC 8058 one-click request, with no
CSRF token) unsubscribes, and the next mailing skips the client. Forged tokens change nothing."""

# ruff: noqa: F811  (pytest fixtures imported from test_mailings)
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from itsdangerous import URLSafeSerializer

from cloud.clock import SystemClock
from cloud.errors import ValidationFailed
from cloud.marketing.mailings import send_queued
from cloud.models import Client
from tests.cloud.test_mailings import (  # noqa: F401  (fixtures)
    PUBLIC_URL,
    Audience,
    Recorder,
    audience,
    outbox,
    queue,
    smtp_server,
    statuses,
)


def _link_for(recorder: Recorder, client: Client) -> str:
    (received,) = [r for r in recorder.received if r.rcpt_tos == [client.email]]
    header = received.message["List-Unsubscribe"]
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = header.strip().strip("<>")
    assert link in received.message.get_content()
    assert link.startswith(f"{PUBLIC_URL}/unsubscribe/")
    return urlsplit(link).path


def test_the_link_in_a_mailing_unsubscribes_with_one_post_and_the_next_mailing_skips(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    queue(app, audience)
    send_queued(app.config["AQ"], SystemClock())
    target, other = audience.reachable[0], audience.reachable[1]
    path = _link_for(outbox, target)
    browser = app.test_client()  # no log-in

    asked = browser.get(path)
    assert asked.status_code == 200
    assert "Больше не получать письма" in asked.get_data(as_text=True)
    assert asked.headers["Cache-Control"] == "no-store"
    assert not Client.get_by_id(target.id).unsubscribed  # a scanner following links changes nothing

    done = browser.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "Вы отписаны" in done.get_data(as_text=True)
    assert Client.get_by_id(target.id).unsubscribed
    assert not Client.get_by_id(other.id).unsubscribed
    assert browser.post(path).status_code == 200  # a second click changes nothing

    second = queue(app, audience)
    assert statuses(second)[target.id][0] == "skipped"
    assert statuses(second)[other.id][0] == "queued"


def test_each_client_gets_their_own_link(app: Flask, outbox: Recorder, audience: Audience) -> None:
    queue(app, audience)
    send_queued(app.config["AQ"], SystemClock())
    links = {_link_for(outbox, client) for client in audience.reachable}
    assert len(links) == len(audience.reachable)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        URLSafeSerializer("another-secret", salt="aquastand.unsubscribe").dumps(1),
        URLSafeSerializer("x", salt="other").dumps("1"),
    ],
)
def test_a_forged_token_is_a_404_and_changes_nothing(
    app: Flask, audience: Audience, token: str
) -> None:
    answer = app.test_client().post(f"/unsubscribe/{token}")
    assert answer.status_code == 404
    assert (
        not Client.select()
        .where(Client.unsubscribed & (Client.id != audience.unsubscribed.id))
        .exists()
    )


def test_a_token_of_another_purpose_signed_with_our_key_is_refused(
    app: Flask, audience: Audience
) -> None:
    token = URLSafeSerializer(app.secret_key, salt="another.purpose").dumps(
        audience.reachable[0].id
    )
    assert app.test_client().post(f"/unsubscribe/{token}").status_code == 404
    assert not Client.get_by_id(audience.reachable[0].id).unsubscribed


def test_without_a_public_address_no_mailing_is_sent(
    app: Flask, outbox: Recorder, audience: Audience
) -> None:
    queue(app, audience)
    app.config["AQ"].public_url = ""
    with pytest.raises(ValidationFailed, match="public_url"):
        send_queued(app.config["AQ"], SystemClock())
    assert outbox.received == []
