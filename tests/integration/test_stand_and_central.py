"""A stand and the central service, each a real server on 127.0.0.1 with HTTP between them:
enrolment with the command line, a tap at the stand on the central dashboard, a central block
refused at the stand, a top-up at the stand on the central client page."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

from cloud.clients.service import set_blocked
from cloud.ledger.service import post_entry
from cloud.models import Credential, LedgerEntry, Session, TariffVersion
from edge.config import load_config
from edge.screen import StateServer
from edge.stand import Stand
from sync.money import format_kopecks
from tests.edge.conftest import (
    IVAN_CARD,
    SITE_ID,
    STAND_ID,
    free_port,
    load_directory,
    pattern,
    wait_state,
)
from tests.integration.conftest import Central, enrol_with_cli, provision, wait_for

MEMBER_CARD = "04A1B2C3D4E5F6"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enrolment_keeps_the_token_owner_only_and_a_used_code_is_refused(
    central: Central, world: Any, tmp_path: Path
) -> None:
    code = provision(world.site_a, "Пост 3")
    data_dir = tmp_path / "stand"

    result = enrol_with_cli(data_dir, central.url, code)

    assert result.exit_code == 0, result.output
    token = (data_dir / "stand_token").read_text().strip()
    assert _mode(data_dir / "stand_token") == 0o600
    assert _mode(data_dir / "enrolment.json") == 0o600
    record = json.loads((data_dir / "enrolment.json").read_text())
    assert token.startswith(f"{record['stand_id']}.")
    assert token not in (data_dir / "enrolment.json").read_text()
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(data_dir)})
    assert (config.stand_id, config.site_id, config.central_url) == (
        record["stand_id"],
        world.site_a.id,
        central.url,
    )
    assert config.stand_token() == token

    again = enrol_with_cli(tmp_path / "other", central.url, code)

    assert again.exit_code != 0
    assert "уже использован" in again.output
    assert not (tmp_path / "other" / "stand_token").exists()


def test_enrolment_with_an_unknown_code_stores_nothing(
    central: Central, world: Any, tmp_path: Path
) -> None:
    result = enrol_with_cli(tmp_path / "stand", central.url, "AAAA-BBBB-CCCC")

    assert result.exit_code != 0
    assert "не найден" in result.output
    assert not (tmp_path / "stand" / "stand_token").exists()


def test_a_tap_shows_on_the_central_dashboard_and_the_second_tap_charges_once(
    central: Central, world: Any, running_stand: Any, as_role: Any
) -> None:
    # Any session costs the minimum charge: no free grace seconds.
    TariffVersion.update(grace_s=0).where(TariffVersion.id == world.tariff_version.id).execute()
    post_entry(world.member, "topup", 100_000, method="cash")
    # Real time: the second tap comes seconds after the first, so no guard against an early end.
    stand = running_stand(central.url, provision(world.site_a, "Пост 3"), end_guard_s=0)
    wait_state(stand.url, "the first sync", lambda s: s["online"] and s["sync"]["cursor"] > 0)
    operator = as_role("operator")

    stand.tap(MEMBER_CARD)

    def live_cards() -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = operator.get("/dashboard/live.json").get_json()["cards"]
        return cards

    [card] = wait_for("the session on the central dashboard", live_cards)
    assert card["client_id"] == world.member.id
    stand.let_the_card_go()
    stand.tap(MEMBER_CARD)
    state = wait_state(stand.url, "the end at the stand", lambda s: pattern(s) == "ended")
    wait_for("the session to leave the dashboard", lambda: live_cards() == [])
    wait_state(stand.url, "the outbox to drain", lambda s: s["outbox"] == 0)

    [session] = Session.select().where(Session.client == world.member.id)
    local = stand.stand.store.sessions_of(world.member.id)
    assert [s.uuid for s in local] == [session.uuid]
    assert session.cost_kopecks == local[0].cost_kopecks == 5000
    charges = LedgerEntry.select().where(
        (LedgerEntry.client == world.member.id) & (LedgerEntry.kind == "charge")
    )
    assert [c.amount_kopecks for c in charges] == [-5000]
    assert state["sync"]["last_sync_at"] is not None


def test_a_client_blocked_centrally_is_refused_at_the_stand_after_the_next_poll(
    central: Central, world: Any, running_stand: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    stand = running_stand(central.url, provision(world.site_a, "Пост 3"))
    first = wait_state(stand.url, "the first sync", lambda s: s["sync"]["cursor"] > 0)

    set_blocked(world.users["operator"], world.member, True, "долг")
    wait_state(stand.url, "the next poll", lambda s: s["sync"]["cursor"] > first["sync"]["cursor"])
    stand.tap(MEMBER_CARD)

    state = wait_state(stand.url, "the refusal", lambda s: pattern(s) == "refused")
    assert state["open_sessions"] == []
    assert state["last_feedback"]["reason"] == "Клиент заблокирован"


def test_a_top_up_at_the_stand_shows_on_the_central_client_page(
    central: Central, world: Any, running_stand: Any, as_role: Any
) -> None:
    post_entry(world.member, "topup", 100_000, method="cash")
    stand = running_stand(central.url, provision(world.site_a, "Пост 3"))
    wait_state(stand.url, "the first sync", lambda s: s["sync"]["cursor"] > 0)
    operator = as_role("operator")

    stand.stand.engine.record_topup(world.member.id, 25_000, "cash", world.users["attendant"].id)

    expected = format_kopecks(125_000)
    wait_for(
        "the top-up on the client page",
        lambda: expected in operator.get(f"/clients/{world.member.id}").get_data(as_text=True),
    )
    wait_state(stand.url, "the outbox to drain", lambda s: s["outbox"] == 0)
    assert stand.stand.store.balance_of(world.member.id) == 125_000


def test_a_stand_whose_central_service_is_away_backs_off_and_keeps_working(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "stand"
    data_dir.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    (data_dir / "enrolment.json").write_text(
        json.dumps({"stand_id": STAND_ID, "site_id": SITE_ID, "central_url": dead})
    )
    (data_dir / "stand_token").write_text(f"{STAND_ID}.secret")
    load_directory(data_dir / "edge.sqlite3")
    config = load_config(
        environ={"AQUASTAND_DATA_DIR": str(data_dir)},
        nfc_device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        pin_factory="mock",
        camera="directory",
        sync_interval_s=0.2,
        sync_max_backoff_s=1.0,
    )
    with Stand(config) as stand, StateServer(stand, port=0) as server:
        server.start()
        stand.start()
        assert stand.agent is not None
        agent = stand.agent
        wait_for("a few failed attempts", lambda: agent.status.failures >= 3)
        stand.engine.on_uid(IVAN_CARD)

        state = wait_state(server.url, "the session", lambda s: len(s["open_sessions"]) == 1)

        assert state["online"] is False
        assert state["sync"]["enrolled"] is True
        assert state["sync"]["outbox"] == 1
        assert state["sync"]["failures"] >= 3
        assert "Connection" in state["sync"]["last_error"]


def test_a_card_given_at_the_stand_is_the_clients_centrally_and_comes_back_in_the_directory(
    central: Central, world: Any, direct_stand: Any
) -> None:
    stand = direct_stand(central.url, provision(world.site_a, "Пост 3"))
    stand.sync("the first directory")
    new_card = "04C0FFEE123456"

    stand.engine.link_card(world.member.id, new_card, world.users["attendant"].id)
    stand.sync("the card to reach the central service")

    linked = Credential.get(Credential.kind == "card", Credential.value == new_card)
    assert (linked.client_id, linked.unlinked_at) == (world.member.id, None)
    # The next directory brings the card: the stand's own note of it is no longer needed.
    wait_for(
        "the directory to bring the card",
        lambda: (
            stand.agent.run_once(force=True) and stand.store.tables.AddedCard.select().count() == 0
        ),
    )
    assert stand.store.credential("card", new_card).client.id == world.member.id
