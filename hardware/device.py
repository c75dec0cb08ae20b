"""What every device shares: it can be closed, and a ``with`` block closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable


@runtime_checkable
class Device(Protocol):
    """A device that holds a resource (pins, a reader, a camera) until closed."""

    def close(self) -> None:
        """Release the device; calling it again does nothing."""

    def __enter__(self) -> Self:
        """The device itself; leaving the ``with`` block closes it."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the device."""


class ClosedOnExit:
    """Gives a class with ``close()`` the ``with`` block of :class:`Device`.

    >>> class Lamp(ClosedOnExit):
    ...     def close(self) -> None: print("off")
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self: Device,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
