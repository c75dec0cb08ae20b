"""Pages of the owner's price controls (cloud/catalog/pricing.py): correcting or cancelling a
scheduled tariff version, and the default tariffs of a site and its stands (on the site page).
Routes on the catalog's blueprint."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import cloud.catalog.pricing as pricing
import cloud.catalog.sites as site_service
import cloud.catalog.tariffs as tariff_service
from cloud.catalog.pages import (
    _failure,
    _site_page,
    _timezone,
    bp,
    form_values,
    parse_day,
    rates_form_values,
    rates_from_form,
    schedule_rows,
)
from cloud.clock import app_now
from cloud.db import db_proxy
from cloud.errors import DomainError, ValidationFailed
from cloud.models import TariffVersion
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.schedule import DAY_NAMES


def _edit_page(
    version: TariffVersion, form: dict[str, Any], error: str = "", status: int = 200
) -> Any:
    tariff = tariff_service.get_tariff(version.tariff_id)
    page = render_template(
        "catalog/version_edit.html",
        tariff=tariff,
        version=version,
        form=form,
        error=error,
        days=DAY_NAMES,
        rows=schedule_rows(form),
    )
    return page, status


@bp.route("/tariffs/<int:tariff_id>/versions/<int:version_id>/edit", methods=["GET", "POST"])
@requires(Capability.MANAGE_CATALOG)
def edit_tariff_version(tariff_id: int, version_id: int) -> Any:
    version = pricing.get_version(tariff_id, version_id)
    if request.method == "GET":
        local = version.effective_from.astimezone(ZoneInfo(_timezone()))
        form = {**rates_form_values(version), "effective_day": local.date().isoformat()}
        return _edit_page(version, form)
    now = app_now()
    try:
        rates = rates_from_form(request.form)
        day = parse_day(request.form.get("effective_day", ""))
        when = tariff_service.effective_from_for_day(day, _timezone(), now)
        pricing.update_version(acting_user(), version, rates, when, now, confirmed=True)
    except (DomainError, RuleError) as error:
        message, status = _failure(error)
        return _edit_page(version, form_values(request.form), message, status)
    flash(_("Запланированные цены исправлены"), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff_id))


@bp.route("/tariffs/<int:tariff_id>/versions/<int:version_id>/cancel", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def cancel_tariff_version(tariff_id: int, version_id: int) -> Any:
    version = pricing.get_version(tariff_id, version_id)
    try:
        pricing.cancel_version(acting_user(), version, app_now())
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("catalog.tariff", tariff_id=tariff_id))
    flash(_("Запланированные цены отменены"), "success")
    return redirect(url_for("catalog.tariff", tariff_id=tariff_id))


def _chosen(key: str) -> int | None:
    """The tariff a select of the defaults' form names ("" is none of its own)."""
    text = request.form.get(key, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        raise ValidationFailed(_("Некорректный тариф"), "bad_tariff_id")
    return int(text)


@bp.route("/sites/<int:site_id>/default_tariffs", methods=["POST"])
@requires(Capability.MANAGE_CATALOG)
def set_default_tariffs(site_id: int) -> Any:
    """The site's default tariff and each of its stands' own, from one form; only what
    changed is written (and audited)."""
    user = acting_user()
    site = site_service.get_site(user, site_id)
    summary = site_service.summaries(user, [site])[0]
    try:
        with db_proxy.atomic():
            chosen = _chosen("site_tariff")
            if chosen != site.default_tariff_id:
                pricing.set_site_default(user, site, chosen)
            for stand in summary.stands:
                key = f"stand_{stand.id}_tariff"
                if key in request.form and (chosen := _chosen(key)) != stand.default_tariff_id:
                    pricing.set_stand_default(user, stand, chosen)
    except DomainError as error:
        message, status = _failure(error)
        return _site_page(site, error=message, status=status)
    flash(_("Тарифы по умолчанию сохранены"), "success")
    return redirect(url_for("catalog.site", site_id=site.id))
