"""API: the integrity checks (cloud/integrity/checks.py), each with OK or its violations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cloud.api import api_endpoint, bp
from cloud.clock import app_now
from cloud.integrity.checks import run_checks
from cloud.permissions import Capability


class ViolationOut(BaseModel):
    kind: str
    message: str
    objects: dict[str, list[int]]


class CheckOut(BaseModel):
    code: str
    title: str
    ok: bool
    violations: list[ViolationOut]
    truncated: bool


class DiagnosticsOut(BaseModel):
    ok: bool
    checks: list[CheckOut]


@bp.route("/diagnostics")
@api_endpoint(
    Capability.REPORTS,
    "Integrity checks of the stored data: each with ok or its violations (at most 100 each)",
    response=DiagnosticsOut,
)
def diagnostics() -> dict[str, Any]:
    results = run_checks(app_now())
    return {
        "ok": all(result.ok for result in results),
        "checks": [result.to_dict() for result in results],
    }
