"""``topup.recorded``: money an attendant took at the stand is credited to the client.

A top-up whose uuid was already applied (resent under a new id) has no second effect (flag
``duplicate_topup``). One above a ceiling of the configuration (per top-up, per stand per
day: ``limits``) is stored and held for review, not credited (flag ``topup_held``,
``held``); so is one for a deleted client (flag ``deleted_client``), which can only be
rejected. Points accrue on a credited one when the rules accrue on top-ups."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.ledger.service import Posting
from cloud.standsync.ingest import held
from cloud.standsync.ingest.context import Applier
from cloud.standsync.ingest.outcomes import Refused, flag_row
from cloud.standsync.ingest.plan import Plan, Row
from sync.money import format_kopecks
from sync.payloads import TopupRecorded


def check(p: TopupRecorded) -> None:
    """An amount the schema allows but the ledger does not."""
    if p.amount_kopecks > MAX_AMOUNT_KOPECKS:
        raise Refused(
            _("Событие: слишком большая сумма (%(key)s)", key="amount_kopecks"), "bad_event"
        )


def plan(run: Plan, p: TopupRecorded, row: Row) -> None:
    client_id = run.client_id(p)
    row["client"] = client_id
    if p.topup_uuid in run.applied_topups:
        flag_row(row, "duplicate_topup", _("Это пополнение уже учтено: повторно не зачислено"))
        return
    run.applied_topups.add(p.topup_uuid)
    posting = Posting(
        client_id=client_id,
        kind="topup",
        amount_kopecks=p.amount_kopecks,
        method=p.method,
        site_id=run.stand.site_id,
        created_by_id=run.staff_id(row["actor"]),
        created_at=row["occurred_at"],
    )
    if run.deleted_client(client_id, row):
        reason: str | None = "deleted_client"
    else:
        reason = run.over_ceiling(p.amount_kopecks, row["occurred_at"])
    if reason is not None:
        _hold(run, client_id, posting, reason, row)
        return
    run.posting(None, posting)
    if run.rules.accrual_on == "topup":
        run.accrue(client_id, p.amount_kopecks, row["occurred_at"])


def _hold(run: Plan, client_id: int, posting: Posting, reason: str, row: Row) -> None:
    note = _(
        "Пополнение на %(sum)s задержано для проверки (%(why)s): не зачислено",
        sum=format_kopecks(posting.amount_kopecks),
        why=held.reason_label(reason),
    )
    flag_row(row, "topup_held", note)
    run.hold(client_id, posting, reason)


APPLIER = Applier[TopupRecorded](subject=lambda p: p.topup_uuid, check=check, plan=plan)
