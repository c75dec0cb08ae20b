"""The stands page and ``GET /api/v1/stands/health``: every stand's state at a glance from
the age of its latest heartbeat, and an alarm when its oldest unsent event grows old."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from cloud.catalog.sites import create_stand
from cloud.db import utcnow
from cloud.models import Stand
from cloud.standsync.heartbeat import parse_heartbeat, record_heartbeat
from cloud.standsync.standauth import enrol, provision_stand, revoke
from sync.document import format_utc
from tests.cloud.conftest import World


def enrol_stand(world: World, site: Any, name: str) -> Stand:
    stand, _token = enrol(provision_stand(site, name, utcnow()).code, utcnow())
    return stand


def heartbeat_ago(stand: Stand, seconds: int, **changes: Any) -> None:
    body = {"version": "0.4.0", "uptime_s": 7260, "outbox": 0, "cursor": 42, **changes}
    record_heartbeat(stand, parse_heartbeat(body), utcnow() - timedelta(seconds=seconds))


def row_of(page: str, stand: Stand) -> str:
    match = re.search(rf'<tr data-stand-id="{stand.id}".*?</tr>', page, re.S)
    assert match, f"stand {stand.id} is not on the page"
    return match.group(0)


def test_states_come_from_the_age_of_the_latest_heartbeat(world: World, as_role: Any) -> None:
    online = enrol_stand(world, world.site_a, "Пост 1")
    stale = enrol_stand(world, world.site_a, "Пост 2")
    offline = enrol_stand(world, world.site_a, "Пост 3")
    silent = enrol_stand(world, world.site_a, "Пост 4")
    never = create_stand(world.site_a, "Пост 5")
    revoked = enrol_stand(world, world.site_a, "Пост 6")
    revoke(revoked, utcnow())
    heartbeat_ago(online, 5)
    heartbeat_ago(stale, 120)
    heartbeat_ago(offline, 600)

    page = as_role("operator").get("/stands").get_data(as_text=True)

    expected = {
        online: ("online", "в сети"),
        stale: ("stale", "нет сигнала"),
        offline: ("offline", "не в сети"),
        silent: ("offline", "не в сети"),
        never: ("new", "не подключён"),
        revoked: ("revoked", "отключён"),
    }
    for stand, (state, label) in expected.items():
        row = row_of(page, stand)
        assert f'data-state="{state}"' in row, stand.name
        assert f">{label}</span>" in row, stand.name
    assert "0.4.0" in row_of(page, online)
    assert "2:01:00" in row_of(page, online)  # uptime


def test_an_old_unacknowledged_event_raises_the_alarm(world: World, as_role: Any) -> None:
    late = enrol_stand(world, world.site_a, "Пост 1")
    fresh = enrol_stand(world, world.site_a, "Пост 2")
    heartbeat_ago(
        late, 2, outbox=17, oldest_unacked_at=format_utc(utcnow() - timedelta(minutes=11))
    )
    heartbeat_ago(fresh, 2, outbox=2, oldest_unacked_at=format_utc(utcnow() - timedelta(minutes=9)))

    page = as_role("operator").get("/stands").get_data(as_text=True)

    assert 'class="negative alarm"' in row_of(page, late)
    assert "⚠ 11:0" in row_of(page, late)
    assert ">17<" in row_of(page, late)
    assert "alarm" not in row_of(page, fresh)
    assert "9:0" in row_of(page, fresh)


def test_a_stands_own_alarm_is_shown_on_the_page_and_in_the_api(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    lost = enrol_stand(world, world.site_a, "Пост 1")
    fine = enrol_stand(world, world.site_a, "Пост 2")
    heartbeat_ago(lost, 2, alarm="Центральная служба потеряла события поста с № 40")
    heartbeat_ago(fine, 2)

    page = as_role("operator").get("/stands").get_data(as_text=True)

    assert "⚠ Центральная служба потеряла события поста с № 40" in row_of(page, lost)
    assert "stand-alarm" not in row_of(page, fine)
    answer = client.get("/api/v1/stands/health", headers=world.bearer("owner")).get_json()
    alarms = {item["stand_id"]: item["alarm"] for item in answer["items"]}
    assert alarms[lost.id].endswith("№ 40") and alarms[fine.id] == ""
    heartbeat_ago(lost, 1)  # repaired: the next heartbeat says nothing
    assert "stand-alarm" not in row_of(
        as_role("operator").get("/stands").get_data(as_text=True), lost
    )


def test_devices_and_clock_skew_are_shown(world: World, as_role: Any) -> None:
    stand = enrol_stand(world, world.site_a, "Пост 1")
    heartbeat_ago(
        stand,
        1,
        reader={"state": "failed", "last_error": "USB отключён"},
        camera={"state": "ok"},
    )
    Stand.update(clock_skew_ms=-2500).where(Stand.id == stand.id).execute()

    row = row_of(as_role("operator").get("/stands").get_data(as_text=True), stand)

    assert 'title="USB отключён">сбой</span>' in row
    assert ">работает</span>" in row
    assert "+2.5 с" in row  # the stand's clock runs 2.5 s ahead


def test_an_attendant_sees_the_stands_of_their_own_sites_only(world: World, as_role: Any) -> None:
    page = as_role("attendant").get("/stands").get_data(as_text=True)

    assert f'data-stand-id="{world.stand_a.id}"' in page
    assert f'data-stand-id="{world.stand_b.id}"' not in page
    assert 'href="/stands"' in page  # in the navigation


def test_the_page_needs_a_log_in(client: FlaskClient, world: World) -> None:
    response = client.get("/stands")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_api_gives_the_same_states(client: FlaskClient, world: World) -> None:
    online = enrol_stand(world, world.site_a, "Пост 1")
    heartbeat_ago(
        online, 3, outbox=4, oldest_unacked_at=format_utc(utcnow() - timedelta(minutes=20))
    )

    answer = client.get("/api/v1/stands/health", headers=world.bearer("attendant"))

    assert answer.status_code == 200
    items = {item["stand_id"]: item for item in answer.get_json()["items"]}
    assert set(items) == {world.stand_a.id}  # the attendant's site only
    item = items[online.id]
    assert (item["state"], item["outbox"], item["outbox_alarm"], item["cursor"]) == (
        "online",
        4,
        True,
        42,
    )
    assert item["heartbeat_at"].endswith("Z")
    every = client.get("/api/v1/stands/health", headers=world.bearer("owner")).get_json()
    assert {item["stand_id"] for item in every["items"]} == {world.stand_a.id, world.stand_b.id}
    one_site = client.get(
        f"/api/v1/stands/health?site_id={world.site_b.id}", headers=world.bearer("owner")
    ).get_json()
    assert [item["stand_id"] for item in one_site["items"]] == [world.stand_b.id]
    bad = client.get("/api/v1/stands/health?site_id=x", headers=world.bearer("owner"))
    assert bad.status_code == 400
