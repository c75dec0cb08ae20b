"""Time as the central service writes it: ISO 8601 UTC texts for the API and CSV."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp (``2024-03-01T10:00:00Z``), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
