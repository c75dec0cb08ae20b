"""Account pages of a client (meant for corporate ones): drivers, cards with their daily limits
and today's spend, sessions grouped per card and plate, and the monthly statement as a page
and as CSV. The rules live in ``cloud.clients.corporate`` and ``cloud.clients.statements``."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from cloud.clients import corporate
from cloud.clients import scope as client_scope
from cloud.clients.statements import Statement, monthly_statement, parse_month
from cloud.clock import app_now
from cloud.csvexport import CSV_BOM, CSV_SEPARATOR, hours_minutes, roubles_plain, safe_cell
from cloud.errors import DomainError, ValidationFailed
from cloud.labels import credential_labels, entry_labels, method_labels
from cloud.models import Client
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.money import parse_roubles

bp = Blueprint("accounts", __name__, url_prefix="/clients")


def _client(client_id: int) -> Client:
    return client_scope.get_client(acting_user(), client_id)


def _status(error: Exception) -> int:
    return error.status if isinstance(error, DomainError) else 400


def _page(client: Client, error: str = "", status: int = 200) -> Any:
    timezone = current_app.config["AQ"].timezone
    return (
        render_template(
            "clients/account.html",
            client=client,
            drivers=corporate.drivers_of(client),
            cards=corporate.card_rows(client, app_now(), timezone),
            groups=corporate.session_groups(acting_user(), client),
            credential_labels=credential_labels(),
            error=error,
        ),
        status,
    )


def _done(client: Client, message: str) -> Any:
    flash(message, "success")
    return redirect(url_for("accounts.account", client_id=client.id))


@bp.get("/<int:client_id>/account")
@requires(Capability.VIEW_CLIENTS)
def account(client_id: int) -> Any:
    return _page(_client(client_id))


def _card_id(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationFailed(_("Карта не найдена"), "card_not_found")
    return int(text)


@bp.post("/<int:client_id>/drivers")
@requires(Capability.EDIT_CLIENTS)
def add_driver(client_id: int) -> Any:
    client = _client(client_id)
    try:
        card_id = _card_id(request.form.get("card_id"))
        corporate.add_driver(acting_user(), client, request.form.get("name", ""), card_id)
    except (DomainError, RuleError) as error:
        return _page(client, error.message, _status(error))
    return _done(client, _("Водитель добавлен"))


@bp.post("/<int:client_id>/drivers/<int:driver_id>/remove")
@requires(Capability.EDIT_CLIENTS)
def remove_driver(client_id: int, driver_id: int) -> Any:
    client = _client(client_id)
    try:
        corporate.remove_driver(acting_user(), client, driver_id)
    except DomainError as error:
        return _page(client, error.message, _status(error))
    return _done(client, _("Водитель удалён"))


@bp.post("/<int:client_id>/cards/<int:credential_id>/limit")
@requires(Capability.EDIT_CLIENTS)
def card_limit(client_id: int, credential_id: int) -> Any:
    """Set a card's daily limit in roubles; an empty field removes it."""
    client = _client(client_id)
    text = request.form.get("limit", "").strip()
    try:
        limit = parse_roubles(text) if text else None
        corporate.set_card_limit(acting_user(), client, credential_id, limit)
    except (DomainError, RuleError) as error:
        return _page(client, error.message, _status(error))
    return _done(client, _("Дневной лимит карты сохранён") if text else _("Лимит карты снят"))


# --- the monthly statement --------------------------------------------------------------------


def _statement(client: Client) -> Statement:
    timezone = current_app.config["AQ"].timezone
    month = parse_month(request.args.get("month"), app_now(), timezone)
    return monthly_statement(client, month, timezone)


def line_label(kind: str | None, value: str | None) -> str:
    """How a card's, plate's or QR code's sessions are named in the statement."""
    if kind is None:
        return _("Без карты и номера (с экрана)")
    if kind == "other":
        return _("Прочие списания за сессии")
    return f"{credential_labels().get(kind, kind)} {value or ''}".strip()


@bp.get("/<int:client_id>/statement")
@requires(Capability.REPORTS)
def statement(client_id: int) -> Any:
    client = _client(client_id)
    try:
        figures = _statement(client)
    except ValidationFailed as error:
        page = render_template(
            "clients/statement.html", client=client, statement=None, error=error.message
        )
        return page, 400
    return render_template(
        "clients/statement.html",
        client=client,
        statement=figures,
        error="",
        line_label=line_label,
        hours_minutes=hours_minutes,
        method_labels=method_labels(),
        entry_labels=entry_labels(),
    )


def statement_csv(figures: Statement) -> str:
    """The statement as CSV text for a spreadsheet (without the byte order mark)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR)
    writer.writerow([_("Статья"), _("Сессий"), _("Время, ч:мм"), _("Сумма, ₽"), _("Сумма, коп.")])

    def money_row(label: str, kopecks: int, sessions: Any = "", duration: Any = "") -> None:
        writer.writerow([safe_cell(label), sessions, duration, roubles_plain(kopecks), kopecks])

    money_row(_("Баланс на начало месяца"), figures.opening_kopecks)
    money_row(_("Пополнения"), figures.topups_kopecks)
    for line in figures.lines:
        money_row(
            line_label(line.kind, line.value),
            -line.charged_kopecks,
            line.sessions,
            hours_minutes(line.duration_s),
        )
    money_row(_("Прочие операции"), figures.others_kopecks)
    money_row(_("Баланс на конец месяца"), figures.closing_kopecks)
    return out.getvalue()


@bp.get("/<int:client_id>/statement.csv")
@requires(Capability.REPORTS)
def statement_download(client_id: int) -> Any:
    client = _client(client_id)
    figures = _statement(client)
    name = f"statement_{client.id}_{figures.month.label}.csv"
    return Response(
        (CSV_BOM + statement_csv(figures)).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
