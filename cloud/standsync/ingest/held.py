"""Top-ups held for review: a stand's ``topup.recorded`` above a ceiling of the configuration
(``limits``) is stored, flagged ``topup_held`` and kept as a ``HeldTopup``, not credited. The
stand's event is acknowledged as any other: its queue never waits for a person.

A top-up for a deleted client is held too (flag ``deleted_client``), to be rejected: it is
never credited, and the page shows the money a stand took for someone no longer a client.

An administrator or the owner then releases it (credited once, as the top-up would have been
at the stand: its time, site, method, staff member and bonus points) or rejects it with the
reason (never credited). A decision is taken once: releasing or rejecting one already decided
is a 409 and changes nothing (the row is claimed by a conditional update, so two
administrators at once cannot both credit it; the ledger's unique (event, kind) backs it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee as pw
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.audit import service as audit
from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.ledger.service import Posting, post_entries
from cloud.loyalty import bonus
from cloud.loyalty.bonus import PointsRules
from cloud.models import Client, HeldTopup, LedgerEntry, Site, Stand, User

MAX_NOTE = 300


def hold(event_id: int, client_id: int, stand: Stand, posting: Posting, reason: str) -> HeldTopup:
    """Keep the top-up ``posting`` (not posted) of the stored event ``event_id`` for review."""
    return HeldTopup.create(**held_row(event_id, client_id, stand, posting, reason))


def held_row(
    event_id: int, client_id: int, stand: Stand, posting: Posting, reason: str
) -> dict[str, Any]:
    """The ``HeldTopup`` row ``hold`` makes (a batch's are inserted together: ingest.run)."""
    return {
        "event": event_id,
        "client": client_id,
        "stand": stand.id,
        "site": posting.site_id,
        "amount_kopecks": posting.amount_kopecks,
        "method": posting.method or "",
        "actor": posting.created_by_id,
        "occurred_at": posting.created_at,
        "reason": reason,
        "status": "held",
        "note": "",
    }


def held_topups(status: str = "held", limit: int = 200) -> list[Any]:
    """The held top-ups of ``status`` (newest first) with their client, stand, site and staff
    names read in the same query."""
    decider = User.alias("decider")
    query = (
        HeldTopup.select(HeldTopup, Client, Stand, Site, User, decider)
        .join(Client, on=(HeldTopup.client == Client.id))
        .switch(HeldTopup)
        .join(Stand, on=(HeldTopup.stand == Stand.id))
        .switch(HeldTopup)
        .join(Site, pw.JOIN.LEFT_OUTER, on=(HeldTopup.site == Site.id))
        .switch(HeldTopup)
        .join(User, pw.JOIN.LEFT_OUTER, on=(HeldTopup.actor == User.id))
        .switch(HeldTopup)
        .join(decider, pw.JOIN.LEFT_OUTER, on=(HeldTopup.decided_by == decider.id))
        .where(HeldTopup.status == status)
        .order_by(HeldTopup.id.desc())
        .limit(limit)
    )
    return list(query)


def held_count() -> int:
    return int(HeldTopup.select().where(HeldTopup.status == "held").count())


def _claim(held_id: int, status: str, actor: User, now: datetime, note: str = "") -> HeldTopup:
    """Mark the held top-up decided, if no one has: else 404 or 409, and nothing changes."""
    claimed = (
        HeldTopup.update(status=status, decided_by=actor.id, decided_at=now, note=note)
        .where((HeldTopup.id == held_id) & (HeldTopup.status == "held"))
        .execute()
    )
    held = HeldTopup.get_or_none(HeldTopup.id == held_id)
    if held is None:
        raise NotFound(_("Задержанное пополнение не найдено"))
    if claimed != 1:
        raise Conflict(
            _("Это пополнение уже рассмотрено: %(status)s", status=status_labels()[held.status]),
            "already_decided",
        )
    return held


def release(held_id: int, actor: User, now: datetime, rules: PointsRules = bonus.OFF) -> HeldTopup:
    """Credit the held top-up, exactly once, as the stand's top-up would have been."""
    with db_proxy.atomic():
        held = HeldTopup.get_or_none(HeldTopup.id == held_id)
        if held is not None and held.status == "held":
            client = Client.get_by_id(held.client_id)
            if client.deleted_at is not None:
                raise Conflict(
                    _("Клиент удалён: пополнение можно только отклонить"), "client_deleted"
                )
        held = _claim(held_id, "released", actor, now)
        post_entries(
            [
                Posting(
                    client_id=held.client_id,
                    kind="topup",
                    amount_kopecks=held.amount_kopecks,
                    method=held.method,
                    site_id=held.site_id,
                    created_by_id=held.actor_id,
                    event_id=held.event_id,
                    created_at=held.occurred_at,
                )
            ]
        )
        if rules.accrual_on == "topup":
            bonus.accrue(
                held.client_id,
                rules,
                held.amount_kopecks,
                at=held.occurred_at,
                event_id=held.event_id,
            )
        entry = LedgerEntry.get(
            (LedgerEntry.event == held.event_id) & (LedgerEntry.kind == "topup")
        )
        HeldTopup.update(entry=entry.id).where(HeldTopup.id == held.id).execute()
        held.entry = entry
        _audit("held_topup.released", held, actor, now, {"entry_id": entry.id})
    return held


def _audit(action: str, held: HeldTopup, actor: User, now: datetime, after: dict[str, Any]) -> None:
    """The audit log's row of a decision on a held top-up (the client's balance after it)."""
    client = Client.get_by_id(held.client_id)
    what = {"held_id": held.id, "amount_kopecks": held.amount_kopecks, "method": held.method}
    audit.record(
        action,
        audit.client_target(client),
        {**what, "status": "held"},
        {**what, "status": held.status, "balance_kopecks": client.balance_kopecks, **after},
        comment=held.note,
        actor=actor,
        now=now,
    )


def reject(held_id: int, actor: User, now: datetime, note: str) -> HeldTopup:
    """Refuse the held top-up for good, with the reason; nothing is credited."""
    note = " ".join((note or "").split())
    if not note:
        raise ValidationFailed(_("Укажите, почему пополнение отклонено"), "reason_required")
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            _("Причина — не длиннее %(n)s символов", n=MAX_NOTE), "reason_too_long"
        )
    with db_proxy.atomic():
        held = _claim(held_id, "rejected", actor, now, note)
        _audit("held_topup.rejected", held, actor, now, {})
        return held


def status_labels() -> dict[str, str]:
    return {"held": _("ждёт решения"), "released": _("зачислено"), "rejected": _("отклонено")}


_REASON_LABELS = {
    "topup": _l("больше предела одного пополнения"),
    "stand_day": _l("больше дневного предела поста"),
    "deleted_client": _l("клиент удалён: только отклонить"),
}


def reason_labels() -> dict[str, str]:
    return {reason: str(label) for reason, label in _REASON_LABELS.items()}


def reason_label(reason: str) -> str:
    """One of ``reason_labels``, translated alone (ingest notes a held top-up with it)."""
    return str(_REASON_LABELS[reason])
