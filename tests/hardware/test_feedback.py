"""The stand's light and buzzer, read back from gpiozero MockFactory pin histories."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import GPIOPinInUse

from hardware.feedback import PATTERNS, SEEN, GpioFeedback, make_pin_factory
from tests.hardware.waiting import wait_until

RED, GREEN, BLUE, BUZZER = 17, 27, 22, 18
PINS = {"red": RED, "green": GREEN, "blue": BLUE, "buzzer": BUZZER}
FAST = 0.01  # patterns play at a hundredth of their real length


def histories(factory: Any) -> dict[str, list[float]]:
    """Each pin's whole state history, as numbers."""
    return {name: [float(s.state) for s in factory.pin(pin).states] for name, pin in PINS.items()}


def forget_history(factory: Any) -> None:
    for pin in PINS.values():
        factory.pin(pin).clear_states()


@pytest.fixture
def factory() -> Any:
    return make_pin_factory("mock")


@pytest.fixture
def feedback(factory: Any) -> Iterator[GpioFeedback]:
    with GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory, time_scale=FAST) as device:
        forget_history(factory)
        yield device


EXPECTED = {
    SEEN: {
        "red": [0, 0.4, 0],
        "green": [0, 0.4, 0],
        "blue": [0, 0.4, 0],
        "buzzer": [0],
    },
    "accepted": {
        "red": [0],
        "green": [0, 1, 0],
        "blue": [0],
        "buzzer": [0, 1, 0],
    },
    "ended": {
        "red": [0],
        "green": [0],
        "blue": [0, 1, 0],
        "buzzer": [0, 1, 0, 1, 0],
    },
    "refused": {
        "red": [0, 1, 0],
        "green": [0],
        "blue": [0],
        "buzzer": [0, 1, 0],
    },
    "attention": {
        "red": [0, 1, 0, 1, 0, 1, 0],
        "green": [0, 0.5, 0, 0.5, 0, 0.5, 0],
        "blue": [0],
        "buzzer": [0, 1, 0, 1, 0, 1, 0],
    },
    "running": {
        "red": [0],
        "green": [0, 1, 0, 1, 0],
        "blue": [0],
        "buzzer": [0],
    },
}


@pytest.mark.parametrize("pattern", sorted(EXPECTED))
def test_each_pattern_plays_its_colour_and_beeps(
    feedback: GpioFeedback, factory: Any, pattern: str
) -> None:
    feedback.play(pattern)
    assert feedback.wait_idle(timeout=5)
    assert histories(factory) == EXPECTED[pattern]


@pytest.mark.parametrize("pattern", sorted(EXPECTED))
@pytest.mark.parametrize("inverted", [("led",), ("buzzer",), ("led", "buzzer")])
def test_active_low_wiring_inverts_the_pin_values(
    factory: Any, pattern: str, inverted: tuple[str, ...]
) -> None:
    with GpioFeedback(
        RED,
        GREEN,
        BLUE,
        BUZZER,
        pin_factory=factory,
        time_scale=FAST,
        led_active_high="led" not in inverted,
        buzzer_active_high="buzzer" not in inverted,
    ) as feedback:
        forget_history(factory)
        feedback.play(pattern)
        assert feedback.wait_idle(timeout=5)
        played = histories(factory)  # before closing gives the pins back
    low = {"red", "green", "blue"} if "led" in inverted else set()
    low |= {"buzzer"} if "buzzer" in inverted else set()
    expected = {
        name: [1 - value for value in values] if name in low else values
        for name, values in EXPECTED[pattern].items()
    }
    assert played == expected


def test_every_pattern_in_the_table_is_checked() -> None:
    assert set(PATTERNS) == set(EXPECTED)


def test_a_new_pattern_interrupts_the_one_playing(factory: Any) -> None:
    # Real speed, so that the first amber blink is still on when the interruption comes.
    with GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory) as feedback:
        forget_history(factory)
        feedback.play("attention")
        wait_until(lambda: factory.pin(RED).state == 1, what="the first amber blink")
        feedback.play("accepted")
        assert feedback.current_pattern == "accepted"
        assert feedback.wait_idle(timeout=5)
    played = histories(factory)
    # Only the first of the three amber blinks was shown, then the green of "accepted".
    assert played["red"] == [0, 1, 0]
    assert played["blue"] == [0]
    # The interruption came during the blink (usual) or, on a slow machine, in its dark gap.
    assert (played["green"], played["buzzer"]) in (
        ([0, 0.5, 1, 0], [0, 1, 0]),
        ([0, 0.5, 0, 1, 0], [0, 1, 0, 1, 0]),
    )


@pytest.mark.parametrize("verdict", ["accepted", "refused"])
def test_a_verdict_replaces_the_seen_blip_at_once(factory: Any, verdict: str) -> None:
    # Slowed a hundredfold, the blip alone would hold the pale white for 50 s: the verdict's
    # colour showing within the wait's few seconds means it did not wait for the blip.
    with GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory, time_scale=100) as feedback:
        forget_history(factory)
        feedback.play(SEEN)
        wait_until(lambda: factory.pin(BLUE).state == 0.4, what="the pale white blip")
        feedback.play(verdict)
        assert feedback.current_pattern == verdict
        wait_until(lambda: factory.pin(BLUE).state == 0, what="the verdict's colour")
        played = histories(factory)  # before closing turns everything off
    colour = "green" if verdict == "accepted" else "red"
    other = "red" if verdict == "accepted" else "green"
    # Pale white, then straight into the verdict's colour and beep: no dark gap between.
    assert played[colour] == [0, 0.4, 1]
    assert played[other] == played["blue"] == [0, 0.4, 0]
    assert played["buzzer"] == [0, 1]


def test_a_verdict_before_the_player_took_the_blip_still_shows_it_first(
    feedback: GpioFeedback, factory: Any
) -> None:
    """The reader asks for the blip, and the verdict comes before the player thread woke
    (a fast commit on a busy stand): the light still passes through pale white."""
    with feedback._changed:  # the player cannot take a job while this is held
        feedback.play(SEEN)
        feedback.play("accepted")
    assert feedback.wait_idle(5)
    played = histories(factory)
    assert played["red"] == played["blue"] == [0, 0.4, 0]
    assert played["green"] == [0, 0.4, 1, 0]
    assert played["buzzer"] == [0, 1, 0]  # the blip stays silent: one beep, the verdict's


def test_current_pattern_names_what_plays_until_it_ends(feedback: GpioFeedback) -> None:
    assert feedback.current_pattern is None
    feedback.play("refused")
    assert feedback.current_pattern == "refused"
    assert feedback.wait_idle(timeout=5)
    assert feedback.current_pattern is None


def test_play_returns_at_once_while_a_pattern_plays(factory: Any) -> None:
    with GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory) as feedback:
        started = time.perf_counter()
        feedback.play("refused")
        feedback.play("attention")
        elapsed = time.perf_counter() - started
        assert feedback.wait_idle(timeout=0.05) is False  # a real-speed pattern is still on
    assert elapsed < 0.05


def test_status_blinks_dim_white_while_unreachable_and_stops_when_reachable(
    feedback: GpioFeedback, factory: Any
) -> None:
    feedback.status(unreachable=True)
    wait_until(lambda: len(factory.pin(BLUE).states) >= 5, what="two status blinks")
    feedback.status(unreachable=False)
    wait_until(lambda: factory.pin(BLUE).state == 0, what="the light to go dark")
    time.sleep(0.1)  # longer than a whole status blink at this speed: none may follow
    played = histories(factory)
    blinks = (len(played["blue"]) - 1) // 2
    assert blinks >= 2
    for colour in ("red", "green", "blue"):
        assert played[colour] == [0] + [0.1, 0] * blinks
    assert played["buzzer"] == [0]
    assert feedback.current_pattern is None


def test_a_pattern_plays_in_full_then_the_status_blink_resumes(
    feedback: GpioFeedback, factory: Any
) -> None:
    feedback.play("ended")
    feedback.status(unreachable=True)
    assert feedback.wait_idle(timeout=5)
    wait_until(lambda: len(factory.pin(RED).states) >= 3, what="a status blink after the pattern")
    feedback.status(unreachable=False)
    wait_until(lambda: factory.pin(RED).state == 0, what="the light to go dark")
    played = histories(factory)
    blinks = (len(played["red"]) - 1) // 2
    assert played["buzzer"] == [0, 1, 0, 1, 0]
    assert played["blue"] == [0, 1, 0] + [0.1, 0] * blinks
    assert played["red"] == [0] + [0.1, 0] * blinks


def test_stands_with_separate_factories_do_not_share_pins(factory: Any) -> None:
    other_factory = make_pin_factory("mock")
    with (
        GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory, time_scale=FAST) as first,
        GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=other_factory, time_scale=FAST),
    ):
        forget_history(factory)
        forget_history(other_factory)
        first.play("refused")
        assert first.wait_idle(timeout=5)
        assert histories(factory)["red"] == [0, 1, 0]
        assert histories(other_factory) == {"red": [0], "green": [0], "blue": [0], "buzzer": [0]}


def test_close_releases_the_pins(factory: Any) -> None:
    first = GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory)
    with pytest.raises(GPIOPinInUse):
        GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory)
    first.close()
    with GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory) as second:
        second.play("accepted")
        assert second.current_pattern == "accepted"


def test_close_turns_a_playing_pattern_off(factory: Any) -> None:
    feedback = GpioFeedback(RED, GREEN, BLUE, BUZZER, pin_factory=factory)
    feedback.play("refused")
    wait_until(lambda: factory.pin(BUZZER).state == 1, what="the long beep")
    feedback.close()
    assert factory.pin(RED).state == 0
    assert factory.pin(BUZZER).state == 0


def test_an_unknown_pattern_is_a_programming_error(feedback: GpioFeedback) -> None:
    with pytest.raises(ValueError, match="unknown feedback pattern"):
        feedback.play("applause")


def test_an_unknown_pin_factory_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pin factory"):
        make_pin_factory("rpigpio")
