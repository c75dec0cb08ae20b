"""What can come of an event besides a plain apply: refused (the batch stops at it, nothing of
it is stored) or flagged (applied or stored with a flag and a note, for a person to look at)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.errors import DomainError


class Refused(DomainError):
    """An event this service cannot apply; the batch stops at it."""

    status = 422
    code = "refused"


@dataclass(frozen=True)
class Refusal:
    """The answer's account of the event a batch stopped at."""

    seq: int | None
    code: str
    message: str
    status: int
    expected_seq: int | None = None  # a gap: the seq this service waits for

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"seq": self.seq, "code": self.code, "message": self.message}
        if self.expected_seq is not None:
            answer["expected_seq"] = self.expected_seq
        return answer


def with_flag(flag: str, notes: str, new_flag: str, note: str) -> tuple[str, str]:
    """An event's flag and note after flagging it ``new_flag``: the first flag stays."""
    return flag or new_flag, f"{notes}\n{note}".strip()


def flag_row(row: dict[str, Any], new_flag: str, note: str) -> None:
    """Flag a ``StandEvent`` row not written yet (a planned one, see ``plan.Plan``)."""
    row["flag"], row["flag_note"] = with_flag(row["flag"], row["flag_note"], new_flag, note)
