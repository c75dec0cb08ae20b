"""The staff audit log over the JSON API, for the owner: ``GET /api/v1/audit`` with the page's
filters. Read only: the log cannot be changed through the API either."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from pydantic import BaseModel

from cloud.api import api_endpoint, bp, page_args
from cloud.audit import search
from cloud.db import MAX_ROW_ID
from cloud.permissions import Capability


class AuditEntryOut(BaseModel):
    """One staff action: who (staff id, name and role as they were; null: the command line),
    when, from where (client address; the API token when it came through the API), the
    action's code, its target, and the values before and after (null: did not exist / gone)."""

    id: int
    at: str
    actor_id: int | None
    actor_name: str
    actor_role: str
    address: str
    api_token_id: int | None
    action: str
    target_kind: str
    target_id: int | None
    target_label: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    comment: str


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    total: int


_ROW_ID = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
        {"type": "string", "maxLength": 0},
    ]
}


@bp.route("/audit")
@api_endpoint(
    Capability.VIEW_AUDIT,
    "The staff audit log, newest first, filtered by who, action, target and period",
    response=AuditList,
    query={
        "actor_id": ("only this staff member's actions", _ROW_ID),
        "action": (
            "only this action",
            {"type": "string", "enum": list(search.ACTIONS)},
        ),
        "target_kind": (
            "only actions on this kind of thing",
            {"type": "string", "enum": list(search.TARGET_KINDS)},
        ),
        "target_id": ("only actions on the thing with this id (with target_kind)", _ROW_ID),
        "from": "first day, YYYY-MM-DD (default: no bound)",
        "to": "last day, YYYY-MM-DD, inclusive (default: no bound)",
        "limit": "at most this many rows (1 to 500, default 50)",
        "offset": "skip this many rows",
    },
)
def audit_log() -> dict[str, Any]:
    chosen = search.parse_filter(request.args, current_app.config["AQ"].timezone)
    limit, offset = page_args()
    rows, total = search.find(chosen, limit, offset)
    return {"items": [search.entry_to_dict(row) for row in rows], "total": total}
