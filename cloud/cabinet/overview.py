"""What a client sees of their own account in the cabinet: balance and points (with what
expires when), the last washes, top-ups, cards and plates, the QR code. Every query starts
from the client, never from an id alone; the other areas' services do the changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud.clients.credentials import active_credentials, ensure_qr
from cloud.clients.qrkeys import public_key
from cloud.config import CloudConfig
from cloud.models import Client, Credential, LedgerEntry, Session, Site, Stand
from sync import qrtoken

RECENT = 20


@dataclass(frozen=True)
class Wash:
    id: int
    post: str
    site: str
    started_at: datetime
    duration_s: int | None
    cost_kopecks: int | None
    points_spent: int
    open: bool


def expiring_points(client: Client, days: int, now: datetime) -> list[tuple[datetime, int]]:
    """When the client's points expire and how many each time, soonest first: points are
    spent and expire first in, first out (``cloud.loyalty.bonus``), so what is left of each
    lot expires ``days`` after it was earned."""
    if days <= 0:
        return []
    rows = (
        LedgerEntry.select(LedgerEntry.kind, LedgerEntry.amount_points, LedgerEntry.created_at)
        .where((LedgerEntry.client == client.id) & (LedgerEntry.amount_points != 0))
        .tuples()
    )
    lots: list[tuple[datetime, int]] = []
    consumed = 0
    for kind, amount, at in rows:
        if amount > 0 and kind != "bonus_expiry":
            lots.append((at, amount))
        elif amount < 0:
            consumed -= amount
    due: dict[datetime, int] = {}
    for earned, amount in sorted(lots):
        used = min(amount, consumed)
        consumed -= used
        moment = earned + timedelta(days=days)
        if amount > used and moment > now:
            due[moment.replace(microsecond=0)] = due.get(moment, 0) + amount - used
    return sorted(due.items())


def washes(client: Client, limit: int = RECENT) -> list[Wash]:
    """The client's latest sessions, newest first, with the points each spent."""
    rows = list(
        Session.select(Session, Stand.name, Site.name)
        .join(Stand, on=Session.stand == Stand.id)
        .switch(Session)
        .join(Site, on=Session.site == Site.id)
        .where(Session.client == client.id)
        .order_by(Session.started_at.desc(), Session.id.desc())
        .limit(limit)
    )
    spent: dict[int, int] = {}
    if rows:
        entries = LedgerEntry.select(LedgerEntry.session, LedgerEntry.amount_points).where(
            (LedgerEntry.client == client.id)
            & (LedgerEntry.kind == "bonus_spend")
            & LedgerEntry.session.in_([row.id for row in rows])
        )
        for session_id, points in entries.tuples():
            spent[session_id] = spent.get(session_id, 0) - points
    return [
        Wash(
            id=row.id,
            post=row.stand.name,
            site=row.site.name,
            started_at=row.started_at,
            duration_s=row.duration_s,
            cost_kopecks=row.cost_kopecks,
            points_spent=spent.get(row.id, 0),
            open=row.ended_at is None,
        )
        for row in rows
    ]


def topups(client: Client, limit: int = RECENT) -> list[LedgerEntry]:
    return list(
        LedgerEntry.select()
        .where((LedgerEntry.client == client.id) & (LedgerEntry.kind == "topup"))
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
    )


def cards_and_plates(client: Client) -> tuple[list[Credential], list[Credential]]:
    linked = active_credentials(client)
    return [c for c in linked if c.kind == "card"], [c for c in linked if c.kind == "plate"]


def qr_of(client: Client, config: CloudConfig) -> tuple[str, str]:
    """The client's QR token text (the first one issued now if none) and its token id."""
    token = ensure_qr(None, client, config)
    return token, qrtoken.verify(public_key(config), token).token_id


def card_to_dict(card: Credential) -> dict[str, Any]:
    return {"id": card.id, "uid": card.value, "lost": card.lost}


def plate_to_dict(plate: Credential) -> dict[str, Any]:
    return {"id": plate.id, "plate": plate.value}
