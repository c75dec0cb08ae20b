"""Light and sound at the stand: an RGB LED and a buzzer playing named patterns.

Patterns are data (:data:`PATTERNS`): each is a sequence of steps, a step being a colour, the
buzzer on or off, and how long to hold them. One small player thread plays them in the
background; a new pattern replaces the one playing at once. After a pattern the light goes
dark, or, while :meth:`Feedback.status` says the central service is unreachable, shows the
status blink :data:`STATUS_UNREACHABLE` (a slow dim white flash, distinct from every pattern)
until a pattern interrupts it or the service is reachable again.

A tap shows two patterns: :data:`SEEN` (pale white, silent), played from the reader's or the
camera's thread the moment it reports the card or code, before any database work; then the
verdict ("accepted", "ended", ...), played by the engine's worker once the tap's transaction
is on disk, which replaces the blip at once (see ``edge.stand``).

Pins come from a gpiozero pin factory passed to each device, never set globally, so two stands
in one process (tests) do not share pins: :func:`make_pin_factory` gives ``MockFactory`` for
tests and the demo, or the lgpio factory on a Raspberry Pi.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from gpiozero import RGBLED, Buzzer

from hardware.device import ClosedOnExit, Device

if TYPE_CHECKING:
    from gpiozero.pins import Factory

Colour = tuple[float, float, float]
Pin = int | str

OFF: Colour = (0.0, 0.0, 0.0)
GREEN: Colour = (0.0, 1.0, 0.0)
BLUE: Colour = (0.0, 0.0, 1.0)
RED: Colour = (1.0, 0.0, 0.0)
AMBER: Colour = (1.0, 0.5, 0.0)
PALE_WHITE: Colour = (0.4, 0.4, 0.4)
DIM_WHITE: Colour = (0.1, 0.1, 0.1)


class Step(NamedTuple):
    """One step of a pattern: the LED colour (r, g, b in 0..1), the buzzer, for ``seconds``."""

    colour: Colour
    buzzer: bool
    seconds: float


SEEN = "seen"

PATTERNS: dict[str, tuple[Step, ...]] = {
    # "Seen, wait for the verdict": pale white, silent (the verdicts are told apart by their
    # beeps, which a click just before each would blur). Replaced by the verdict as soon as
    # the tap's commit returns, so it shows only while the disk is slow; alone it means
    # nothing was decided (a bounce the engine ignores).
    SEEN: (Step(PALE_WHITE, False, 0.5),),
    # Green, one short beep.
    "accepted": (Step(GREEN, True, 0.15), Step(GREEN, False, 0.85)),
    # Blue, two short beeps.
    "ended": (
        Step(BLUE, True, 0.12),
        Step(BLUE, False, 0.12),
        Step(BLUE, True, 0.12),
        Step(BLUE, False, 0.64),
    ),
    # Red, one long beep.
    "refused": (Step(RED, True, 0.8), Step(RED, False, 0.7)),
    # "See the attendant": amber blinking with three beeps.
    "attention": (Step(AMBER, True, 0.2), Step(OFF, False, 0.2)) * 3,
    # "Still running, nothing changed": two slow green blinks, silent (unlike "accepted", it
    # does not read as a new start; unlike "refused", it does not alarm).
    "running": (Step(GREEN, False, 0.3), Step(OFF, False, 0.3)) * 2,
}

# Looped while idle and the central service is unreachable.
STATUS_UNREACHABLE: tuple[Step, ...] = (Step(DIM_WHITE, False, 0.5), Step(OFF, False, 2.5))


@runtime_checkable
class Feedback(Device, Protocol):
    """What the stand shows and sounds. Every method returns at once."""

    def play(self, pattern: str) -> None:
        """Start playing ``pattern`` (a key of :data:`PATTERNS`), replacing any playing."""

    def status(self, unreachable: bool) -> None:
        """Show (or stop showing) that the central service is unreachable."""


def make_pin_factory(name: str) -> Factory:
    """The gpiozero pin factory called ``name``: "mock" (tests, demo) or "lgpio" (a Pi).

    >>> factory = make_pin_factory("mock")
    >>> feedback = GpioFeedback(17, 27, 22, 18, pin_factory=factory)
    """
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        # PWM pins, so that amber (red full, green half) can be shown.
        return MockFactory(pin_class=MockPWMPin)
    if name == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory

        return LGPIOFactory()
    raise ValueError(f"unknown pin factory {name!r} (expected 'mock' or 'lgpio')")


class GpioFeedback(ClosedOnExit):
    """Feedback on a gpiozero RGB LED and an active buzzer, played by one background thread.

    >>> with GpioFeedback(17, 27, 22, 18, pin_factory=make_pin_factory("mock")) as feedback:
    ...     feedback.play("accepted")

    ``time_scale`` multiplies every step's duration (tests play patterns fast with 0.01).
    ``led_active_high`` is False for a common-anode LED, ``buzzer_active_high`` for a buzzer
    board that sounds on a low pin.
    """

    def __init__(
        self,
        red_pin: Pin,
        green_pin: Pin,
        blue_pin: Pin,
        buzzer_pin: Pin,
        *,
        pin_factory: Factory,
        time_scale: float = 1.0,
        led_active_high: bool = True,
        buzzer_active_high: bool = True,
    ) -> None:
        self._led = RGBLED(
            red_pin, green_pin, blue_pin, active_high=led_active_high, pin_factory=pin_factory
        )
        try:
            self._buzzer = Buzzer(
                buzzer_pin, active_high=buzzer_active_high, pin_factory=pin_factory
            )
        except BaseException:
            self._led.close()
            raise
        self._time_scale = time_scale
        self._changed = threading.Condition()
        self._wanted: str | None = None
        self._playing: str | None = None
        # The "seen" blip was asked for and a verdict replaced it before the player took it: the
        # light still passes through pale white first, so every tap is seen, however fast.
        self._seen_overtaken = False
        self._generation = 0
        self._unreachable = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="feedback-player", daemon=True)
        self._thread.start()

    @property
    def current_pattern(self) -> str | None:
        """The pattern being played (or about to be), None when idle or only the status shows."""
        with self._changed:
            return self._playing

    def play(self, pattern: str) -> None:
        """Play ``pattern`` in the background, interrupting any pattern playing.

        An unknown name is a programming error (ValueError); after close() it does nothing.
        """
        if pattern not in PATTERNS:
            raise ValueError(f"unknown feedback pattern {pattern!r}")
        with self._changed:
            if self._closed:
                return
            self._seen_overtaken = self._seen_overtaken or (self._wanted == SEEN != pattern)
            self._wanted = self._playing = pattern
            self._generation += 1
            self._changed.notify_all()

    def status(self, unreachable: bool) -> None:
        """Loop :data:`STATUS_UNREACHABLE` whenever idle while ``unreachable`` is True."""
        with self._changed:
            self._unreachable = unreachable
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no pattern is playing; False if ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._playing is None, timeout)

    def close(self) -> None:
        """Stop the player, turn the LED and buzzer off and release their pins."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._playing = None
            self._changed.notify_all()
        self._thread.join()
        self._buzzer.close()
        self._led.close()

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            steps, still_wanted = job
            self._play_steps(steps, still_wanted)
            self._settle()

    def _next_job(self) -> tuple[tuple[Step, ...], Callable[[], bool]] | None:
        """Wait for something to show: a requested pattern, else the status blink."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._wanted is not None or self._unreachable
            )
            if self._closed:
                return None
            generation, pattern = self._generation, self._wanted
            self._wanted = None
            if pattern is not None:
                steps = PATTERNS[pattern]
                if self._seen_overtaken:
                    self._seen_overtaken = False
                    steps = (Step(PALE_WHITE, False, 0.0), *steps)
                return steps, lambda: self._generation == generation
            return STATUS_UNREACHABLE, lambda: self._generation == generation and self._unreachable

    def _play_steps(self, steps: tuple[Step, ...], still_wanted: Callable[[], bool]) -> None:
        for step in steps:
            self._led.color = step.colour
            self._buzzer.value = step.buzzer
            with self._changed:
                interrupted = self._changed.wait_for(
                    lambda: self._closed or not still_wanted(), step.seconds * self._time_scale
                )
            if interrupted:
                return

    def _settle(self) -> None:
        """After a pattern: go dark and idle, unless another pattern is already waiting."""
        with self._changed:
            if self._wanted is not None or self._closed:
                return
            self._led.color = OFF
            self._buzzer.value = False
            self._playing = None
            self._changed.notify_all()


class SilentFeedback(ClosedOnExit):
    """Feedback with no light and no sound: the stand's stand-in when its GPIO could not be
    opened (no lgpio, the wrong chip), so that cards, codes and the screen keep working.

    >>> feedback = SilentFeedback()
    >>> feedback.play("accepted")  # nothing lights; ``played`` remembers it
    """

    def __init__(self) -> None:
        self.played: list[str] = []

    def play(self, pattern: str) -> None:
        """Remember ``pattern`` (ValueError if unknown, as for :class:`GpioFeedback`)."""
        if pattern not in PATTERNS:
            raise ValueError(f"unknown feedback pattern {pattern!r}")
        self.played.append(pattern)
        del self.played[:-100]

    def status(self, unreachable: bool) -> None:
        """Nothing to show it on."""

    def close(self) -> None:
        """Nothing to release."""
