"""Stands' heartbeats and their health at a glance (issue 4, "live state").

Every few seconds a stand posts ``POST /sync/v1/heartbeat``: its version, uptime, outbox depth
and the age of its oldest unacknowledged event, directory cursor, last sync, reader and camera
health. The latest is kept per stand (:class:`StandHeartbeat`); at most one a minute per stand
is also kept in :class:`StandHeartbeatLog` for the stand health report over time, and so is
every heartbeat that ends a silence longer than :data:`ONLINE_WITHIN` (with its length).

A stand's state on the stands page comes from the age of its latest heartbeat: ``online``
(within :data:`ONLINE_WITHIN`), ``stale`` (within :data:`STALE_WITHIN`), ``offline`` (older or
never); a stand never enrolled is ``new`` and a revoked one ``revoked``. The outbox alarms when
its oldest unacknowledged event is older than :data:`OUTBOX_ALARM_AFTER` (DESIGN.md: delivery
never gives up on money, and the stands page alarms when an event waits too long), and whenever
the stand reports an ``alarm`` it cannot repair by itself (e.g. events lost here in a restore
from a backup that it no longer keeps: sync/agent.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.db import db_proxy
from cloud.errors import ValidationFailed
from cloud.fields import Moment, line, whole
from cloud.models import Site, Stand, StandHeartbeat, StandHeartbeatLog, User
from cloud.permissions import site_scope

ONLINE_WITHIN = timedelta(seconds=30)
STALE_WITHIN = timedelta(minutes=5)
OUTBOX_ALARM_AFTER = timedelta(minutes=10)
LOG_EVERY = timedelta(minutes=1)
REFRESH_SECONDS = 5  # how often the stands page refreshes itself
STATES = ("online", "stale", "offline", "new", "revoked")
_BIG = 2**62
_DEVICE_KEYS = 20
_DEVICE_TEXT = 200


_Version = line(50, required=False)
_Alarm = line(500, required=False)
_Counter = whole(0, _BIG - 1)


class HeartbeatBody(BaseModel):
    """What a stand reports; keys this service does not know are ignored (a newer stand may
    send more), a known key of the wrong type is refused."""

    model_config = ConfigDict(extra="ignore")

    version: _Version
    uptime_s: _Counter
    outbox: _Counter
    oldest_unacked_at: Moment | None = None
    cursor: _Counter
    last_sync_at: Moment | None = None
    reader: dict[str, Any] = Field(default_factory=dict)
    camera: dict[str, Any] = Field(default_factory=dict)
    alarm: _Alarm = ""


def parse_heartbeat(data: object) -> HeartbeatBody:
    """The heartbeat in ``data`` (parsed JSON), or ValidationFailed naming the bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("Тело запроса должно быть JSON-объектом"), "bad_json")
    try:
        return HeartbeatBody.model_validate(data)
    except ValidationError as error:
        where = ".".join(str(part) for part in error.errors()[0]["loc"]) or "body"
        raise ValidationFailed(
            _("Сигнал поста: неверное поле «%(field)s»", field=where), "bad_heartbeat"
        ) from None


def _device(report: dict[str, Any]) -> dict[str, Any]:
    """A device's health as stored: scalar values only, bounded in number and length."""
    kept: dict[str, Any] = {}
    for key, value in list(report.items())[:_DEVICE_KEYS]:
        if isinstance(value, str):
            kept[str(key)[:40]] = value[:_DEVICE_TEXT]
        elif value is None or isinstance(value, bool | int | float):
            kept[str(key)[:40]] = value
    return kept


def record_heartbeat(stand: Stand, body: HeartbeatBody, now: datetime) -> None:
    """Store the stand's latest heartbeat, and a history row unless one is under a minute old."""
    reader, camera = _device(body.reader), _device(body.camera)
    values = {
        "received_at": now,
        "version": body.version,
        "uptime_s": body.uptime_s,
        "outbox": body.outbox,
        "oldest_unacked_at": body.oldest_unacked_at,
        "cursor": body.cursor,
    }
    latest = {
        **values,
        "last_sync_at": body.last_sync_at,
        "reader": json.dumps(reader, ensure_ascii=False),
        "camera": json.dumps(camera, ensure_ascii=False),
        "alarm": body.alarm,
    }
    with db_proxy.atomic():
        silence = _silence_before(stand, now)
        StandHeartbeat.insert(stand=stand.id, **latest).on_conflict(
            conflict_target=[StandHeartbeat.stand], update=latest
        ).execute()
        recent = (
            StandHeartbeatLog.select()
            .where(
                (StandHeartbeatLog.stand == stand.id)
                & (StandHeartbeatLog.received_at > now - LOG_EVERY)
            )
            .exists()
        )
        if silence is not None or not recent:
            skew = Stand.select(Stand.clock_skew_ms).where(Stand.id == stand.id).scalar()
            StandHeartbeatLog.create(
                stand=stand.id,
                clock_skew_ms=skew,
                reader_state=str(reader.get("state", ""))[:20],
                camera_state=str(camera.get("state", ""))[:20],
                silence_s=silence,
                **values,
            )


def _silence_before(stand: Stand, now: datetime) -> int | None:
    """Whole seconds since the stand's previous heartbeat if longer than ONLINE_WITHIN (the
    stand was offline, and this heartbeat ends it: always logged, for the stand report)."""
    previous = (
        StandHeartbeat.select(StandHeartbeat.received_at)
        .where(StandHeartbeat.stand == stand.id)
        .first()
    )
    if previous is None or now - previous.received_at <= ONLINE_WITHIN:
        return None
    return int((now - previous.received_at).total_seconds())


@dataclass(frozen=True)
class StandHealth:
    """One stand as the stands page and ``GET /api/v1/stands/health`` show it."""

    stand_id: int
    stand_name: str
    site_id: int
    site_name: str
    state: str  # one of STATES
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
    clock_skew_ms: int | None
    reader: dict[str, Any]
    camera: dict[str, Any]
    alarm: str  # the stand's own alarm ("" when all is well)


def state_of(stand: Stand, heartbeat_at: datetime | None, now: datetime) -> str:
    """``revoked``, ``new`` (never enrolled), else ``online``/``stale``/``offline`` by the age
    of the latest heartbeat."""
    if stand.token_hash is None:
        return "revoked" if stand.revoked_at is not None else "new"
    if heartbeat_at is None:
        return "offline"
    age = now - heartbeat_at
    if age <= ONLINE_WITHIN:
        return "online"
    if age <= STALE_WITHIN:
        return "stale"
    return "offline"


def _health(stand: Stand, beat: StandHeartbeat | None, now: datetime) -> StandHealth:
    oldest = beat.oldest_unacked_at if beat else None
    age = max(0, int((now - oldest).total_seconds())) if oldest else None
    return StandHealth(
        stand_id=stand.id,
        stand_name=stand.name,
        site_id=stand.site_id,
        site_name=stand.site.name,
        state=state_of(stand, beat.received_at if beat else None, now),
        heartbeat_at=beat.received_at if beat else None,
        last_seen_at=stand.last_seen_at,
        version=beat.version if beat else None,
        uptime_s=beat.uptime_s if beat else None,
        outbox=beat.outbox if beat else None,
        oldest_unacked_at=oldest,
        oldest_unacked_age_s=age,
        outbox_alarm=age is not None and age > OUTBOX_ALARM_AFTER.total_seconds(),
        cursor=beat.cursor if beat else None,
        last_sync_at=beat.last_sync_at if beat else None,
        clock_skew_ms=stand.clock_skew_ms,
        reader=json.loads(beat.reader) if beat else {},
        camera=json.loads(beat.camera) if beat else {},
        alarm=beat.alarm if beat else "",
    )


def stands_health(actor: User, now: datetime, site_id: int | None = None) -> list[StandHealth]:
    """Every stand of the actor's sites (optionally one site) with its latest heartbeat,
    by site and stand name."""
    query = Stand.select(Stand, Site).join(Site).order_by(Site.name, Stand.name, Stand.id)
    scope = site_scope(actor)
    if scope is not None:
        query = query.where(Stand.site.in_(sorted(scope)))
    if site_id is not None:
        query = query.where(Stand.site == site_id)
    stands = list(query)
    beats = {
        beat.stand_id: beat
        for beat in StandHeartbeat.select().where(
            StandHeartbeat.stand.in_([stand.id for stand in stands] or [0])
        )
    }
    return [_health(stand, beats.get(stand.id), now) for stand in stands]
