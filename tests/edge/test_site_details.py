"""A client of another site at this stand (issue 19, attendants' site limit): the directory
holds what a tap needs but not their name and phones (``details`` false). Their card starts
and ends a wash; the screen neither finds nor opens them, so no top-up or comment; a guest of
another site washes by their plate typed in full. A directory of an older central service
(no ``details``) is taken as holding every client's details."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import Store
from sync.directory import validate_directory
from tests.edge.conftest import FakeClock, credential, directory_doc, events
from tests.edge.conftest import client as client_row
from tests.edge.test_screen import STAFF, devices, log_in, post, text

STRANGER, STRANGER_GUEST = 21, 22
STRANGER_CARD = "05050505"
STRANGER_PLATE = "Х505ХХ50"


def _with_strangers(store: Store, clock: FakeClock) -> None:
    doc = directory_doc(version=2_000_000_000_000, staff=STAFF)
    doc["clients"] += [
        client_row(STRANGER, "member", "", 50_000, details=False),
        client_row(STRANGER_GUEST, "guest", "", 0, details=False),
    ]
    doc["credentials"] += [
        credential(STRANGER, "card", STRANGER_CARD),
        credential(STRANGER, "plate", "Т505ТТ50"),
        credential(STRANGER_GUEST, "plate", STRANGER_PLATE),
    ]
    store.load_directory(validate_directory(doc), clock.now())


@pytest.fixture
def signed_in(
    store: Store, engine: Engine, config: EdgeConfig, clock: FakeClock
) -> Iterator[FlaskClient]:
    """The screen, an attendant signed in, the directory holding two clients of another site."""
    _with_strangers(store, clock)
    with create_state_app(StandParts(config, store, engine, devices)).test_client() as screen:
        assert log_in(screen).status_code == 302
        yield screen


def test_another_sites_client_is_neither_found_nor_opened_on_the_screen(
    signed_in: FlaskClient, store: Store
) -> None:
    found = text(signed_in.get("/clients?q=Т505ТТ50"))
    assert f"/clients/{STRANGER}" not in found
    assert signed_in.get(f"/clients/{STRANGER}").status_code == 404
    topup = post(signed_in, f"/clients/{STRANGER}/topup", amount="500", method="cash")
    assert topup.status_code == 404
    comment = post(signed_in, f"/clients/{STRANGER}/comment", text="посмотреть")
    assert comment.status_code == 404
    assert events(store) == []


def test_another_sites_client_still_washes_with_their_card(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    _with_strangers(store, clock)

    engine.on_uid(STRANGER_CARD)
    clock.advance(600)
    engine.on_uid(STRANGER_CARD)

    kinds = [e.type for e in events(store)]
    assert kinds == ["session.started", "session.ended"]


def test_a_guest_of_another_site_washes_by_their_plate_typed_in_full(
    signed_in: FlaskClient, store: Store
) -> None:
    offered = post(signed_in, "/guests/new", plate=STRANGER_PLATE.lower())
    assert offered.status_code == 400
    assert "/guests/start" in text(offered)
    assert f"/clients/{STRANGER_GUEST}" not in text(offered)
    started = post(signed_in, "/guests/start", plate=STRANGER_PLATE)

    assert started.status_code == 302
    (event,) = events(store, "session.started")
    assert event.payload["client_id"] == STRANGER_GUEST
    assert event.payload["method"] == "screen"  # no visit: it widens nothing centrally


def test_an_older_central_services_directory_holds_details() -> None:
    doc: dict[str, Any] = directory_doc()
    assert all("details" not in row for row in doc["clients"])

    assert all(c.details for c in validate_directory(doc).clients)
