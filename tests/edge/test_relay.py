"""The equipment relay follows the open sessions at the post: whole MockFactory pin histories.

Off is 0 and on is 1 (an active-high relay): every history starts with the mock pin's 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from edge.config import EdgeConfig, load_config
from edge.engine import Engine
from edge.stand import Stand, state_of
from edge.store import Store
from edge.syncwiring import EngineCommands
from hardware.feedback import make_pin_factory
from hardware.relay import GpioOutput
from sync.agent import Command
from tests.edge.conftest import (
    ATTENDANT_ID,
    BLOCKED_CARD,
    EXPRESS_FAN,
    IVAN,
    IVAN_CARD,
    FakeClock,
    RecordingFeedback,
    free_port,
    load_directory,
)

RELAY = 23
GUARD_S = 61  # past the default end_guard_s, so a tap ends


@pytest.fixture
def factory() -> Iterator[Any]:
    factory = make_pin_factory("mock")
    yield factory
    factory.close()


@pytest.fixture
def relays() -> Iterator[contextlib.ExitStack]:
    """Closes the relays a test made (before their pin factories close)."""
    with contextlib.ExitStack() as stack:
        yield stack


def history(factory: Any) -> list[float]:
    return [float(change.state) for change in factory.pin(RELAY).states]


def relay_engine(
    store: Store,
    config: EdgeConfig,
    clock: FakeClock,
    factory: Any,
    relays: contextlib.ExitStack,
) -> Engine:
    relay = relays.enter_context(GpioOutput(RELAY, pin_factory=factory))
    return Engine(store, RecordingFeedback(), config, clock, relay=relay)


@pytest.fixture
def engine(
    store: Store, config: EdgeConfig, clock: FakeClock, factory: Any, relays: contextlib.ExitStack
) -> Engine:
    return relay_engine(store, config, clock, factory, relays)


def test_the_relay_is_off_at_start_up(engine: Engine, factory: Any) -> None:
    assert history(factory) == [0.0]


def test_a_card_start_turns_it_on_and_the_card_end_off(
    engine: Engine, factory: Any, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    assert history(factory) == [0.0, 1.0]
    clock.advance(GUARD_S)
    engine.on_uid(IVAN_CARD)
    assert history(factory) == [0.0, 1.0, 0.0]


def test_a_tap_held_back_or_refused_changes_nothing(
    engine: Engine, factory: Any, clock: FakeClock
) -> None:
    engine.on_uid(BLOCKED_CARD)  # refused inside the start's transaction: rolled back
    assert history(factory) == [0.0]
    engine.on_uid(IVAN_CARD)
    clock.advance(5)
    engine.on_uid(IVAN_CARD)  # too soon to end: the session goes on
    assert history(factory) == [0.0, 1.0]


def test_the_screen_start_and_end_switch_it(engine: Engine, factory: Any) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0]
    engine.end_session(session.uuid, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0, 0.0]
    _, guest_session = engine.register_guest("Е001КХ77", None, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0, 0.0, 1.0]
    engine.end_session(guest_session.uuid, ATTENDANT_ID, method="dashboard")
    assert history(factory) == [0.0, 1.0, 0.0, 1.0, 0.0]


def test_a_remote_end_turns_it_off(engine: Engine, factory: Any) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    EngineCommands(engine)(Command(1, "end_session", session.uuid, "", ATTENDANT_ID))
    assert history(factory) == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("limits", "wait_s"),
    [({"max_session_s": 600}, 600), ({"max_session_s": 0, "max_session_kopecks": 10_000}, 600)],
    ids=["max duration", "max cost"],
)
def test_an_automatic_end_turns_it_off(
    store: Store,
    config: EdgeConfig,
    clock: FakeClock,
    factory: Any,
    relays: contextlib.ExitStack,
    limits: dict[str, int],
    wait_s: int,
) -> None:
    engine = relay_engine(store, dataclasses.replace(config, **limits), clock, factory, relays)
    engine.on_uid(IVAN_CARD)
    clock.advance(wait_s - 60)
    assert engine.tick() == []
    assert history(factory) == [0.0, 1.0]
    clock.advance(60)
    [ended] = engine.tick()
    assert ended.auto_ended
    assert history(factory) == [0.0, 1.0, 0.0]


def test_it_stays_on_until_the_last_of_two_sessions_ends(engine: Engine, factory: Any) -> None:
    engine.on_uid(IVAN_CARD)
    second = engine.start_session(EXPRESS_FAN, None, ATTENDANT_ID)  # the screen may add one
    [first] = [s for s in engine.store.open_sessions() if s.uuid != second.uuid]
    assert history(factory) == [0.0, 1.0]
    engine.end_session(first.uuid, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0]
    engine.end_session(second.uuid, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0, 0.0]


def test_an_engine_restarted_with_a_session_open_turns_it_on(
    engine: Engine, store: Store, config: EdgeConfig, clock: FakeClock
) -> None:
    engine.on_uid(IVAN_CARD)
    clock.reboot(down_s=30)  # a power cut: a new process, new pins
    again = make_pin_factory("mock")
    try:
        with contextlib.ExitStack() as relays:
            restarted = relay_engine(store, config, clock, again, relays)
            assert history(again) == [0.0, 1.0]
            restarted.end_session(store.open_sessions()[0].uuid, ATTENDANT_ID)
            assert history(again) == [0.0, 1.0, 0.0]
    finally:
        again.close()


# --- the stand wired together -----------------------------------------------------------


def stand_config(tmp_path: Any, **changes: Any) -> EdgeConfig:
    config = EdgeConfig(
        data_dir=tmp_path / "stand",
        stand_id=4,
        site_id=1,
        nfc_device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        pin_factory="mock",
        camera="directory",
        pin_relay=RELAY,
    )
    return dataclasses.replace(config, **changes)


def stand_history(stand: Stand) -> list[float]:
    return [float(change.state) for change in stand.pin_factory.pin(RELAY).states]


def test_the_stand_drives_its_relay_and_comes_back_on_with_a_session_open(tmp_path: Any) -> None:
    config = stand_config(tmp_path)
    load_directory(config.database_path)
    with Stand(config) as stand:
        assert state_of(stand)["devices"]["relay"] == "off"
        stand.engine.start_session(IVAN, None, ATTENDANT_ID)
        assert state_of(stand)["devices"]["relay"] == "on"
        assert stand_history(stand) == [0.0, 1.0]
        pin = stand.pin_factory.pin(RELAY)  # the factory forgets its pins when it closes
    # The stand stopped: the equipment too.
    assert [float(change.state) for change in pin.states] == [0.0, 1.0, 0.0]
    with Stand(config) as stand:  # back with the session still open
        assert stand_history(stand) == [0.0, 1.0]
        assert state_of(stand)["devices"]["relay"] == "on"


def test_a_stand_without_a_relay_reports_none(tmp_path: Any) -> None:
    config = stand_config(tmp_path, pin_relay=None)
    load_directory(config.database_path)
    with Stand(config) as stand:
        stand.engine.start_session(IVAN, None, ATTENDANT_ID)
        assert state_of(stand)["devices"]["relay"] is None


@pytest.mark.parametrize("pin", ["pin_red", "pin_green", "pin_blue", "pin_buzzer"])
def test_a_relay_on_the_led_or_buzzer_pin_is_refused(tmp_path: Any, pin: str) -> None:
    taken = getattr(EdgeConfig(), pin)
    with pytest.raises(ValueError, match=rf"pin_relay: GPIO {taken} is already {pin}"):
        load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)}, pin_relay=taken)


def test_the_relay_pin_is_read_from_the_environment_and_none_unsets_it(tmp_path: Any) -> None:
    env = {"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_EDGE_PIN_RELAY": "23"}
    assert load_config(environ=env).pin_relay == RELAY
    assert load_config(environ={**env, "AQUASTAND_EDGE_PIN_RELAY": "none"}).pin_relay is None
    assert load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)}).pin_relay is None


def test_an_end_rolled_back_leaves_it_on(
    engine: Engine, factory: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(120)

    def disk_full(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(engine.store, "add_ledger_entry", disk_full)
    with pytest.raises(OSError, match="disk full"):
        engine.end_session(session.uuid, ATTENDANT_ID)
    assert [s.uuid for s in engine.store.open_sessions()] == [session.uuid]
    assert history(factory) == [0.0, 1.0]
    monkeypatch.undo()
    # The end that failed is forgotten: a later session's end leaves the first one's relay on.
    second = engine.start_session(EXPRESS_FAN, None, ATTENDANT_ID)
    engine.end_session(second.uuid, ATTENDANT_ID)
    assert history(factory) == [0.0, 1.0]
