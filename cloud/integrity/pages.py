"""The diagnostics page: every integrity check (cloud/integrity/checks.py) with OK or its violations,
each naming the clients, sessions, stands and tariffs concerned with links to their pages.

Capability REPORTS (operators, administrators, owners): the checks read the whole chain, not
one site, so attendants are out, as for reports; operators are in because most findings are
theirs to act on (end one of two open sessions, unlink a card held twice) and the page only
reads."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cloud.clock import app_now
from cloud.fiscal.receipts import status_counts, status_labels
from cloud.integrity.checks import run_checks
from cloud.models import Stand
from cloud.permissions import Capability, requires, role_can

bp = Blueprint("diagnostics", __name__, url_prefix="/diagnostics")


def _stand_sites(results: list[Any]) -> dict[int, int]:
    """The site of each stand named in a violation: a stand is shown on its site's page."""
    ids = {i for r in results for v in r.violations for i in v.objects.get("stand", [])}
    if not ids:
        return {}
    query = Stand.select(Stand.id, Stand.site).where(Stand.id.in_(sorted(ids))).tuples()
    return dict(query)


def object_links(
    objects: dict[str, list[int]], stand_sites: dict[int, int]
) -> list[dict[str, str]]:
    """Links to the pages of a violation's objects: text and address."""
    links = []
    for client_id in objects.get("client", []):
        url = url_for("clients.view", client_id=client_id)
        links.append({"text": _("клиент №%(id)s", id=client_id), "url": url})
    for session_id in objects.get("session", []):
        url = url_for("sessions.view", session_id=session_id)
        links.append({"text": _("сессия №%(id)s", id=session_id), "url": url})
    for stand_id in objects.get("stand", []):
        site_id = stand_sites.get(stand_id)
        url = url_for("catalog.site", site_id=site_id) if site_id else url_for("catalog.stands")
        links.append({"text": _("пост №%(id)s", id=stand_id), "url": url})
    for tariff_id in objects.get("tariff", []):
        url = url_for("catalog.tariff", tariff_id=tariff_id)
        links.append({"text": _("тариф №%(id)s", id=tariff_id), "url": url})
    if role_can(current_user.role, Capability.REVIEW_TOPUPS):
        for held_id in objects.get("held_topup", []):
            url = url_for("ledger.index", _anchor=f"held-{held_id}")
            links.append({"text": _("задержанные пополнения"), "url": url})
    return links


@bp.get("")
@requires(Capability.REPORTS)
def index() -> Any:
    now = app_now()
    results = run_checks(now)
    stand_sites = _stand_sites(results)
    return render_template(
        "diagnostics/index.html",
        results=results,
        receipts=status_counts(now),
        receipt_labels=status_labels(),
        links=lambda violation: object_links(violation.objects, stand_sites),
    )
