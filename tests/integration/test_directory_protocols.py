"""Real stands over HTTP on every sync protocol at once: a stand of protocol 1 (a page per
stand), one of protocol 2 (shared windows and its own head) and one of protocol 3 (the same,
balance-only changes compact) keep the same copy of the directory from one central service,
and an idle poll of windows only revalidates its tail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from cloud.ledger.service import post_entry
from cloud.staff import service as staffbook
from tests.cloud.conftest import PASSWORD
from tests.cloud.test_directory_windows import close_window
from tests.integration.conftest import Central, DirectStand, provision


def _recorded(stand: DirectStand) -> list[tuple[str, int]]:
    """The (path, status) of every request the stand's agent makes from now on."""
    seen: list[tuple[str, int]] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        seen.append((response.request.path_url.split("?")[0], response.status_code))

    stand.agent._http.hooks["response"].append(record)
    return seen


def _copy(stand: DirectStand) -> dict[int, tuple[str, int]]:
    clients = stand.store.tables.DirClient
    return {row.id: (row.name, stand.store.balance_of(row.id)) for row in clients.select()}


def _on_protocol(
    direct_stand: Callable[..., DirectStand], central: Central, world: Any, post: str, protocol: int
) -> DirectStand:
    """A stand of site A named ``post`` whose agent speaks sync ``protocol``."""
    stand = direct_stand(central.url, provision(world.site_a, post), name=f"p{protocol}")
    stand.agent.protocol = protocol
    return stand


def test_old_and_new_stands_keep_the_same_copy(
    central: Central, world: Any, direct_stand: Callable[..., DirectStand]
) -> None:
    old = _on_protocol(direct_stand, central, world, "Пост 2", 1)
    mid = _on_protocol(direct_stand, central, world, "Пост 5", 2)
    new = _on_protocol(direct_stand, central, world, "Пост 3", 3)
    old.sync("the old stand's first walk")
    mid.sync("the protocol 2 stand's first walk")
    new.sync("the new stand's first walk")
    assert _copy(old) == _copy(new) == _copy(mid)
    assert _copy(new)[world.other_site_client.id][0] == ""  # another site's: no name
    assert _copy(new)[world.member.id][0] == "Иван Петров"

    post_entry(world.member, "topup", 120_000, method="cash")
    ours = staffbook.create_staff(
        name="Новый аквастендист",
        phone="+79000000097",
        role="attendant",
        password=PASSWORD,
        pin="979797",
        site_ids=[world.site_a.id],
    )
    old.sync("the old stand's poll")
    new.sync("the new stand's poll")

    mid.sync("the protocol 2 stand's poll")
    assert _copy(old) == _copy(new) == _copy(mid)
    assert _copy(new)[world.member.id][1] == 120_000
    assert old.store.staff_member(ours.id) is not None
    assert new.store.staff_member(ours.id) is not None

    requests_made = _recorded(new)
    new.sync("an idle poll")
    windows = [status for path, status in requests_made if "/directory/window/" in path]
    assert windows == [304]
    assert ("/sync/v1/directory/head", 200) in requests_made


def test_a_protocol_2_stand_says_its_cursor_with_every_window(
    central: Central, world: Any, direct_stand: Callable[..., DirectStand]
) -> None:
    stand = direct_stand(central.url, provision(world.site_a, "Пост 4"), name="cursor")
    stand.sync("the first walk")
    held = stand.store.directory_cursor()
    said: list[str | None] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if "/directory/window/" in response.request.path_url:
            said.append(response.request.headers.get("X-Directory-Cursor"))

    stand.agent._http.hooks["response"].append(record)
    post_entry(world.member, "topup", 5_000, method="cash")
    stand.sync("a poll")

    assert said and set(said) == {str(held)}
    assert stand.store.directory_cursor() > held


def test_a_balance_only_change_reaches_a_protocol_3_stand_compact(
    central: Central, world: Any, direct_stand: Callable[..., DirectStand]
) -> None:
    old = _on_protocol(direct_stand, central, world, "Пост 2", 1)
    new = _on_protocol(direct_stand, central, world, "Пост 3", 3)
    close_window()  # what follows lies in a later window than every client's details
    old.sync("the old stand's first walk")
    new.sync("the new stand's first walk")
    bodies: list[dict[str, Any]] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if "/directory/window/" in response.request.path_url and response.status_code == 200:
            bodies.append(response.json())

    new.agent._http.hooks["response"].append(record)
    post_entry(world.member, "topup", 30_000, method="cash")
    old.sync("the old stand's poll")
    new.sync("the new stand's poll")

    assert [b["protocol"] for b in bodies] == [3]
    assert [row[0] for row in bodies[0]["balances"]] == [world.member.id]
    assert bodies[0]["upserts"]["clients"] == []
    assert _copy(new)[world.member.id] == (world.member.name, 30_000)
    assert _copy(old) == _copy(new)
