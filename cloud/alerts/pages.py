"""The Alerts page: incidents open now and those closed in the last week, with the state of
their mails; and who gets which kinds of alert (a staff member's address and kinds).

Capability ALERTS (administrators and the owner): they choose who is told when stands, money
or data go wrong."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.alerts import incidents, recipients
from cloud.alerts.messages import KIND_TITLES
from cloud.clock import app_now
from cloud.errors import DomainError
from cloud.models import ALERT_KINDS
from cloud.permissions import Capability, requires
from cloud.web import acting_user

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


def mail_labels() -> dict[str, str]:
    return {
        "pending": _("ждёт отправки"),
        "sending": _("отправляется"),
        "sent": _("отправлено"),
        "none": _("некому отправлять"),
        "interrupted": _("отправка прервана"),
    }


def _page(error: str = "", code: int = 200) -> Any:
    page = render_template(
        "alerts/index.html",
        open_rows=incidents.open_incidents(),
        recent_rows=incidents.recent_incidents(app_now()),
        staff=recipients.staff_choices(),
        kinds=ALERT_KINDS,
        titles={kind: str(title) for kind, title in KIND_TITLES.items()},
        mails=mail_labels(),
        error=error,
    )
    return page, code


@bp.get("")
@requires(Capability.ALERTS)
def index() -> Any:
    return _page()


@bp.post("/recipients/<int:user_id>")
@requires(Capability.ALERTS)
def set_recipient(user_id: int) -> Any:
    try:
        user = recipients.set_choice(
            acting_user(), user_id, request.form.get("email", ""), request.form.getlist("kind")
        )
    except DomainError as error:
        return _page(error.message, error.status)
    flash(_("Оповещения для «%(name)s» сохранены", name=user.full_name), "success")
    return redirect(url_for("alerts.index"))
