"""The open window built in steps (cloud/standsync/windowrows.py): after any run of changes,
the tail a process answers from the rows it kept, with only the new entries read, is byte for
byte the tail a process that kept nothing reads whole; so is the window once it closes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.catalog import tariffs
from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.db import utcnow
from cloud.ledger import service as ledger
from cloud.models import Client, Credential
from sync.directorywindow import PROTOCOLS, WINDOW
from tests.cloud.conftest import World
from tests.cloud.test_directory_feed import RATES, enrolled
from tests.cloud.test_directory_windows import close_window, window_response

ROWS, WINDOWS = "aquastand_window_rows", "aquastand_windows"


def _changes(app: Flask, world: World, rng: random.Random) -> list[Callable[[], object]]:
    """Changes of every kind the windows carry: clients made, deleted, blocked and topped up,
    cards linked and unlinked, QR codes issued (the old one revoked), tariffs made."""
    operator, owner = world.users["operator"], world.users["owner"]
    config = app.config["AQ"]

    def live() -> list[Client]:
        return list(Client.select().where(Client.deleted_at.is_null()).order_by(Client.id))

    def new_client() -> object:
        name = f"Клиент {rng.randrange(10**6)}"
        return clientbook.create_client(operator, kind="member", name=name, site_id=world.site_a.id)

    def delete_one() -> object:
        made = [c for c in live() if c.name.startswith("Клиент ") and not c.balance_kopecks]
        return clientbook.delete_client(owner, made[0]) if made else None

    def link_card() -> object:
        uid = "".join(rng.choice("0123456789ABCDEF") for _ in range(14))
        return client_credentials.link_card(operator, rng.choice(live()), uid)

    def unlink_card() -> object:
        linked = Credential.kind == "card", Credential.unlinked_at.is_null()
        cards = list(Credential.select().where(*linked).order_by(Credential.id))
        if not cards:
            return None
        card = rng.choice(cards)
        return client_credentials.unlink_credential(operator, card.client, card.id)

    def top_up() -> object:
        return ledger.record_topup(operator, rng.choice(live()), rng.randrange(100, 9999), "cash")

    def new_tariff() -> object:
        name = f"Тариф {rng.randrange(10**6)}"
        return tariffs.create_tariff(owner, name=name, rates=RATES, now=utcnow())

    return [
        new_client,
        delete_one,
        link_card,
        unlink_card,
        top_up,
        top_up,
        lambda: clientbook.set_blocked(operator, world.member, rng.random() < 0.5),
        lambda: client_credentials.issue_qr(operator, world.member, config),
        new_tariff,
    ]


def _read_whole(app: Flask, client: FlaskClient, token: str, start: int, form: int) -> bytes:
    """The window as a process that kept nothing answers it (the rows kept are put back)."""
    kept = app.extensions.pop(ROWS, None)
    app.extensions.pop(WINDOWS, None)
    body = window_response(client, token, start, form).get_data()
    if kept is not None:
        app.extensions[ROWS] = kept
    return body


@pytest.mark.parametrize("form", PROTOCOLS)
def test_the_tail_built_in_steps_is_the_tail_read_whole(
    app: Flask, client: FlaskClient, world: World, form: int
) -> None:
    token = enrolled(client, world)
    rng = random.Random(21)
    changes = _changes(app, world, rng)
    start = window_response(client, token, 0).get_json()["end"] // WINDOW * WINDOW
    ends = []
    for round_number in range(15):
        for _change in range(rng.randrange(1, 5)):
            rng.choice(changes)()
        if round_number == 1:  # a QR code revoked in the window's middle (issued anew)
            client_credentials.issue_qr(world.users["operator"], world.member, app.config["AQ"])
        stepped = window_response(client, token, start, form)
        assert stepped.status_code == 200
        assert stepped.get_data() == _read_whole(app, client, token, start, form)
        ends.append(stepped.get_json()["end"])
    held = app.extensions[ROWS].get(form, start)
    assert held is not None and held.rows.end == ends[-1]  # answered from the rows kept
    assert ends == sorted(set(ends))  # every round had new entries to lay over


@pytest.mark.parametrize("form", PROTOCOLS)
def test_a_window_closed_after_steps_is_the_window_read_whole(
    app: Flask, client: FlaskClient, world: World, form: int
) -> None:
    token = enrolled(client, world)
    rng = random.Random(7)
    changes = _changes(app, world, rng)
    start = window_response(client, token, 0).get_json()["end"] // WINDOW * WINDOW
    for _round in range(6):
        rng.choice(changes)()
        assert window_response(client, token, start, form).get_json()["closed"] is False
    close_window()
    stepped = window_response(client, token, start, form)
    assert stepped.get_json()["closed"] is True
    app.extensions.pop(ROWS)
    app.extensions.pop(WINDOWS)
    whole = window_response(client, token, start, form)
    assert stepped.get_data() == whole.get_data()
    assert stepped.headers["ETag"] == whole.headers["ETag"]


def test_a_stand_that_says_its_cursor_may_get_the_tail_built_moments_ago(
    app: Flask, client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    operator = world.users["operator"]
    start = window_response(client, token, 0).get_json()["end"] // WINDOW * WINDOW

    def tail(**headers: str) -> tuple[int, bytes, str]:
        response = window_response(client, token, start, **headers)
        body = response.get_data() if response.status_code == 200 else b""
        return response.status_code, body, response.headers.get("ETag", "")

    ledger.record_topup(operator, world.member, 1000, "cash")
    _status, exact, _tag = tail(**{"X-Directory-Cursor": str(start)})  # reuse off: built now
    end = json.loads(exact)["end"]
    ledger.record_topup(operator, world.member, 1000, "cash")
    assert json.loads(tail(**{"X-Directory-Cursor": str(end)})[1])["end"] > end

    app.config["AQ"].directory_tail_reuse_ms = 60_000
    _status, kept, tag = tail(**{"X-Directory-Cursor": str(start)})
    end = json.loads(kept)["end"]
    ledger.record_topup(operator, world.member, 1000, "cash")

    assert tail(**{"X-Directory-Cursor": str(end)})[1] == kept  # the change waits a poll
    assert tail(**{"If-None-Match": tag})[0] == 304  # its tag says where it is: the same
    built = json.loads(tail()[1])["end"]
    assert built > end  # a stand that says nothing: built now (and kept)
    ledger.record_topup(operator, world.member, 1000, "cash")
    newest = json.loads(tail(**{"X-Directory-Cursor": str(built + 1)})[1])["end"]
    assert newest >= built + 1  # a stand ahead of the kept tail never gets it back
    refused = window_response(client, token, start, **{"X-Directory-Cursor": "12x"})
    assert refused.status_code == 400
    assert "bad_cursor" in refused.get_data(as_text=True), refused.get_json()
