"""Tariffs and their versions.

A tariff is a name; its rates live in versions, each effective from a moment on. A change of
rates is a new version, never an edit of one in force, so a session priced with a version keeps
its price for good, and ``version_at(tariff, started_at)`` always answers what applied then (a
version still scheduled may be corrected or cancelled: cloud/catalog/pricing.py).
A version may not start in the past (a minute of slack for clocks and slow forms), and two
versions of one tariff may not start at the same moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from cloud.fields import MAX_AMOUNT_KOPECKS
from cloud.models import Tariff, TariffVersion, User
from sync.errors import RuleError
from sync.money import format_kopecks
from sync.pricing import Rates
from sync.schedule import Window, clock_text, schedule_to_json

NAME_MAX = 100
# Slack for "now": a form filled in a minute ago or a client clock slightly behind is not "past".
PAST_SLACK = timedelta(minutes=1)
MAX_YEARS_AHEAD = 10


def clean_name(text: str) -> str:
    """A catalog name with outer and repeated spaces removed; non-empty and at most 100 chars."""
    name = " ".join(str(text).split())
    if not name:
        raise ValidationFailed(_("Укажите название"), "name_required")
    if len(name) > NAME_MAX:
        raise ValidationFailed(_("Название не длиннее %(n)d символов", n=NAME_MAX), "name_too_long")
    return name


def validate_rates(rates: Rates) -> None:
    """The shared rule's checks (``RuleError``) plus an upper bound on every amount."""
    try:
        rates.validate()
    except RuleError as error:
        if rates.cap is not None and 0 < rates.cap < rates.min_charge:
            # Each value in its range (the API's schema sees to that), but not with each other.
            raise Unprocessable(error.message, error.code) from None
        raise
    amounts = (rates.member_per_minute, rates.guest_per_minute, rates.min_charge, rates.cap or 0)
    if max(amounts) > MAX_AMOUNT_KOPECKS:
        raise ValidationFailed(
            _("Тариф: суммы не больше %(max)s", max=format_kopecks(MAX_AMOUNT_KOPECKS)),
            "bad_tariff",
        )


def same_name(rows: Any, name: str) -> str | None:
    """The name among ``rows`` (a query of rows with ``.name``) equal to ``name`` whatever the
    case, or None. Compared in Python: SQLite's LOWER() does not fold Cyrillic, and catalog
    tables are small."""
    wanted = name.casefold()
    return next((row.name for row in rows if row.name.casefold() == wanted), None)


def _name_conflict(name: str) -> Conflict:
    return Conflict(_("Тариф «%(name)s» уже есть", name=name), "tariff_name_taken")


def _check_name_free(name: str, exclude_id: int | None = None) -> None:
    query = Tariff.select(Tariff.id, Tariff.name)
    if exclude_id is not None:
        query = query.where(Tariff.id != exclude_id)
    existing = same_name(query, name)
    if existing is not None:
        raise _name_conflict(existing)


def check_effective_from(when: datetime, now: datetime) -> None:
    if when.tzinfo is None:
        raise ValidationFailed(_("Дата начала действия должна быть с часовым поясом"), "naive_time")
    # Also keeps a typo like year 9999 from overflowing when the moment is stored as UTC.
    # Both rules measure against the clock, so a moment they refuse is well-formed: 422.
    if when.year > now.year + MAX_YEARS_AHEAD:
        raise Unprocessable(
            _("Дата начала действия — не дальше чем через %(n)d лет", n=MAX_YEARS_AHEAD),
            "effective_too_far",
        )
    if when < now - PAST_SLACK:
        raise Unprocessable(_("Дата начала действия не может быть в прошлом"), "effective_in_past")


def _new_version(
    actor: User | None, tariff: Tariff, rates: Rates, when: datetime, action: str
) -> TariffVersion:
    """A new version of ``tariff``, recorded in the audit log with the rates before it."""
    before = TariffVersion.select().where(TariffVersion.tariff == tariff.id)
    previous = before.where(TariffVersion.effective_from < when).order_by(
        TariffVersion.effective_from.desc()
    )
    version = _create_version(actor, tariff, rates, when)
    old = previous.first()
    audit.record(
        action,
        audit.target("tariff", tariff.id, tariff.name),
        version_values(old) if old is not None else None,
        {"name": tariff.name, **version_values(version)},
        actor=actor,
    )
    return version


def version_values(version: TariffVersion) -> dict[str, Any]:
    """A version's values for the audit log (its schedule as in the directory)."""
    names = ("effective_from", *RATE_FIELDS)
    return {
        **audit.fields_of(version, "id", *names),
        "schedule": schedule_to_json(version.schedule),
    }


RATE_FIELDS = ("member_per_minute", "guest_per_minute", "step_s", "min_charge", "cap", "grace_s")


def _create_version(
    actor: User | None, tariff: Tariff, rates: Rates, when: datetime
) -> TariffVersion:
    return TariffVersion.create(
        tariff=tariff,
        effective_from=when,
        member_per_minute=rates.member_per_minute,
        guest_per_minute=rates.guest_per_minute,
        step_s=rates.step_s,
        min_charge=rates.min_charge,
        cap=rates.cap,
        grace_s=rates.grace_s,
        schedule=rates.schedule,
        created_by=actor,
    )


def create_tariff(
    actor: User | None,
    *,
    name: str,
    rates: Rates,
    now: datetime,
    effective_from: datetime | None = None,
) -> Tariff:
    """Create an active tariff and its first version (effective ``now`` unless a moment is
    given)."""
    name = clean_name(name)
    validate_rates(rates)
    when = now.replace(microsecond=0) if effective_from is None else effective_from
    check_effective_from(when, now)
    try:
        with db_proxy.atomic():
            _check_name_free(name)
            tariff = Tariff.create(name=name)
            _new_version(actor, tariff, rates, when, "tariff.created")
    except peewee.IntegrityError:
        raise _name_conflict(name) from None
    return tariff


def add_version(
    actor: User | None, tariff: Tariff, rates: Rates, effective_from: datetime, now: datetime
) -> TariffVersion:
    """Schedule new rates for ``tariff`` from ``effective_from`` (not before ``now``) on."""
    validate_rates(rates)
    check_effective_from(effective_from, now)
    with db_proxy.atomic():
        clash = TariffVersion.select().where(
            (TariffVersion.tariff == tariff) & (TariffVersion.effective_from == effective_from)
        )
        if clash.exists():
            raise Conflict(
                _("У тарифа уже есть версия, действующая с этого момента"), "version_exists"
            )
        return _new_version(actor, tariff, rates, effective_from, "tariff.version_added")


def rename_tariff(tariff: Tariff, name: str) -> Tariff:
    name = clean_name(name)
    try:
        with db_proxy.atomic():
            _check_name_free(name, exclude_id=tariff.id)
            Tariff.update(name=name).where(Tariff.id == tariff.id).execute()
            what = audit.target("tariff", tariff.id, name)
            audit.record("tariff.renamed", what, {"name": tariff.name}, {"name": name})
    except peewee.IntegrityError:
        raise _name_conflict(name) from None
    tariff.name = name
    return tariff


def set_active(tariff: Tariff, active: bool) -> Tariff:
    """Switch a tariff on or off. An inactive tariff cannot be chosen as a client's default
    (the client book checks it); sessions already priced keep their version."""
    with db_proxy.atomic():
        Tariff.update(active=bool(active)).where(Tariff.id == tariff.id).execute()
        audit.record(
            "tariff.activated" if active else "tariff.deactivated",
            audit.target("tariff", tariff.id, tariff.name),
            {"active": tariff.active},
            {"active": bool(active)},
        )
    tariff.active = bool(active)
    return tariff


def get_tariff(tariff_id: int) -> Tariff:
    """Tariffs are chain-wide: every role that may read the catalog sees all of them."""
    tariff = Tariff.get_or_none(Tariff.id == tariff_id)
    if tariff is None:
        raise NotFound(_("Тариф не найден"), "tariff_not_found")
    return tariff


def list_tariffs(active_only: bool = False) -> list[Tariff]:
    query = Tariff.select().order_by(Tariff.name, Tariff.id)
    if active_only:
        query = query.where(Tariff.active)
    return list(query)


def versions_of(tariff: Tariff) -> list[TariffVersion]:
    """All versions of a tariff, oldest first."""
    return list(
        TariffVersion.select()
        .where(TariffVersion.tariff == tariff)
        .order_by(TariffVersion.effective_from, TariffVersion.id)
    )


def version_at(tariff: Tariff, when: datetime) -> TariffVersion:
    """The version in force at ``when``: the latest one effective at or before it."""
    version = (
        TariffVersion.select()
        .where((TariffVersion.tariff == tariff) & (TariffVersion.effective_from <= when))
        .order_by(TariffVersion.effective_from.desc(), TariffVersion.id.desc())
        .first()
    )
    if version is None:
        raise NotFound(_("У тарифа нет действующей версии на это время"), "no_tariff_version")
    return version


@dataclass
class TariffState:
    """A tariff seen at one moment: the version in force (None before the first starts),
    the versions scheduled after it, and the whole history, oldest first."""

    tariff: Tariff
    current: TariffVersion | None
    upcoming: list[TariffVersion]
    versions: list[TariffVersion]


def _state(tariff: Tariff, versions: list[TariffVersion], now: datetime) -> TariffState:
    past = [version for version in versions if version.effective_from <= now]
    upcoming = [version for version in versions if version.effective_from > now]
    return TariffState(tariff, past[-1] if past else None, upcoming, versions)


def state_of(tariff: Tariff, now: datetime) -> TariffState:
    return _state(tariff, versions_of(tariff), now)


def overview(now: datetime, active_only: bool = False) -> list[TariffState]:
    """Every tariff (by name) with its state at ``now``, in two queries."""
    tariffs = list_tariffs(active_only)
    versions: dict[int, list[TariffVersion]] = {tariff.id: [] for tariff in tariffs}
    query = TariffVersion.select().where(TariffVersion.tariff.in_(list(versions)))
    for version in query.order_by(TariffVersion.effective_from, TariffVersion.id):
        versions[version.tariff_id].append(version)
    return [_state(tariff, versions[tariff.id], now) for tariff in tariffs]


def local_midnight(day: date, timezone: str) -> datetime:
    """00:00 of ``day`` in ``timezone``, as a UTC-aware moment."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


def effective_from_for_day(day: date, timezone: str, now: datetime) -> datetime:
    """The moment a change chosen for ``day`` in a form takes effect: 00:00 local of that day,
    except today, whose midnight has passed: a change for today applies at once."""
    if day == now.astimezone(ZoneInfo(timezone)).date():
        return now.replace(microsecond=0)
    return local_midnight(day, timezone)


def version_to_dict(version: TariffVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "effective_from": version.effective_from.isoformat(),
        "member_per_minute_kopecks": version.member_per_minute,
        "guest_per_minute_kopecks": version.guest_per_minute,
        "step_s": version.step_s,
        "min_charge_kopecks": version.min_charge,
        "cap_kopecks": version.cap,
        "grace_s": version.grace_s,
        "schedule": [window_dict(window) for window in version.rates().schedule],
        "created_at": version.created_at.isoformat(),
    }


def window_dict(window: Window) -> dict[str, Any]:
    """A schedule's window for the API: times as "HH:MM" (an end of "24:00" is midnight)."""
    return {
        "days": list(window.days),
        "start": clock_text(window.start_min),
        "end": clock_text(window.end_min),
        "member_per_minute_kopecks": window.member_per_minute,
        "guest_per_minute_kopecks": window.guest_per_minute,
    }


def state_to_dict(state: TariffState) -> dict[str, Any]:
    """A tariff for the API: its rates in force, what is scheduled, and the history."""
    return {
        "id": state.tariff.id,
        "name": state.tariff.name,
        "active": state.tariff.active,
        "current": version_to_dict(state.current) if state.current is not None else None,
        "upcoming": [version_to_dict(version) for version in state.upcoming],
        "versions": [version_to_dict(version) for version in state.versions],
    }


def tariff_to_dict(tariff: Tariff, now: datetime) -> dict[str, Any]:
    return state_to_dict(state_of(tariff, now))
