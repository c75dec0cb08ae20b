"""Sync protocol 2's directory (cloud/standsync/windows.py): windows shared by every stand,
final once closed and cacheable by a proxy, a tail a stand revalidates for free, and each
stand's own head; protocol 1 still served beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import changes, create_app
from cloud.catalog import pricing
from cloud.changes import current_position
from cloud.db import bind, db_proxy, utcnow
from cloud.ledger import service as ledger
from cloud.models import (
    Client,
    DirectoryCounter,
    LoyaltySetting,
    Session,
    Stand,
    Tariff,
    TariffVersion,
)
from cloud.staff import service as staffbook
from cloud.standsync import commands, head
from sync.directorypage import DirectoryPage
from sync.directorywindow import (
    WINDOW,
    WindowPage,
    merge_windows,
    validate_head,
    validate_window_page,
)
from tests.cloud.conftest import PASSWORD, World
from tests.cloud.test_directory_feed import StandCopy, enrolled, enrolled_stand, headers

SYNC = "/sync/v1"


class WindowStand:
    """A stand of protocol 2 (or 3): walks the windows and its head as sync/agent.py does and
    keeps the merged rows."""

    def __init__(self, client: FlaskClient, token: str, protocol: int = 2) -> None:
        self.client = client
        self.token = token
        self.form = f"protocol={protocol}"
        self.cursor = 0
        self.clients: dict[int, Any] = {}
        self.staff: dict[int, Any] = {}
        self.credentials: dict[tuple[str, str], Any] = {}
        self.tail: tuple[str, WindowPage] | None = None
        self.statuses: list[int] = []
        self.head_bytes = 0
        self.compact_applied = 0  # protocol 3's compact balances applied to clients held

    def window(self, start: int) -> WindowPage:
        held = self.tail if self.tail and self.tail[1].start == start else None
        extra = {"If-None-Match": held[0]} if held else {}
        response = self.client.get(
            f"{SYNC}/directory/window/{start}?{self.form}",
            headers={**headers(self.token), **extra},
        )
        self.statuses.append(response.status_code)
        if response.status_code == 304:
            assert held is not None
            return WindowPage(start=start, end=held[1].end, closed=False)
        assert response.status_code == 200, response.get_json()
        page = validate_window_page(response.get_json())
        if not page.closed:
            self.tail = (response.headers["ETag"], page)
        return page

    def sync(self) -> DirectoryPage:
        windows, start = [], self.cursor - self.cursor % WINDOW
        while True:
            windows.append(self.window(start))
            if not windows[-1].closed:
                break
            start += WINDOW
        since = min([w.start for w in windows if w.clients] + [self.cursor])
        response = self.client.get(
            f"{SYNC}/directory/head?cursor={self.cursor}&since={since}&{self.form}",
            headers=headers(self.token),
        )
        assert response.status_code == 200, response.get_json()
        self.head_bytes = len(response.get_data())
        head, details = validate_head(response.get_json())
        merged = merge_windows(windows, head, details, reset=self.cursor == 0)
        if merged.reset:
            self.clients, self.staff, self.credentials = {}, {}, {}
        for client_id in merged.tombstones.clients:
            self.clients.pop(client_id, None)
        for staff_id in merged.tombstones.staff:
            self.staff.pop(staff_id, None)
        for key in merged.tombstones.credentials:
            self.credentials.pop((key.kind, key.value), None)
        self.clients.update({c.id: c for c in merged.clients})
        for balance in merged.balances:  # protocol 3: to the clients held, as the store does
            if balance.id in self.clients:
                self.clients[balance.id] = balance.applied_to(self.clients[balance.id])
                self.compact_applied += 1
        self.staff.update({s.id: s for s in merged.staff})
        self.credentials.update({(c.kind, c.value): c for c in merged.credentials})
        self.cursor = merged.cursor
        return merged


def close_window() -> None:
    """Hand out positions up to past the current window's end, as a busy chain does."""
    with db_proxy.atomic():
        DirectoryCounter.update(position=DirectoryCounter.position + WINDOW).execute()


def window_response(
    client: FlaskClient, token: str, start: int, protocol: int = 2, **extra: str
) -> Any:
    return client.get(
        f"{SYNC}/directory/window/{start}?protocol={protocol}", headers={**headers(token), **extra}
    )


@pytest.mark.parametrize(("form", "listed"), [(2, 500), (3, 500), (3, 0)])
def test_a_walk_of_windows_gives_what_protocol_1_gives(
    client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch, form: int, listed: int
) -> None:
    """``listed``: how many changed clients the head reads into a list before their details
    (0: always by a subquery, as for a large walk)."""
    monkeypatch.setattr(head, "DETAILS_AS_LIST", listed)
    old = StandCopy(client, enrolled(client, world))
    old.sync()
    new = WindowStand(client, enrolled(client, world), form)

    merged = new.sync()

    assert merged.reset
    assert merged.cursor == current_position() == old.cursor
    assert new.clients == old.clients  # details included: the head names the site's own
    assert new.credentials == old.credentials
    assert new.staff == old.staff
    assert world.other_site_client.id in new.clients
    assert new.clients[world.other_site_client.id].name == ""
    assert new.clients[world.member.id].name == "Иван Петров"


def test_a_closed_window_is_final_and_cacheable(client: FlaskClient, world: World) -> None:
    token_a = enrolled(client, world)
    close_window()
    first = window_response(client, token_a, 0)
    ledger.record_topup(world.users["attendant"], world.member, 50_000, "cash")
    token_b = enrolled_stand(client, world, "Пост 2")

    again = window_response(client, token_b, 0)

    assert first.status_code == again.status_code == 200
    assert first.get_data() == again.get_data()
    etag = first.headers["ETag"]
    assert etag.startswith('"w0-') and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert validate_window_page(first.get_json()).closed
    # The top-up moved the member's entry past the closed window: it comes later.
    stand = WindowStand(client, token_a)
    stand.cursor = WINDOW
    stand.sync()
    assert stand.clients[world.member.id].balance_kopecks == 50_000
    assert window_response(client, token_a, 0, **{"If-None-Match": etag}).status_code == 304


def test_an_idle_poll_is_a_304_and_a_small_head(client: FlaskClient, world: World) -> None:
    stand = WindowStand(client, enrolled(client, world))
    stand.sync()
    stand.statuses.clear()

    stand.sync()

    assert stand.statuses == [304]
    assert stand.head_bytes < 600
    ledger.record_topup(world.users["attendant"], world.member, 50_000, "cash")
    stand.statuses.clear()
    stand.sync()
    assert stand.statuses == [200]
    assert stand.clients[world.member.id].balance_kopecks == 50_000


def test_the_tail_is_revalidated_not_cached(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    tail = window_response(client, token, 0)
    assert tail.headers["Cache-Control"] == "no-cache"
    assert not validate_window_page(tail.get_json()).closed
    ledger.record_topup(world.users["attendant"], world.member, 1_000, "cash")

    again = window_response(client, token, 0, **{"If-None-Match": tail.headers["ETag"]})

    assert again.status_code == 200
    assert again.headers["ETag"] != tail.headers["ETag"]


def test_staff_and_details_are_the_stands_own(client: FlaskClient, world: World) -> None:
    stand = WindowStand(client, enrolled(client, world))
    stand.sync()
    other = staffbook.create_staff(
        name="Чужой аквастендист",
        phone="+79000000099",
        role="attendant",
        password=PASSWORD,
        pin="999999",
        site_ids=[world.site_b.id],
    )
    ours = staffbook.create_staff(
        name="Свой аквастендист",
        phone="+79000000098",
        role="attendant",
        password=PASSWORD,
        pin="989898",
        site_ids=[world.site_a.id],
    )
    close_window()
    window = window_response(client, stand.token, 0).get_data(as_text=True)

    stand.sync()

    assert "Свой аквастендист" not in window and "pin_hash" not in window
    assert ours.id in stand.staff and other.id not in stand.staff


def test_commands_come_with_the_head_only(client: FlaskClient, world: World) -> None:
    stand = WindowStand(client, enrolled(client, world))
    head = client.get(f"{SYNC}/directory/head?cursor=0", headers=headers(stand.token))
    data = head.get_json()
    assert data["protocol"] == 2 and "commands" in data
    assert head.headers["Cache-Control"] == "no-store"
    window = window_response(client, stand.token, 0).get_json()
    assert "commands" not in window and "acked_seq" not in window


def test_a_change_through_one_instance_is_seen_through_another(
    app: Flask, client: FlaskClient, world: World, database_url: str, tmp_path: Path
) -> None:
    other = create_app(
        data_dir=tmp_path / "data", database_url=database_url, secret_key="test-secret"
    )
    other.config["TESTING"] = True
    bind(database_url)
    token = enrolled(client, world)
    through_b = WindowStand(other.test_client(), token)
    through_b.sync()
    close_window()
    through_b.sync()  # instance B now holds the closed window and the tail's tag
    through_b.sync()

    ledger.record_topup(world.users["attendant"], world.member, 70_000, "cash")  # instance A
    through_b.sync()

    assert through_b.clients[world.member.id].balance_kopecks == 70_000
    bind(database_url)


def test_a_bad_window_start_or_parameter_is_refused(client: FlaskClient, world: World) -> None:
    token = enrolled(client, world)
    assert window_response(client, token, 5).status_code == 400
    for start in ("-4096", "x", "4096.0", "²"):
        response = client.get(f"{SYNC}/directory/window/{start}", headers=headers(token))
        assert response.status_code == 400, start
    assert client.get(f"{SYNC}/directory/window/0?x=1", headers=headers(token)).status_code == 400
    assert client.get(f"{SYNC}/directory/window/0").status_code == 401
    assert client.get(f"{SYNC}/directory/head?cursor=-1", headers=headers(token)).status_code == 400


def test_a_cursor_beyond_the_newest_position_restarts_the_walk(
    client: FlaskClient, world: World
) -> None:
    token = enrolled(client, world)
    beyond = (current_position() // WINDOW + 3) * WINDOW

    window = validate_window_page(window_response(client, token, beyond).get_json())
    head, _details = validate_head(
        client.get(f"{SYNC}/directory/head?cursor={beyond}", headers=headers(token)).get_json()
    )

    assert window.beyond_newest
    assert (head.cursor, head.reset, head.more) == (0, True, True)


def test_the_head_carries_the_stands_own_tariff_point_value_and_start_commands(
    client: FlaskClient, world: World
) -> None:
    """What protocol 1's page tells a stand of itself, protocol 2's head tells it too: the
    stand's own default tariff, the owner's point value and a start ordered from the client
    page, with its client."""
    token = enrolled(client, world)
    stand = Stand.get((Stand.site == world.site_a.id) & (Stand.name == world.stand_a.name))
    night = Tariff.create(name="Ночной")
    TariffVersion.create(
        tariff=night,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        member_per_minute=700,
        guest_per_minute=1100,
    )
    pricing.set_stand_default(world.users["owner"], stand, night.id)
    LoyaltySetting.create(name="points_value_kopecks", value="250")
    start = commands.request_start(world.users["operator"], world.member, stand.id, utcnow())

    head = WindowStand(client, token).sync()

    assert head.default_tariff_id == night.id
    assert head.points_value_kopecks == 250
    assert [(c.type, c.client_id, c.session_uuid) for c in head.commands] == [
        ("start_session", world.member.id, start.session_uuid)
    ]


@pytest.mark.parametrize(("form", "listed"), [(2, 500), (3, 500), (3, 0)])
def test_a_client_who_visited_the_site_gets_details_at_its_stands(
    client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch, form: int, listed: int
) -> None:
    """A first visit moves the client's details too (protocol 3's head follows them); a
    second visit moves nothing but the balance stream. ``listed`` as in the walk's test."""
    monkeypatch.setattr(head, "DETAILS_AS_LIST", listed)
    stand = WindowStand(client, enrolled(client, world), form)
    stand.sync()
    close_window()  # the visits in a later window than the clients' entries so far
    stand.sync()
    visitor = world.other_site_client  # of site B until a session at site A started by card
    stranger = Client.create(kind="member", name="Пётр Чужой", home_site=world.site_b)
    for person, method in ((visitor, "card"), (stranger, "screen")):
        open_session(world, person, method)  # an attendant's start on the screen is no visit

    stand.sync()

    assert stand.clients[visitor.id].name == visitor.name
    assert stand.clients[stranger.id].name == ""
    details = changes.positions_of(changes.DETAILS, [visitor.id])
    open_session(world, visitor, "qr")
    assert changes.positions_of(changes.DETAILS, [visitor.id]) == details


def test_a_first_visit_to_the_home_site_moves_no_details(world: World) -> None:
    """The home site's stands have the details already: a member's first visit there moves
    only the balance stream, a first visit elsewhere moves the details."""
    details = changes.positions_of(changes.DETAILS, [world.member.id])
    clients = changes.positions_of(changes.CLIENT, [world.member.id])
    open_session(world, world.member, "card")  # at site A, the member's home
    assert changes.positions_of(changes.DETAILS, [world.member.id]) == details
    assert changes.positions_of(changes.CLIENT, [world.member.id]) != clients
    open_session(world, world.member, "card", world.stand_b)  # at site B
    assert changes.positions_of(changes.DETAILS, [world.member.id]) != details


def open_session(world: World, person: Client, method: str, stand: Stand | None = None) -> Session:
    """A session of ``person`` opened at ``stand`` (stand A) by ``method``, as a stand's batch
    writes it."""
    stand = stand or world.stand_a
    return Session.create(
        client=person,
        stand=stand,
        site=stand.site_id,
        tariff_version=world.tariff_version,
        client_kind="member",
        started_at=utcnow(),
        start_method=method,
    )
