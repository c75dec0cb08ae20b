"""The dashboard of open sessions: cards with client, plate, live time and running cost."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from cloud.db import utcnow
from cloud.models import Session, TariffVersion
from cloud.sessions.service import live_view, open_sessions
from sync.money import NBSP
from tests.cloud.sessionrows import add_session


def roubles(kopecks: int) -> str:
    """Money as the pages show it, written out here rather than taken from the app."""
    return f"{kopecks // 100},{kopecks % 100:02d}{NBSP}₽"


def test_open_session_card_shows_client_plate_and_running_cost(world, as_role):
    started = utcnow() - timedelta(minutes=5, seconds=30)
    session = add_session(world.member, world.stand_a, world.tariff_version, started_at=started)
    add_session(
        world.guest,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(hours=1),
        ended_at=utcnow() - timedelta(minutes=30),
        cost_kopecks=45000,
    )
    # 10 ₽ a minute for a member, each started minute billed: 5 min 30 s pays for 6 minutes.
    expected = math.ceil(330 / 60) * 1000
    assert expected == 6000

    page = as_role("operator").get("/").get_data(as_text=True)

    assert "Иван Петров" in page
    assert "А123ВС77" in page
    assert roubles(expected) in page
    assert "5:3" in page  # 5:30 or 5:31, depending on when the page was drawn
    assert f'href="/clients/{world.member.id}"' in page
    assert f'data-session-id="{session.id}"' in page
    assert "Мойка на Ленина" in page and "Пост 1" in page
    cards = page[page.index('id="sessions"') : page.index('id="session-card-template"')]
    assert "О777ОО99" not in cards  # the guest's session has ended
    assert roubles(45000) not in cards


def test_card_carries_the_start_time_for_the_ticking_clock(world, as_role):
    started = (utcnow() - timedelta(minutes=2)).replace(microsecond=0)
    add_session(world.member, world.stand_a, world.tariff_version, started_at=started)
    page = as_role("operator").get("/").get_data(as_text=True)
    assert f'data-started-at="{started.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in page
    assert 'src="/static/dashboard.js"' in page


def test_live_view_prices_with_the_sessions_own_tariff_version(world):
    started = utcnow() - timedelta(days=1)
    member_session = add_session(
        world.member, world.stand_a, world.tariff_version, started_at=started
    )
    guest_session = add_session(
        world.guest, world.stand_a, world.tariff_version, started_at=started
    )
    # A later, dearer version of the tariff must not reprice sessions already running.
    TariffVersion.create(
        tariff=world.tariff,
        effective_from=utcnow() - timedelta(hours=1),
        member_per_minute=9900,
        guest_per_minute=9900,
    )
    now = started + timedelta(minutes=5, seconds=30)

    member_view = live_view(Session.get_by_id(member_session.id), now)
    guest_view = live_view(Session.get_by_id(guest_session.id), now)

    assert member_view["elapsed_s"] == 330
    assert member_view["running_cost_kopecks"] == 6 * 1000
    assert member_view["client_name"] == "Иван Петров"
    assert member_view["plate"] == "А123ВС77"
    assert member_view["site_name"] == "Мойка на Ленина"
    assert member_view["stand_name"] == "Пост 1"
    assert guest_view["running_cost_kopecks"] == 6 * 1500
    assert guest_view["client_name"] == "О777ОО99"  # a guest is known by the plate
    # Within the 10 s grace a mistaken tap is free; the minimum charge applies after it.
    assert live_view(member_session, started + timedelta(seconds=10))["running_cost_kopecks"] == 0
    assert (
        live_view(member_session, started + timedelta(seconds=11))["running_cost_kopecks"] == 5000
    )
    # A stand clock ahead of ours never gives a negative time.
    assert live_view(member_session, started - timedelta(seconds=30))["elapsed_s"] == 0


def test_live_json_shows_new_sessions_and_drops_ended_ones(world, as_role):
    browser = as_role("operator")
    first = add_session(world.member, world.stand_a, world.tariff_version)
    data = browser.get("/dashboard/live.json").get_json()
    assert [card["id"] for card in data["cards"]] == [first.id]
    card = data["cards"][0]
    assert card["client_url"] == f"/clients/{world.member.id}"
    assert card["running_cost_kopecks"] == 5000  # five minutes: the 50 ₽ minimum charge
    assert card["running_cost_text"] == roubles(5000)
    assert data["server_time"].endswith("Z")

    second = add_session(
        world.guest, world.stand_a, world.tariff_version, started_at=utcnow() - timedelta(minutes=1)
    )
    assert [c["id"] for c in browser.get("/dashboard/live.json").get_json()["cards"]] == [
        first.id,
        second.id,
    ]

    Session.update(ended_at=utcnow(), duration_s=300, cost_kopecks=5000).where(
        Session.id == first.id
    ).execute()
    assert [c["id"] for c in browser.get("/dashboard/live.json").get_json()["cards"]] == [second.id]


def test_attendant_sees_only_their_sites_sessions(world, as_role):
    add_session(world.member, world.stand_a, world.tariff_version)
    add_session(world.other_site_client, world.stand_b, world.tariff_version)

    attendant = as_role("attendant")
    page = attendant.get("/").get_data(as_text=True)
    assert "Иван Петров" in page
    assert "Ольга Гагарина" not in page and "Е001КХ50" not in page
    assert "Мойка на Гагарина" not in page  # not even in the site filter
    cards = attendant.get("/dashboard/live.json").get_json()["cards"]
    assert [card["client_id"] for card in cards] == [world.member.id]
    # Asking for the other site by its id shows nothing rather than its sessions.
    other = attendant.get(f"/dashboard/live.json?site_id={world.site_b.id}").get_json()
    assert other["cards"] == []
    assert len(open_sessions(world.users["attendant"])) == 1


def test_operator_sees_every_sites_sessions(world, as_role):
    add_session(world.member, world.stand_a, world.tariff_version)
    add_session(world.other_site_client, world.stand_b, world.tariff_version)
    everything = as_role("operator").get("/").get_data(as_text=True)
    assert "Иван Петров" in everything and "Ольга Гагарина" in everything


def test_site_filter_shows_one_sites_sessions(world, as_role):
    add_session(world.member, world.stand_a, world.tariff_version)
    add_session(world.other_site_client, world.stand_b, world.tariff_version)
    browser = as_role("owner")

    page = browser.get(f"/?site_id={world.site_b.id}").get_data(as_text=True)
    assert "Ольга Гагарина" in page and "Иван Петров" not in page
    assert f'<option value="{world.site_b.id}" selected>' in page
    live = browser.get(f"/dashboard/live.json?site_id={world.site_b.id}").get_json()
    assert [card["client_id"] for card in live["cards"]] == [world.other_site_client.id]


def test_empty_state_when_nothing_is_open(world, as_role):
    add_session(
        world.member,
        world.stand_a,
        world.tariff_version,
        started_at=utcnow() - timedelta(hours=1),
        ended_at=utcnow() - timedelta(minutes=50),
        cost_kopecks=10000,
    )
    page = as_role("operator").get("/").get_data(as_text=True)
    empty = re.search(r'<p id="no-sessions"[^>]*>', page)
    assert empty and "hidden" not in empty.group(0)
    assert "Сейчас открытых сессий нет." in page
    assert 'class="session-card" href="/clients' not in page


def test_dashboard_needs_a_log_in(client, world):
    for path in ("/", "/dashboard/live.json"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_a_session_open_longer_than_the_setting_is_highlighted(world, as_role, app):
    app.config["AQ"].long_session_minutes = 90
    forgotten = add_session(
        world.member, world.stand_a, world.tariff_version, started_at=utcnow() - timedelta(hours=3)
    )
    fresh = add_session(
        world.guest,
        world.stand_b,
        world.tariff_version,
        started_at=utcnow() - timedelta(minutes=80),
    )
    browser = as_role("owner")

    page = browser.get("/").get_data(as_text=True)
    flags = {
        int(session_id): bool(long)
        for long, session_id in re.findall(
            r'<div class="session-card( long)?" data-session-id="(\d+)"', page
        )
    }
    assert flags == {forgotten.id: True, fresh.id: False}
    assert "Дольше 90 мин — не забыта ли?" in page
    assert 'data-long-seconds="5400"' in page  # the browser marks the fresh one when it gets there
    live = {c["id"]: c["long"] for c in browser.get("/dashboard/live.json").get_json()["cards"]}
    assert live == {forgotten.id: True, fresh.id: False}

    app.config["AQ"].long_session_minutes = 60
    live = {c["id"]: c["long"] for c in browser.get("/dashboard/live.json").get_json()["cards"]}
    assert live == {forgotten.id: True, fresh.id: True}
