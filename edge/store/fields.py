"""Column types of the stand's tables, and the JSON form of a tariff version's rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee as pw


class UtcField(pw.TextField):
    """A UTC-aware time stored as fixed-width ISO text (sorts as it compares)."""

    def db_value(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC field")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def python_value(self, value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class JsonField(pw.TextField):
    def db_value(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)
