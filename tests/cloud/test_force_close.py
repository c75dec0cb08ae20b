"""Force-closing a session no stand can end (cloud/sessions/forceclose.py), and the stand's
late report of the same session reconciled to one session and one charge
(cloud/standsync/ingest/appliers/late_end.py). Both databases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.db import utcnow
from cloud.integrity.checks import run_checks, session_charges
from cloud.ledger.service import post_entry
from cloud.loyalty import settings as loyalty
from cloud.loyalty.bonus import PointsRules
from cloud.models import (
    AuditEntry,
    Client,
    ForcedClose,
    LedgerEntry,
    Session,
    Stand,
    StandCommand,
    StandEvent,
    StandHeartbeat,
)
from cloud.standsync.commands import pending_commands
from cloud.standsync.standauth import provision_stand
from tests.cloud.conftest import World, post_form
from tests.cloud.eventstream import Stream
from tests.cloud.sessionrows import add_session
from tests.cloud.test_syncapi import headers


@dataclass
class Washing:
    """A session a real stand (by its sync API) started ``minutes`` ago."""

    token: str
    stream: Stream
    session: Session


def washing(client: FlaskClient, world: World, minutes: int = 20) -> Washing:
    code = provision_stand(world.site_a, world.stand_a.name, utcnow()).code
    token = client.post("/sync/v1/enrol", json={"code": code}).get_json()["token"]
    stream = Stream(world.stand_a.id, start=utcnow() - timedelta(minutes=minutes))
    session_uuid, started = stream.started(world.member.id, world.tariff_version.id)
    response = client.post("/sync/v1/events", headers=headers(token), json={"events": [started]})
    assert response.status_code == 200
    return Washing(token, stream, Session.get(Session.uuid == session_uuid))


def silence(stand: Any, minutes: int = 60) -> None:
    """The stand last heard from ``minutes`` ago (no heartbeat since)."""
    Stand.update(last_seen_at=utcnow() - timedelta(minutes=minutes)).where(
        Stand.id == stand.id
    ).execute()
    StandHeartbeat.delete().where(StandHeartbeat.stand == stand.id).execute()


def charges(session: Session) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.session == session.id) & (LedgerEntry.kind == "charge")
    )
    return [entry.amount_kopecks for entry in query.order_by(LedgerEntry.id)]


def balance(world: World) -> int:
    return int(Client.get_by_id(world.member.id).balance_kopecks)


def force(browser: FlaskClient, session: Session, comment: str = "Пост сгорел") -> Any:
    return post_form(browser, f"/sessions/{session.id}/force-close", {"comment": comment})


def test_a_silent_stands_session_is_closed_priced_charged_once_flagged_and_audited(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    before = balance(world)
    browser = as_role("administrator")

    response = force(browser, wash.session)

    assert response.status_code == 302
    session = Session.get_by_id(wash.session.id)
    # 20 minutes at 10 ₽ a minute (each started minute): 200 ₽, or 210 ₽ if a minute ticked.
    assert session.cost_kopecks in (20000, 21000)
    assert (session.force_closed, session.end_method) == (True, "forced")
    assert session.ended_by_id == world.users["administrator"].id
    assert charges(session) == [-session.cost_kopecks]
    assert balance(world) == before - session.cost_kopecks
    forced = ForcedClose.get(ForcedClose.session == session.id)
    assert (forced.reason, forced.comment, forced.cost_kopecks) == (
        "stand_silent",
        "Пост сгорел",
        session.cost_kopecks,
    )
    audit = AuditEntry.get(AuditEntry.action == "session.force_closed")
    assert audit.comment == "Пост сгорел"
    assert json.loads(audit.after)["cost_kopecks"] == session.cost_kopecks
    page = browser.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Завершён принудительно" in page and "Пост сгорел" in page
    assert "принудительно" in browser.get(f"/clients/{world.member.id}").get_data(as_text=True)
    # The stand, if it comes back, is asked to end its copy.
    assert [c["type"] for c in pending_commands(Stand.get_by_id(world.stand_a.id))] == [
        "end_session"
    ]
    assert session_charges() == []


def test_closing_twice_is_a_conflict_and_charges_once(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world)
    silence(world.stand_a)
    browser = as_role("owner")
    assert force(browser, wash.session).status_code == 302

    again = force(browser, wash.session, "Ещё раз")

    assert again.status_code == 409
    assert "Сеанс уже завершён" in again.get_data(as_text=True)
    assert len(charges(wash.session)) == 1
    assert ForcedClose.select().count() == 1


def test_a_live_stands_session_is_refused_with_the_remote_end_suggested(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world)  # the stand synced just now

    response = force(as_role("administrator"), wash.session)

    assert response.status_code == 409
    assert "Завершить удалённо" in response.get_data(as_text=True)
    assert Session.get_by_id(wash.session.id).ended_at is None
    assert charges(wash.session) == [] and ForcedClose.select().count() == 0


@pytest.mark.parametrize(
    ("role", "comment", "status"),
    [("operator", "Причина", 403), ("attendant", "Причина", 403), ("administrator", "  ", 400)],
)
def test_who_may_and_the_required_comment(
    client: FlaskClient, world: World, as_role: Any, role: str, comment: str, status: int
) -> None:
    wash = washing(client, world)
    silence(world.stand_a)

    assert force(as_role(role), wash.session, comment).status_code == status
    assert Session.get_by_id(wash.session.id).ended_at is None
    assert AuditEntry.select().where(AuditEntry.action == "session.force_closed").count() == 0


def test_a_revoked_stand_and_a_session_never_a_stands_are_closed(
    world: World, as_role: Any
) -> None:
    central = add_session(world.member, world.stand_b, world.tariff_version)  # no uuid
    browser = as_role("owner")

    response = browser.post(
        f"/api/v1/sessions/{central.id}/force-close",
        json={"comment": "Записан вручную"},
        headers={"Authorization": f"Bearer {world.tokens['owner']}"},
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["force_closed"] is True and body["status"] == "ended"
    assert body["forced"]["reason"] == "not_from_stand"
    assert body["forced"]["cost_kopecks"] == body["cost_kopecks"] > 0
    assert StandCommand.select().count() == 0  # no stand to ask
    missing = browser.post(
        f"/api/v1/sessions/{central.id}/force-close",
        json={},
        headers={"Authorization": f"Bearer {world.tokens['owner']}"},
    )
    assert missing.status_code == 400


def test_the_stands_earlier_end_replaces_the_central_one_with_one_correction(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    before = balance(world)
    assert force(as_role("administrator"), wash.session).status_code == 302
    central = Session.get_by_id(wash.session.id).cost_kopecks
    # The stand had ended it offline after 6 minutes (60 ₽); it comes back and reports it.
    wash.stream.wait(360)
    ended = wash.stream.ended(wash.session.uuid, 360, 6000)

    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": [ended]})

    assert response.status_code == 200
    session = Session.get_by_id(wash.session.id)
    assert (session.cost_kopecks, session.duration_s, session.end_method) == (6000, 360, "card")
    assert session.force_closed is True
    assert charges(session) == [-central, central - 6000]
    assert balance(world) == before - 6000
    forced = ForcedClose.get(ForcedClose.session == session.id)
    assert forced.correction_kopecks == 6000 - central
    assert forced.stand_reported_at is not None
    assert StandEvent.get(StandEvent.seq == 2).flag == "force_close_replaced"
    assert pending_commands(Stand.get_by_id(world.stand_a.id)) == []
    assert session_charges() == []
    # The same end resent under a new id and seq after a reboot: nothing more.
    again = wash.stream.ended(wash.session.uuid, 360, 6000)
    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": [again]})
    assert response.status_code == 200
    assert StandEvent.get(StandEvent.seq == 3).flag == "session_already_ended"
    assert balance(world) == before - 6000
    assert len(charges(session)) == 2
    assert session_charges() == []


def test_a_later_end_from_the_stand_keeps_the_central_one_and_charges_nothing(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    assert force(as_role("administrator"), wash.session).status_code == 302
    session = Session.get_by_id(wash.session.id)
    before = balance(world)
    # The stand comes back with the session open and ends it (on the command) 2 minutes later.
    wash.stream.wait(20 * 60 + 120)
    ended = wash.stream.ended(wash.session.uuid, 1320, 22000)
    both = [ended, wash.stream.ended(wash.session.uuid, 1320, 22000)]

    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": both})

    assert response.status_code == 200
    after = Session.get_by_id(session.id)
    assert (after.cost_kopecks, after.end_method) == (session.cost_kopecks, "forced")
    assert balance(world) == before
    assert [
        e.flag for e in StandEvent.select().where(StandEvent.seq > 1).order_by(StandEvent.seq)
    ] == [
        "force_close_kept",
        "session_already_ended",
    ]
    assert ForcedClose.get(ForcedClose.session == session.id).stand_reported_at is not None
    assert pending_commands(Stand.get_by_id(world.stand_a.id)) == []
    assert session_charges() == []


def test_the_stand_health_report_lists_the_force_closed_sessions(
    client: FlaskClient, world: World, as_role: Any
) -> None:
    wash = washing(client, world)
    silence(world.stand_a)
    assert force(as_role("administrator"), wash.session, "Пост без питания").status_code == 302
    auth = {"Authorization": f"Bearer {world.tokens['operator']}"}

    report = client.get("/api/v1/reports/stands", headers=auth).get_json()

    [row] = report["forced_sessions"]
    assert (row["session_id"], row["comment"], row["closed_by"], row["stand_reported_at"]) == (
        wash.session.id,
        "Пост без питания",
        "Сотрудник administrator",
        None,
    )
    page = as_role("operator").get("/reports/stands").get_data(as_text=True)
    assert 'id="forced"' in page and "Пост без питания" in page


# --- points on charges ------------------------------------------------------------------------

ON_CHARGES = PointsRules(accrual_percent=10, accrual_on="charge")  # 1 point per 10 ₽ charged


def accruals(world: World) -> list[int]:
    query = LedgerEntry.select().where(
        (LedgerEntry.client == world.member.id) & (LedgerEntry.kind == "bonus_accrual")
    )
    return [entry.amount_points for entry in query.order_by(LedgerEntry.id)]


def points(world: World) -> int:
    return int(Client.get_by_id(world.member.id).points_balance)


def test_a_force_close_accrues_by_the_points_rules_the_owner_saved(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    """The settings page's rules, not the file's (which accrue nothing): the same rules a
    stand's charge accrues by, so the stand's later report corrects what was accrued."""
    loyalty.save(world.users["owner"], app.config["AQ"], ON_CHARGES)
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)

    assert force(as_role("administrator"), wash.session).status_code == 302

    central = Session.get_by_id(wash.session.id).cost_kopecks
    assert accruals(world) == [central // 1000] and points(world) == central // 1000


def test_a_shorter_stand_end_takes_back_the_points_of_the_part_given_back(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    """The owner's saved rules accrue on charges (the force-close and the stand's report both
    read them): the central charge earned its points, the stand's cheaper end keeps only what
    its own charge earns."""
    loyalty.save(world.users["owner"], app.config["AQ"], ON_CHARGES)
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    assert force(as_role("administrator"), wash.session).status_code == 302
    central = Session.get_by_id(wash.session.id).cost_kopecks
    assert accruals(world) == [central // 1000]  # 20 or 21 points
    wash.stream.wait(360)
    ended = wash.stream.ended(wash.session.uuid, 360, 6000)

    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": [ended]})

    assert response.status_code == 200
    assert accruals(world) == [central // 1000, -(central // 1000 - 6)]
    assert points(world) == 6  # what 60 ₽ earns
    taken = LedgerEntry.get((LedgerEntry.kind == "bonus_accrual") & (LedgerEntry.amount_points < 0))
    assert taken.session_id == wash.session.id
    assert taken.event_id == StandEvent.get(StandEvent.seq == 2).id
    assert [r.code for r in run_checks(utcnow()) if not r.ok] == []


def test_points_spent_since_stay_spent_and_the_balance_never_goes_below_zero(
    app: Flask, client: FlaskClient, world: World, as_role: Any
) -> None:
    loyalty.save(world.users["owner"], app.config["AQ"], ON_CHARGES)
    wash = washing(client, world, minutes=20)
    silence(world.stand_a)
    assert force(as_role("administrator"), wash.session).status_code == 302
    earned = points(world)
    post_entry(
        Client.get_by_id(world.member.id), "bonus_adjustment", 0, amount_points=-(earned - 3)
    )
    wash.stream.wait(360)
    ended = wash.stream.ended(wash.session.uuid, 360, 6000)

    response = client.post("/sync/v1/events", headers=headers(wash.token), json={"events": [ended]})

    assert response.status_code == 200
    assert accruals(world) == [earned, -3]  # of the points to take back, only 3 were left
    assert points(world) == 0
