"""Pages of the catalog: tariffs with their versions, sites and their stands.

Everyone who serves clients may read it (attendants: their own sites); administrators and the
owner change it. Rates are typed in roubles per minute, steps and grace in seconds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import cloud.catalog.pricing as pricing
import cloud.catalog.sites as site_service
import cloud.catalog.tariffs as tariff_service
import cloud.standsync.heartbeat as heartbeat
import cloud.standsync.standauth as standauth
from cloud.clock import app_now
from cloud.errors import DomainError, ValidationFailed
from cloud.models import Site, Tariff, TariffVersion
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.money import parse_roubles
from sync.pricing import Rates
from sync.schedule import DAY_NAMES, MAX_WINDOWS, Window, clock_text

bp = Blueprint("catalog", __name__)

_DOTTED_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SECONDS_MAX_DIGITS = 6


def _failure(error: DomainError | RuleError) -> tuple[str, int]:
    """The message and status of a refused change, for re-rendering the form."""
    return error.message, getattr(error, "status", 400)


def _roubles_text(kopecks: int | None) -> str:
    """Kopecks as a form field shows them: "12,50" (no grouping, no currency sign)."""
    if kopecks is None:
        return ""
    return f"{kopecks // 100},{kopecks % 100:02d}"


def _roubles_field(form: Mapping[str, str], key: str, label: str) -> int:
    try:
        return parse_roubles(form.get(key, ""))
    except RuleError as error:
        message = error.message[:1].lower() + error.message[1:]
        raise ValidationFailed(f"{label}: {message}", error.code) from None


def _seconds_field(form: Mapping[str, str], key: str, label: str) -> int:
    text = form.get(key, "").strip()
    if not text.isdigit() or len(text) > _SECONDS_MAX_DIGITS:
        raise ValidationFailed(
            _("%(label)s: введите целое число секунд", label=label), "bad_seconds"
        )
    return int(text)


def rates_from_form(form: Mapping[str, Any]) -> Rates:
    """Rates typed by a person: roubles per minute and roubles, seconds; an empty cap is none;
    the schedule's windows from their rows (``schedule_from_form``)."""
    cap_text = form.get("cap", "").strip()
    rates = Rates(
        member_per_minute=_roubles_field(
            form, "member_per_minute", _("Цена минуты для участника клуба")
        ),
        guest_per_minute=_roubles_field(form, "guest_per_minute", _("Цена минуты для гостя")),
        step_s=_seconds_field(form, "step_s", _("Шаг тарификации")),
        min_charge=_roubles_field(form, "min_charge", _("Минимальная сумма")),
        cap=_roubles_field(form, "cap", _("Предельная сумма")) if cap_text else None,
        grace_s=_seconds_field(form, "grace_s", _("Бесплатное время")),
        schedule=schedule_from_form(form),
    )
    tariff_service.validate_rates(rates)
    pricing.check_confirmed(rates, form.get("confirm_rates") == "yes")
    return rates


def _days(form: Mapping[str, Any], key: str) -> list[str]:
    getlist = getattr(form, "getlist", None)
    values = getlist(key) if getlist is not None else form.get(key, [])
    return [str(value) for value in values]


def schedule_from_form(form: Mapping[str, Any]) -> tuple[Window, ...]:
    """The windows typed in the schedule's rows (``w0_start`` ... ``w19_guest``, days as
    ``w0_days`` checkboxes 0..6); a row left blank is no window."""
    windows = []
    for row in range(MAX_WINDOWS):
        keys = [f"w{row}_{name}" for name in ("start", "end", "member", "guest")]
        texts = [str(form.get(key, "")).strip() for key in keys]
        days = _days(form, f"w{row}_days")
        if not any(texts) and not days:
            continue
        label = _("Расписание, строка %(n)d", n=row + 1)
        if not days or not all(day in "0123456" and len(day) == 1 for day in days):
            raise ValidationFailed(_("%(label)s: отметьте дни недели", label=label), "bad_schedule")
        windows.append(
            pricing.make_window(
                [int(day) for day in days],
                texts[0],
                texts[1],
                _roubles_field(form, keys[2], f"{label}: " + _("участник клуба")),
                _roubles_field(form, keys[3], f"{label}: " + _("гость")),
            )
        )
    return tuple(windows)


def rates_form_values(version: TariffVersion | None) -> dict[str, Any]:
    """A rates form prefilled from ``version`` (or the usual defaults for a new tariff)."""
    if version is None:
        return {"step_s": "60", "grace_s": "0", "min_charge": "0,00"}
    values: dict[str, Any] = {
        "member_per_minute": _roubles_text(version.member_per_minute),
        "guest_per_minute": _roubles_text(version.guest_per_minute),
        "step_s": str(version.step_s),
        "min_charge": _roubles_text(version.min_charge),
        "cap": _roubles_text(version.cap),
        "grace_s": str(version.grace_s),
    }
    for row, window in enumerate(version.rates().schedule):
        values[f"w{row}_days"] = [str(day) for day in window.days]
        values[f"w{row}_start"] = clock_text(window.start_min)
        values[f"w{row}_end"] = clock_text(window.end_min)
        values[f"w{row}_member"] = _roubles_text(window.member_per_minute)
        values[f"w{row}_guest"] = _roubles_text(window.guest_per_minute)
    return values


def form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """A submitted form as the templates read it back: the days' checkboxes as lists."""
    values: dict[str, Any] = dict(form.items())
    for row in range(MAX_WINDOWS):
        values[f"w{row}_days"] = _days(form, f"w{row}_days")
    return values


def schedule_rows(form: Mapping[str, Any]) -> int:
    """How many window rows the editor shows: the filled ones and two blank, at most 20."""
    filled = [
        row for row in range(MAX_WINDOWS) if form.get(f"w{row}_start") or form.get(f"w{row}_days")
    ]
    return min(MAX_WINDOWS, (max(filled) + 1 if filled else 0) + 2)


def parse_day(text: str) -> date:
    """A date from a date input ("2030-01-31") or typed the Russian way ("31.01.2030")."""
    text = text.strip()
    if not text:
        raise ValidationFailed(_("Укажите дату начала действия"), "day_required")
    dotted = _DOTTED_DAY.fullmatch(text)
    try:
        if dotted:
            return date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            _("Некорректная дата: «%(text)s»", text=text[:20]), "bad_day"
        ) from None


def _timezone() -> str:
    return str(current_app.config["AQ"].timezone)


def _tomorrow() -> str:
    today = app_now().astimezone(ZoneInfo(_timezone())).date()
    return (today + timedelta(days=1)).isoformat()


# Tariffs


@bp.route("/tariffs")
@requires(Capability.VIEW_CATALOG)
def tariffs() -> Any:
    now = app_now()
    return render_template("catalog/tariffs.html", states=tariff_service.overview(now), now=now)


@bp.route("/tariffs/new", methods=["GET", "POST"])
@requires(Capability.MANAGE_CATALOG)
def new_tariff() -> Any:
    if request.method == "GET":
        form = rates_form_values(None)
        return render_template("catalog/tariff_new.html", form=form, days=DAY_NAMES, rows=2)
    try:
        tariff = tariff_service.create_tariff(
            acting_user(),
            name=request.form.get("name", ""),
            rates=rates_from_form(request.form),
            now=app_now(),
        )
    except (DomainError, RuleError) as error:
        message, status = _failure(error)
        form = form_values(request.form)
        page = render_template(
            "catalog/tariff_new.html",
            form=form,
            error=message,
            days=DAY_NAMES,
            rows=schedule_rows(form),
        )
        return page, status
    flash(_("Тариф «%(name)s» создан", name=tariff.name), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff.id))


def _tariff_page(
    tariff: Tariff,
    *,
    error: str = "",
    status: int = 200,
    version_form: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Any:
    now = app_now()
    version_form = dict(version_form) if version_form is not None else None
    state = tariff_service.state_of(tariff, now)
    if version_form is None:
        base = state.current or (state.versions[-1] if state.versions else None)
        version_form = {**rates_form_values(base), "effective_day": _tomorrow()}
    page = render_template(
        "catalog/tariff.html",
        state=state,
        tariff=tariff,
        now=now,
        history=list(reversed(state.versions)),
        form=version_form,
        name=tariff.name if name is None else name,
        error=error,
        days=DAY_NAMES,
        rows=schedule_rows(version_form),
    )
    return page, status


@bp.route("/tariffs/<int:tariff_id>")
@requires(Capability.VIEW_CATALOG)
def tariff(tariff_id: int) -> Any:
    return _tariff_page(tariff_service.get_tariff(tariff_id))


@bp.route("/tariffs/<int:tariff_id>/versions", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def add_tariff_version(tariff_id: int) -> Any:
    tariff = tariff_service.get_tariff(tariff_id)
    now = app_now()
    try:
        rates = rates_from_form(request.form)
        day = parse_day(request.form.get("effective_day", ""))
        when = tariff_service.effective_from_for_day(day, _timezone(), now)
        version = tariff_service.add_version(acting_user(), tariff, rates, when, now)
    except (DomainError, RuleError) as error:
        message, status = _failure(error)
        form = form_values(request.form)
        return _tariff_page(tariff, error=message, status=status, version_form=form)
    if version.effective_from <= now:
        flash(_("Новые цены действуют с этого момента"), "success")
    else:
        flash(_("Новые цены запланированы"), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff.id))


@bp.route("/tariffs/<int:tariff_id>/rename", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def rename_tariff(tariff_id: int) -> Any:
    tariff = tariff_service.get_tariff(tariff_id)
    typed = request.form.get("name", "")
    try:
        tariff_service.rename_tariff(tariff, typed)
    except DomainError as error:
        message, status = _failure(error)
        return _tariff_page(tariff, error=message, status=status, name=typed)
    flash(_("Тариф переименован"), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff.id))


@bp.route("/tariffs/<int:tariff_id>/active", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def set_tariff_active(tariff_id: int) -> Any:
    tariff = tariff_service.get_tariff(tariff_id)
    choice = request.form.get("active", "")
    if choice not in ("0", "1"):
        return _tariff_page(tariff, error=_("Некорректный запрос"), status=400)
    tariff_service.set_active(tariff, choice == "1")
    flash(_("Тариф включён") if tariff.active else _("Тариф отключён"), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff.id))


# Sites and stands


@bp.route("/sites")
@requires(Capability.VIEW_CATALOG)
def sites() -> Any:
    return render_template("catalog/sites.html", summaries=site_service.summaries(acting_user()))


@bp.route("/sites/new", methods=["GET", "POST"])
@requires(Capability.MANAGE_CATALOG)
def new_site() -> Any:
    if request.method == "GET":
        return render_template("catalog/site_new.html", name="")
    typed = request.form.get("name", "")
    try:
        site = site_service.create_site(typed)
    except DomainError as error:
        message, status = _failure(error)
        return render_template("catalog/site_new.html", name=typed, error=message), status
    flash(_("Площадка «%(name)s» создана", name=site.name), "success")
    return redirect(url_for("catalog.site", site_id=site.id))


def _site_page(
    site: Site,
    *,
    error: str = "",
    status: int = 200,
    typed: Mapping[str, str] | None = None,
    enrolment: standauth.Provisioned | None = None,
) -> Any:
    """The site page; ``typed`` keeps what was typed into the form that was refused,
    ``enrolment`` is a stand's new enrolment code, shown this once."""
    summary = site_service.summaries(acting_user(), [site])[0]
    now = app_now()
    page = render_template(
        "catalog/site.html",
        summary=summary,
        site=site,
        tariffs=pricing.tariff_choices(),
        error=error,
        typed=typed or {},
        enrolment=enrolment,
        stand_states={stand.id: standauth.state_of(stand, now) for stand in summary.stands},
    )
    return page, status


@bp.route("/sites/<int:site_id>")
@requires(Capability.VIEW_CATALOG)
def site(site_id: int) -> Any:
    return _site_page(site_service.get_site(acting_user(), site_id))


@bp.route("/sites/<int:site_id>/rename", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def rename_site(site_id: int) -> Any:
    site = site_service.get_site(acting_user(), site_id)
    typed = request.form.get("name", "")
    try:
        site_service.rename_site(site, typed)
    except DomainError as error:
        message, status = _failure(error)
        return _site_page(site, error=message, status=status, typed={"site_name": typed})
    flash(_("Площадка переименована"), "success")
    return redirect(url_for("catalog.site", site_id=site.id))


@bp.route("/sites/<int:site_id>/stands", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def add_stand(site_id: int) -> Any:
    site = site_service.get_site(acting_user(), site_id)
    typed = request.form.get("name", "")
    try:
        stand = site_service.create_stand(site, typed)
    except DomainError as error:
        message, status = _failure(error)
        return _site_page(site, error=message, status=status, typed={"new_stand": typed})
    flash(_("Пост «%(name)s» добавлен", name=stand.name), "success")
    return redirect(url_for("catalog.site", site_id=site.id))


@bp.route("/stands/<int:stand_id>/rename", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def rename_stand(stand_id: int) -> Any:
    stand = site_service.get_stand(acting_user(), stand_id)
    typed = request.form.get("name", "")
    try:
        site_service.rename_stand(stand, typed)
    except DomainError as error:
        message, status = _failure(error)
        typed_names = {f"stand_{stand_id}": typed}
        return _site_page(stand.site, error=message, status=status, typed=typed_names)
    flash(_("Пост переименован"), "success")
    return redirect(url_for("catalog.site", site_id=stand.site_id))


@bp.route("/stands/<int:stand_id>/provision", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def provision_stand(stand_id: int) -> Any:
    """A new one-time enrolment code, shown on the page this once (not redirected: the code
    must not travel in a flash message in the session cookie)."""
    stand = site_service.get_stand(acting_user(), stand_id)
    return _site_page(stand.site, enrolment=standauth.issue_code(stand, app_now()))


@bp.route("/stands/<int:stand_id>/revoke", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def revoke_stand(stand_id: int) -> Any:
    stand = site_service.get_stand(acting_user(), stand_id)
    standauth.revoke(stand, app_now())
    flash(
        _("Пост «%(name)s» отключён: его токен больше не принимается", name=stand.name), "success"
    )
    return redirect(url_for("catalog.site", site_id=stand.site_id))


@bp.route("/stands")
@requires(Capability.VIEW_CATALOG)
def stands() -> Any:
    """Every stand of the user's sites at a glance (cloud/standsync/heartbeat.py); the page refreshes its
    table every few seconds."""
    return render_template(
        "catalog/stands.html",
        stands=heartbeat.stands_health(acting_user(), app_now()),
        refresh_seconds=heartbeat.REFRESH_SECONDS,
        alarm_minutes=int(heartbeat.OUTBOX_ALARM_AFTER.total_seconds() // 60),
    )
