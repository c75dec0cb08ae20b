"""An output that is on or off: a relay (or a contactor's coil) on one GPIO pin.

:class:`GpioOutput` drives a gpiozero ``OutputDevice`` whose pin factory is passed in, never
set globally. :class:`NoOutput` is the backend when no pin is configured: it remembers what it
was told and drives nothing. :func:`make_output` chooses between them.

What the pin does when the process stops (the fail-safe):

- At start the device is created with ``initial_value=False``: the pin drives the inactive
  level (low when active-high, high when active-low) before anything can turn it on.
- :meth:`GpioOutput.close` drives the inactive level, then closes the gpiozero device, whose
  pin goes back to an input. It runs on ``close()``, at the end of a ``with`` block, and at
  interpreter exit (a ``weakref.finalize`` hook: gpiozero's own exit hook closes only the
  devices of the global ``Device.pin_factory``, which the stand never uses). An uncaught
  exception, ``sys.exit`` and SIGTERM/SIGINT (the stand's CLI turns them into a clean exit)
  all end through interpreter exit.
- Killed outright (SIGKILL, the systemd watchdog's SIGABRT, an OOM kill) no Python code runs.
  With the lgpio pin factory on a Pi the kernel closes the process's ``/dev/gpiochip`` handle
  and so releases the line; what the pin does next is the kernel GPIO driver's choice (it
  may go back to an input, or keep driving its last level). Wire the relay with a pull
  resistor that holds it off while the pin floats (pull-down for active-high, pull-up for
  active-low), and let systemd restart the stand, which drives the pin inactive at once.
- Verified here with gpiozero's ``MockFactory`` (tests/hardware/test_relay.py): the whole pin
  history at creation, on, off, close and interpreter exit. Not verified: a real Pi, the
  kernel's behaviour after SIGKILL, the relay board's pull resistors.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gpiozero import OutputDevice

from hardware.device import ClosedOnExit, Device

if TYPE_CHECKING:
    from gpiozero.pins import Factory


@runtime_checkable
class Output(Device, Protocol):
    """An output that is on or off. ``set`` returns at once; closing turns it off.

    >>> with make_output(23, pin_factory=make_pin_factory("mock")) as output:
    ...     output.set(True)
    """

    @property
    def is_on(self) -> bool:
        """Whether the output is on now."""

    def set(self, on: bool) -> None:
        """Turn the output on or off (again the same: nothing changes)."""


def _release(device: OutputDevice) -> None:
    """Drive the inactive level, then give the pin back (``close``, interpreter exit)."""
    if not device.closed:
        device.off()
        device.close()


class GpioOutput(ClosedOnExit):
    """An :class:`Output` on a gpiozero ``OutputDevice``, off from its creation.

    >>> relay = GpioOutput(23, pin_factory=make_pin_factory("mock"), active_high=False)
    >>> relay.set(True)  # the pin goes low: an active-low relay board switches on
    """

    def __init__(self, pin: int | str, *, pin_factory: Factory, active_high: bool = True) -> None:
        self._device = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )
        self._release = weakref.finalize(self, _release, self._device)

    @property
    def is_on(self) -> bool:
        return bool(self._device.is_active)

    def set(self, on: bool) -> None:
        """Turn the output on or off; after close() it does nothing."""
        if self._device.closed:
            return
        if on:
            self._device.on()
        else:
            self._device.off()

    def close(self) -> None:
        """Turn the output off and release its pin; calling it again does nothing."""
        self._release()


class NoOutput(ClosedOnExit):
    """The :class:`Output` when none is wired: it remembers what it was told, nothing more."""

    def __init__(self) -> None:
        self._on = False

    @property
    def is_on(self) -> bool:
        return self._on

    def set(self, on: bool) -> None:
        self._on = on

    def close(self) -> None:
        self._on = False


def make_output(
    pin: int | str | None, *, pin_factory: Factory, active_high: bool = True
) -> GpioOutput | NoOutput:
    """A :class:`GpioOutput` on ``pin``, or a :class:`NoOutput` when ``pin`` is None."""
    if pin is None:
        return NoOutput()
    return GpioOutput(pin, pin_factory=pin_factory, active_high=active_high)
