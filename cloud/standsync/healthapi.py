"""Stands' live state in the JSON API: the stands page's table (cloud/standsync/heartbeat.py) as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cloud.api import api_endpoint, bp, id_arg
from cloud.clock import app_now, iso_utc
from cloud.permissions import Capability
from cloud.standsync.heartbeat import stands_health
from cloud.web import acting_user


class StandHealthOut(BaseModel):
    stand_id: int
    stand_name: str
    site_id: int
    site_name: str
    state: str  # online, stale, offline, new (never enrolled), revoked
    heartbeat_at: datetime | None
    last_seen_at: datetime | None
    version: str | None
    uptime_s: int | None
    outbox: int | None
    oldest_unacked_at: datetime | None
    oldest_unacked_age_s: int | None
    outbox_alarm: bool
    cursor: int | None
    last_sync_at: datetime | None
    clock_skew_ms: int | None  # server time minus the stand's clock
    reader: dict[str, Any]
    camera: dict[str, Any]
    alarm: str  # what the stand cannot repair by itself ("" when all is well)


class StandHealthList(BaseModel):
    items: list[StandHealthOut]
    server_time: datetime


@bp.route("/stands/health", methods=["GET"])
@api_endpoint(
    Capability.VIEW_CATALOG,
    "Every stand's live state: heartbeat age, outbox, cursor, devices, clock skew",
    response=StandHealthList,
    query={"site_id": "only the stands of this site"},
)
def stand_health() -> Any:
    now = app_now()
    items = []
    for health in stands_health(acting_user(), now, id_arg("site_id")):
        item = asdict(health)
        for key, value in item.items():
            if isinstance(value, datetime):
                item[key] = iso_utc(value)
        items.append(item)
    return {"items": items, "server_time": iso_utc(now)}
