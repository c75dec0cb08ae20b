"""``session.started``: a session opens centrally as the stand started it.

A ``session.started`` for a session uuid already known never reopens or changes it
(lbbrhzn/ocpp #2135): stored, flagged ``session_exists``. The client and the tariff version
must be known here, else the event is refused. A session of a deleted client is recorded as
the stand ran it (its end must find it) and flagged ``deleted_client``."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.models import Session
from cloud.standsync.ingest.context import Applier
from cloud.standsync.ingest.outcomes import Refused, flag_row
from cloud.standsync.ingest.plan import Plan, Row
from sync.payloads import SessionStarted


def plan(run: Plan, p: SessionStarted, row: Row) -> None:
    existing = run.session(p.session_uuid)
    if existing is not None:
        row["client"] = existing.client_id
        state = _("завершён") if existing.ended_at is not None else _("идёт")
        flag_row(row, "session_exists", _("Сеанс уже есть (%(state)s): не изменён", state=state))
        return
    client_id = run.client_id(p)
    version_id = p.tariff_version_id
    if version_id not in run.versions:
        raise Refused(_("Версия тарифа %(id)s неизвестна", id=version_id), "unknown_tariff_version")
    row["client"] = client_id
    run.deleted_client(client_id, row)
    run.new_sessions[p.session_uuid] = _session(
        uuid=p.session_uuid,
        client=client_id,
        stand=run.stand.id,
        site=run.stand.site_id,
        tariff_version=version_id,
        client_kind=p.client_kind,
        started_at=row["occurred_at"],
        ended_at=None,
        duration_s=None,
        cost_kopecks=None,
        start_method=p.method,
        end_method=None,
        started_by=run.staff_id(row["actor"]),
        ended_by=None,
        comment="",
        repriced_cost_kopecks=None,
        price_mismatch=False,
        credential_kind=p.credential_kind,
        credential_value=p.credential_value,
        over_daily_limit=False,
        force_closed=False,
    )


def _session(**values: object) -> Session:
    """A ``Session`` in memory with every field's value (by field name, foreign keys as ids):
    set at once, where peewee's constructor sets each through its descriptor, several times
    the cost for a batch's hundred starts."""
    session = Session(__no_default__=True)
    session.__data__ = values
    return session


APPLIER = Applier[SessionStarted](subject=lambda p: p.session_uuid, plan=plan)
