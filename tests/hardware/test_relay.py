"""The relay output, read back from gpiozero MockFactory pin histories (whole lists)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hardware.feedback import make_pin_factory
from hardware.relay import GpioOutput, NoOutput, Output, make_output

RELAY = 23


def history(factory: Any, pin: int = RELAY) -> list[float]:
    return [float(change.state) for change in factory.pin(pin).states]


@pytest.fixture
def factory() -> Iterator[Any]:
    factory = make_pin_factory("mock")
    yield factory
    factory.close()


BACKENDS: dict[str, Callable[[Any], Output]] = {
    "gpio active-high": lambda f: GpioOutput(RELAY, pin_factory=f),
    "gpio active-low": lambda f: GpioOutput(RELAY, pin_factory=f, active_high=False),
    "none": lambda f: make_output(None, pin_factory=f),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_output_starts_off_switches_at_once_and_ends_off(factory: Any, backend: str) -> None:
    output = BACKENDS[backend](factory)
    assert isinstance(output, Output)
    assert output.is_on is False
    started = time.perf_counter()
    output.set(True)
    assert time.perf_counter() - started < 0.05
    assert output.is_on is True
    output.set(False)
    assert output.is_on is False
    output.set(True)
    output.close()
    output.close()  # again: nothing
    output.set(True)  # after close: nothing, and no error


def test_no_pin_gives_an_output_that_drives_nothing(factory: Any) -> None:
    assert isinstance(make_output(None, pin_factory=factory), NoOutput)
    assert isinstance(make_output(RELAY, pin_factory=factory), GpioOutput)


def test_active_high_drives_the_pin_high_while_on_and_low_from_creation_and_after_close(
    factory: Any,
) -> None:
    with GpioOutput(RELAY, pin_factory=factory) as output:
        output.set(True)
        output.set(True)  # the same again: no change on the pin
        output.set(False)
        output.set(True)
    assert history(factory) == [0.0, 1.0, 0.0, 1.0, 0.0]


def test_active_low_drives_the_pin_low_while_on_and_high_from_creation_until_released(
    factory: Any,
) -> None:
    with GpioOutput(RELAY, pin_factory=factory, active_high=False) as output:
        assert history(factory) == [0.0, 1.0]  # the mock pin's 0, then driven off (high)
        output.set(True)
        output.set(False)
        output.set(True)
    # Closing drives it off (high), then gives the pin back (a mock input reads 0).
    assert history(factory) == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


EXIT_SCRIPT = """
import weakref
from hardware.feedback import make_pin_factory
from hardware.relay import GpioOutput

factory = make_pin_factory("mock")
def history():
    print([float(change.state) for change in factory.pin(23).states], flush=True)
# Exit hooks of weakref.finalize run newest first: this one, made before the relay's, reports
# what the relay's did.
weakref.finalize(factory, history)
relay = GpioOutput(23, pin_factory=factory)
relay.set(True)
history()
{ending}
"""


@pytest.mark.parametrize(
    "ending", ["pass", "raise RuntimeError('a crash')", "import sys; sys.exit(3)"]
)
def test_the_relay_is_turned_off_when_the_process_ends_without_closing_it(ending: str) -> None:
    """A clean end, a crash and sys.exit (SIGTERM ends the stand through it) all turn it off.
    SIGKILL runs nothing and cannot be shown here (see hardware.relay)."""
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT.format(ending=ending)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines() == ["[0.0, 1.0]", "[0.0, 1.0, 0.0]"], result.stderr
