"""The owner's price controls beyond plain versions (issue 20, "Prices").

- Default tariffs: a site and a stand may each name a tariff its stands start clients without
  one of their own with; a stand's own comes before its site's, and either before "the oldest
  active tariff in force", which stays the fallback (``cloud.standsync.directory.
  default_tariff_of`` decides, the directory carries the choice to the stand). Only an active
  tariff can be chosen; a tariff switched off later is passed over, not removed.
- Schedules: a version's rates by time of day and weekday (``sync.schedule``), typed as
  windows "days, from, to, member and guest price per minute", in the chain's time zone.
- Confirmation: a price of 0 per minute (a version's own or a window's) or a guest paying
  less per minute than a member needs an explicit tick (``confirmed``); the seed says guests
  pay more, and a free minute is rarely meant.
- A scheduled version (not yet in force) can be corrected or cancelled; one that has taken
  effect cannot (sessions may have been priced with it). Every change goes to the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.catalog.tariffs import (
    check_effective_from,
    get_tariff,
    validate_rates,
    version_values,
)
from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from cloud.models import Site, Stand, Tariff, TariffVersion, User
from sync.pricing import Rates
from sync.schedule import Window

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


# --- confirmation -------------------------------------------------------------------------


def doubtful(rates: Rates) -> list[str]:
    """Why these rates need an explicit confirmation (empty: they do not)."""
    reasons = []
    pairs = [(rates.member_per_minute, rates.guest_per_minute, "")]
    pairs += [(w.member_per_minute, w.guest_per_minute, w.label()) for w in rates.schedule]
    for member, guest, where in pairs:
        suffix = f" ({where})" if where else ""
        if member == 0 or guest == 0:
            reasons.append(_("цена минуты 0 ₽") + suffix)
        if guest < member:
            reasons.append(_("гость платит меньше участника клуба") + suffix)
    return reasons


def check_confirmed(rates: Rates, confirmed: bool) -> None:
    """422 ("confirm_rates") unless the rates are ordinary or the change is confirmed."""
    reasons = doubtful(rates)
    if reasons and not confirmed:
        raise Unprocessable(
            _(
                "Проверьте цены и подтвердите отметкой: %(reasons)s",
                reasons="; ".join(reasons),
            ),
            "confirm_rates",
        )


# --- schedules ----------------------------------------------------------------------------


def minute_of_day(text: str, label: str, end: bool = False) -> int:
    """ "HH:MM" as minutes of the day; "24:00" only as an end."""
    found = _CLOCK.fullmatch(str(text).strip())
    limit = 24 * 60 if end else 24 * 60 - 1
    if found is not None:
        minute = int(found.group(1)) * 60 + int(found.group(2))
        if int(found.group(2)) < 60 and minute <= limit:
            return minute
    raise ValidationFailed(
        _("%(label)s: время в виде ЧЧ:ММ, от 00:00 до 24:00", label=label), "bad_schedule"
    )


def make_window(
    days: Iterable[int], start: str, end: str, member_kopecks: int, guest_kopecks: int
) -> Window:
    """A window from what a form or the API says (times as "HH:MM")."""
    window = Window(
        days=tuple(sorted(set(days))),
        start_min=minute_of_day(start, _("Начало окна")),
        end_min=minute_of_day(end, _("Конец окна"), end=True),
        member_per_minute=member_kopecks,
        guest_per_minute=guest_kopecks,
    )
    window.validate()
    return window


# --- scheduled versions: correct or cancel --------------------------------------------------


def get_version(tariff_id: int, version_id: int) -> TariffVersion:
    tariff = get_tariff(tariff_id)
    version = TariffVersion.get_or_none(
        (TariffVersion.id == version_id) & (TariffVersion.tariff == tariff)
    )
    if version is None:
        raise NotFound(_("Версия тарифа не найдена"), "version_not_found")
    return version


def _check_upcoming(version: TariffVersion, now: datetime) -> None:
    if version.effective_from <= now:
        raise Conflict(
            _("Эта версия уже действует: её нельзя изменить или отменить, добавьте новую"),
            "version_in_effect",
        )


def _values(version: TariffVersion) -> dict[str, Any]:
    return version_values(version)


def update_version(
    actor: User | None,
    version: TariffVersion,
    rates: Rates,
    effective_from: datetime,
    now: datetime,
    confirmed: bool = False,
) -> TariffVersion:
    """Correct a scheduled version's rates and date (409 once it has taken effect)."""
    validate_rates(rates)
    check_confirmed(rates, confirmed)
    check_effective_from(effective_from, now)
    with db_proxy.atomic():
        version = TariffVersion.select().where(TariffVersion.id == version.id).get()
        _check_upcoming(version, now)
        clash = TariffVersion.select().where(
            (TariffVersion.tariff == version.tariff_id)
            & (TariffVersion.effective_from == effective_from)
            & (TariffVersion.id != version.id)
        )
        if clash.exists():
            raise Conflict(
                _("У тарифа уже есть версия, действующая с этого момента"), "version_exists"
            )
        before = _values(version)
        version.effective_from = effective_from
        version.member_per_minute = rates.member_per_minute
        version.guest_per_minute = rates.guest_per_minute
        version.step_s = rates.step_s
        version.min_charge = rates.min_charge
        version.cap = rates.cap
        version.grace_s = rates.grace_s
        version.schedule = rates.schedule
        version.save()
        tariff = Tariff.get_by_id(version.tariff_id)
        what = audit.target("tariff", tariff.id, tariff.name)
        audit.record("tariff.version_changed", what, before, _values(version), actor=actor)
    return version


def cancel_version(actor: User | None, version: TariffVersion, now: datetime) -> None:
    """Delete a scheduled version (409 once it has taken effect)."""
    with db_proxy.atomic():
        version = TariffVersion.select().where(TariffVersion.id == version.id).get()
        _check_upcoming(version, now)
        before = _values(version)
        tariff = Tariff.get_by_id(version.tariff_id)
        try:
            with db_proxy.atomic():
                version.delete_instance()
        except peewee.IntegrityError:  # a stand with its clock ahead started a session on it
            raise Conflict(
                _("По этой версии уже есть сеансы: её нельзя отменить"), "version_used"
            ) from None
        what = audit.target("tariff", tariff.id, tariff.name)
        audit.record("tariff.version_cancelled", what, before, None, actor=actor)


# --- default tariffs ------------------------------------------------------------------------


def _usable_tariff(tariff_id: int | None) -> Tariff | None:
    if tariff_id is None:
        return None
    tariff = get_tariff(tariff_id)
    if not tariff.active:
        raise Unprocessable(
            _("Тариф «%(name)s» отключён: выберите включённый", name=tariff.name),
            "tariff_inactive",
        )
    return tariff


def _name_of(tariff_id: int | None) -> str | None:
    if tariff_id is None:
        return None
    return Tariff.select(Tariff.name).where(Tariff.id == tariff_id).scalar()


def set_site_default(actor: User | None, site: Site, tariff_id: int | None) -> Site:
    """Name the default tariff of ``site``'s stands (None: the oldest active tariff)."""
    tariff = _usable_tariff(tariff_id)
    with db_proxy.atomic():
        before = {"default_tariff": _name_of(site.default_tariff_id)}
        Site.update(default_tariff=tariff).where(Site.id == site.id).execute()
        after = {"default_tariff": tariff.name if tariff else None}
        what = audit.target("site", site.id, site.name)
        audit.record("site.default_tariff_set", what, before, after, actor=actor)
    site.default_tariff = tariff
    return site


def set_stand_default(actor: User | None, stand: Stand, tariff_id: int | None) -> Stand:
    """Name ``stand``'s own default tariff (None: its site's)."""
    tariff = _usable_tariff(tariff_id)
    with db_proxy.atomic():
        before = {"default_tariff": _name_of(stand.default_tariff_id)}
        Stand.update(default_tariff=tariff).where(Stand.id == stand.id).execute()
        after = {"default_tariff": tariff.name if tariff else None}
        what = audit.target("stand", stand.id, stand.name)
        audit.record("stand.default_tariff_set", what, before, after, actor=actor)
    stand.default_tariff = tariff
    return stand


def tariff_choices() -> list[Tariff]:
    """The tariffs a default may name: the active ones, by name."""
    return list(Tariff.select().where(Tariff.active).order_by(Tariff.name, Tariff.id))
