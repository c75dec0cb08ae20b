"""A stand's event stream for tests: envelopes numbered from 1 as a stand writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.document import format_utc

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class Stream:
    """Events of one stand: ``seq`` counts up, the wall and monotonic clocks move together."""

    def __init__(self, stand_id: int, start: datetime = T0, mono_ms: int = 60_000) -> None:
        self.stand_id = stand_id
        self.seq = 0
        self.boot_id = new_uuid()
        self.clock = start
        self.mono_ms = mono_ms

    def wait(self, seconds: int) -> None:
        self.clock += timedelta(seconds=seconds)
        self.mono_ms += seconds * 1000

    def reboot(self, clock: datetime) -> None:
        """A new boot whose wall clock reads ``clock`` (1970 before NTP has set it)."""
        self.boot_id = new_uuid()
        self.clock = clock
        self.mono_ms = 5_000

    def event(self, kind: str, payload: dict[str, Any], actor: str = "card") -> dict[str, Any]:
        self.seq += 1
        return {
            "id": new_uuid(),
            "stand_id": self.stand_id,
            "seq": self.seq,
            "type": kind,
            "occurred_at": format_utc(self.clock),
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "actor": actor,
            "directory_version": 1,
            "payload": payload,
        }

    def started(
        self, client_id: int | None, tariff_version_id: int, *, kind: str = "member", **ref: Any
    ) -> tuple[str, dict[str, Any]]:
        session_uuid = ref.pop("session_uuid", None) or new_uuid()
        payload = {
            "session_uuid": session_uuid,
            "client_id": client_id,
            "client_uuid": ref.pop("client_uuid", None),
            "tariff_version_id": tariff_version_id,
            "client_kind": kind,
            "method": "card",
        }
        return session_uuid, self.event("session.started", payload, **ref)

    def ended(
        self, session_uuid: str, duration_s: int, cost: int, actor: str = "card"
    ) -> dict[str, Any]:
        payload = {
            "session_uuid": session_uuid,
            "duration_s": duration_s,
            "cost_kopecks": cost,
            "method": "card",
            "auto": False,
            "comment": "",
        }
        return self.event("session.ended", payload, actor)

    def topup(
        self, client_id: int | None, amount: int, actor: str, client_uuid: str | None = None
    ) -> dict[str, Any]:
        payload = {
            "topup_uuid": new_uuid(),
            "client_id": client_id,
            "client_uuid": client_uuid,
            "amount_kopecks": amount,
            "method": "cash",
        }
        return self.event("topup.recorded", payload, actor)
