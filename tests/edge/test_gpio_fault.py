"""A stand whose GPIO fails at start (no lgpio, the wrong chip, a pin that does not exist) runs
on without light, buzzer and relay: cards are read and sessions start, the fault shows on the
screen and in the device health the heartbeat sends, and the watchdog stays fed (no restart
loop into the same failure)."""

from __future__ import annotations

import sys

import pytest
import requests
from gpiozero.exc import PinInvalidPin
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge import stand as stand_module
from hardware.feedback import SilentFeedback
from tests.edge.conftest import IVAN_CARD, StartStand, pattern, wait_state


class WrongChipFactory(MockFactory):
    """gpiozero's MockFactory whose every pin fails, as lgpio does on a chip without the line."""

    def __init__(self) -> None:
        super().__init__(pin_class=MockPWMPin)

    def pin(self, name: object) -> MockPWMPin:
        raise PinInvalidPin(f"no line {name} on gpiochip4")


def no_lgpio(monkeypatch: pytest.MonkeyPatch) -> str:
    """lgpio missing, whether or not this machine has it: a None in sys.modules makes its
    import fail as a missing module's does."""
    monkeypatch.setitem(sys.modules, "lgpio", None)
    return "lgpio"


def wrong_chip(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(stand_module, "make_pin_factory", lambda name: WrongChipFactory())
    return "mock"


@pytest.mark.parametrize(
    ("fail", "error"),
    [(no_lgpio, "lgpio"), (wrong_chip, "PinInvalidPin: no line 17 on gpiochip4")],
)
def test_a_gpio_failure_leaves_nfc_and_the_screen_running_and_says_so(
    start_stand: StartStand, monkeypatch: pytest.MonkeyPatch, fail, error: str
) -> None:
    running = start_stand(pin_factory=fail(monkeypatch))
    stand = running.stand

    assert isinstance(stand.feedback, SilentFeedback)
    lights = stand.device_health()["lights"]
    assert lights["state"] == "failed"
    assert error in lights["last_error"]
    assert stand.stopped_loops() == []  # the watchdog is fed: no restart into the same fault

    running.tap(IVAN_CARD)
    state = wait_state(running.url, "the session to start", lambda s: pattern(s) == "accepted")
    assert len(state["open_sessions"]) == 1
    assert state["devices"]["lights"]["state"] == "failed"
    assert stand.feedback.played[-2:] == ["seen", "accepted"]

    page = requests.get(f"{running.url}/pin/7", timeout=5).text
    assert "Свет и звук не работают:" in page
    assert error in page


def test_with_working_gpio_the_screen_shows_no_fault(start_stand: StartStand) -> None:
    running = start_stand()
    assert running.stand.device_health()["lights"] == {"state": "ok", "last_error": ""}
    assert "Свет и звук" not in requests.get(f"{running.url}/pin/7", timeout=5).text
