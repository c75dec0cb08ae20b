"""``topup.recorded``: money an attendant took at the stand is credited to the client.

A top-up whose uuid was already applied (resent under a new id) has no second effect (flag
``duplicate_topup``). Points accrue on it when the rules accrue on top-ups."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.ledger.service import Posting
from cloud.standsync.ingest.context import Applier
from cloud.standsync.ingest.outcomes import Refused, flag_row
from cloud.standsync.ingest.plan import Plan, Row
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
    run.posting(None, posting)
    if run.rules.accrual_on == "topup":
        run.accrue(client_id, p.amount_kopecks, row["occurred_at"])


APPLIER = Applier[TopupRecorded](subject=lambda p: p.topup_uuid, check=check, plan=plan)
