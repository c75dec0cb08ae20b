"""What an integrity check finds (cloud/integrity/checks.py and the checks beside it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``kind`` says what, ``objects`` which rows (kind -> ids)."""

    kind: str
    message: str
    objects: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "objects": self.objects}


@dataclass(frozen=True)
class CheckResult:
    code: str
    title: str
    violations: list[Violation]
    truncated: bool = False  # more violations than listed

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "ok": self.ok,
            "violations": [violation.to_dict() for violation in self.violations],
            "truncated": self.truncated,
        }
