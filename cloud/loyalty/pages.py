"""Bonus points and personal discounts in the central app: a client's terms (points spending
order, discount), manual accrual and deduction of points, and the bonus history of one client
or of every client, as a page and as CSV. The rules live in ``cloud.loyalty.bonus``."""

from __future__ import annotations

from dataclasses import asdict
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

from cloud.clients import scope as client_scope
from cloud.clients.pages import _back, _failed
from cloud.clock import app_now
from cloud.csvexport import CSV_BOM
from cloud.errors import DomainError, ValidationFailed
from cloud.loyalty import bonus
from cloud.loyalty import history as bonushistory
from cloud.loyalty import settings as loyalty_settings
from cloud.loyalty.bonus import PointsRules
from cloud.loyalty.history import HistoryFilter
from cloud.loyalty.settings import effective_rules
from cloud.models import Client, User
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.money import parse_roubles

bp = Blueprint("loyalty", __name__)

HISTORY_PAGE = 100
CSV_ROWS = 100_000


def spending_labels() -> dict[str, str]:
    return {
        "points_first": _("Сначала баллы, потом деньги"),
        "money_first": _("Сначала деньги, потом баллы"),
        "off": _("Не списывать баллы"),
    }


def client_summary(client: Client) -> dict[str, Any]:
    """What the client page shows of the client's points and discount."""
    recent = bonushistory.history(acting_user(), HistoryFilter(client_id=client.id), limit=10)
    return {
        "history": recent,
        "kind_labels": bonushistory.kind_labels(),
        "spending_labels": spending_labels(),
        "method_text": bonushistory.method_text,
    }


def _whole_number(text: str | None, message: str, code: str) -> int:
    text = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isdigit() or len(digits) > 9:
        raise ValidationFailed(message, code)
    return sign * int(digits)


def _discount_fields(form: Any) -> dict[str, int]:
    """The discount typed on the form: none, a percentage or an amount in roubles."""
    kind = form.get("discount_kind", "none")
    if kind == "percent":
        percent = _whole_number(
            form.get("discount_value"), _("Скидка: процент — от 0 до 100"), "bad_discount"
        )
        return {"discount_percent": percent, "discount_kopecks": 0}
    if kind == "fixed":
        return {
            "discount_percent": 0,
            "discount_kopecks": parse_roubles(form.get("discount_value", "")),
        }
    if kind == "none":
        return {"discount_percent": 0, "discount_kopecks": 0}
    raise ValidationFailed(_("Выберите вид скидки"), "bad_discount")


@bp.post("/clients/<int:client_id>/terms")
@requires(Capability.EDIT_CLIENTS)
def terms(client_id: int) -> Any:
    client = client_scope.get_client(acting_user(), client_id)
    try:
        fields = _discount_fields(request.form)
        spending = request.form.get("points_spending", client.points_spending)
        bonus.update_terms(client, points_spending=spending, **fields)
    except (DomainError, RuleError) as error:
        return _failed(client_scope.get_client(acting_user(), client_id), "terms", error)
    return _back(client, _("Скидка и списание баллов сохранены"))


@bp.post("/clients/<int:client_id>/points")
@requires(Capability.ADJUST_POINTS)
def adjust(client_id: int) -> Any:
    client = client_scope.get_client(acting_user(), client_id)
    try:
        points = _whole_number(
            request.form.get("points"), _("Укажите целое число баллов, не ноль"), "bad_points"
        )
        bonus.adjust_points(
            acting_user(),
            client,
            points,
            request.form.get("reason", ""),
            effective_rules(current_app.config["AQ"]),
            app_now(),
        )
    except (DomainError, RuleError) as error:
        return _failed(client, "points", error)
    return _back(client, _("Баллы начислены") if points > 0 else _("Баллы списаны"))


def _filter(client_id: int | None) -> HistoryFilter:
    return bonushistory.parse_filter(
        request.args, current_app.config["AQ"].timezone, app_now(), client_id
    )


def _page_number() -> int:
    text = request.args.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 100_000 else 1


def _history_page(client: Client | None) -> Any:
    context: dict[str, Any] = {
        "client": client,
        "args": request.args,
        "operations": bonushistory.operation_labels(),
        "kind_labels": bonushistory.kind_labels(),
        "method_text": bonushistory.method_text,
        "staff": list(User.select().where(User.deleted_at.is_null()).order_by(User.full_name)),
        "page": _page_number(),
        "page_size": HISTORY_PAGE,
    }
    try:
        wanted = _filter(client.id if client else None)
    except ValidationFailed as error:
        return render_template(
            "bonuses/history.html", history=None, error=error.message, **context
        ), 400
    offset = (context["page"] - 1) * HISTORY_PAGE
    found = bonushistory.history(acting_user(), wanted, limit=HISTORY_PAGE, offset=offset)
    return render_template("bonuses/history.html", history=found, error=None, **context)


def _csv(client: Client | None, name: str) -> Any:
    wanted = _filter(client.id if client else None)
    found = bonushistory.history(acting_user(), wanted, limit=CSV_ROWS)
    return Response(
        (CSV_BOM + bonushistory.history_csv(found.entries)).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/bonuses")
@requires(Capability.REPORTS)
def history() -> Any:
    """The bonus history across clients."""
    return _history_page(None)


@bp.get("/bonuses.csv")
@requires(Capability.REPORTS)
def history_csv() -> Any:
    return _csv(None, "bonuses.csv")


@bp.get("/clients/<int:client_id>/bonuses")
@requires(Capability.VIEW_CLIENTS)
def client_history(client_id: int) -> Any:
    return _history_page(client_scope.get_client(acting_user(), client_id))


@bp.get("/clients/<int:client_id>/bonuses.csv")
@requires(Capability.VIEW_CLIENTS)
def client_history_csv(client_id: int) -> Any:
    client = client_scope.get_client(acting_user(), client_id)
    return _csv(client, f"bonuses_client_{client.id}.csv")


# --- the bonus programme's settings (the owner's) ----------------------------------------------


def _settings_form(rules: PointsRules) -> dict[str, str]:
    return {field: str(value) for field, value in asdict(rules).items()}


@bp.route("/loyalty/settings", methods=["GET", "POST"])
@requires(Capability.LOYALTY_SETTINGS)
def settings_page() -> Any:
    """Welcome bonus, accrual, points' lifetime and a point's value: the owner's values over
    the configuration file's (``cloud.loyalty.settings``)."""
    config = current_app.config["AQ"]
    current = loyalty_settings.effective_rules(config)
    form: Any = _settings_form(current)
    error, status = "", 200
    if request.method == "POST":
        form = request.form
        try:
            if request.form.get("reset") == "yes":
                loyalty_settings.reset(acting_user(), config)
            else:
                loyalty_settings.save(acting_user(), config, loyalty_settings.parse(request.form))
        except DomainError as failure:
            error, status = failure.message, failure.status
        else:
            flash(_("Настройки бонусной программы сохранены"), "success")
            return redirect(url_for("loyalty.settings_page"))
    page = render_template(
        "bonuses/settings.html",
        form=form,
        error=error,
        defaults=_settings_form(PointsRules.from_config(config)),
        saved=loyalty_settings.saved_keys(),
        keys=loyalty_settings.KEYS,
    )
    return page, status


@bp.app_context_processor
def _summary_for_templates() -> dict[str, Any]:
    """``loyalty_summary(client)`` for the client page's points section."""
    return {"loyalty_summary": client_summary}
