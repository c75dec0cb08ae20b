"""What the engine tells the customer and the screen: the light-and-sound device it plays
patterns on, the pattern it played last and why, in the one table of messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from edge.refusals import REFUSAL_TEXTS

# The reason the stand's state gives for the feedback it played last: what went well here,
# what was refused in the one table of refusals.
MESSAGES = {
    "started": "Сеанс начат",
    "ended": "Сеанс завершён",
    "negative": "Баланс отрицательный: обратитесь к администратору",
    "auto_ended": "Сеанс завершён автоматически",
    "funds_ended": "Средства закончились: сеанс завершён",
    **REFUSAL_TEXTS,
}


class Feedback(Protocol):
    """Light and sound for the customer (``hardware.feedback`` or a recording in tests)."""

    def play(self, pattern: str) -> None:
        """Start ``pattern`` ("accepted", "ended", "refused", "attention", "running");
        returns at once."""


@dataclass(frozen=True)
class LastFeedback:
    """The pattern played last, when, and why (``code`` for programs, ``reason`` for people);
    ``session_uuid`` names the session a start, an end or a held-back end concerns (the
    customer's display, :mod:`edge.display`, shows that session's figures)."""

    pattern: str
    at: datetime
    code: str
    reason: str
    session_uuid: str | None = None
