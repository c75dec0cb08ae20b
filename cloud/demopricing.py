"""Demo data of the owner's price controls (issue 20): «Стандарт» gets a night rate from now
on (a new version, so the month of history keeps its prices) and the stand of «Аквастенд на
Гагарина» starts clients without a tariff of their own with «Экспресс»."""

from __future__ import annotations

from datetime import datetime

from cloud.models import Site, Stand, Tariff, TariffVersion
from sync.schedule import ALL_DAYS, Window

NIGHT = Window(ALL_DAYS, 22 * 60, 7 * 60, member_per_minute=700, guest_per_minute=1100)
NIGHT_TARIFF = "Стандарт"
OWN_TARIFF = ("Аквастенд на Гагарина", "Пост 1", "Экспресс")


def add_demo_pricing(now: datetime) -> None:
    """Add the night rate and the stand's own tariff (inside the demo's transaction)."""
    standard = Tariff.get(Tariff.name == NIGHT_TARIFF)
    current = (
        TariffVersion.select()
        .where((TariffVersion.tariff == standard) & (TariffVersion.effective_from <= now))
        .order_by(TariffVersion.effective_from.desc())
        .get()
    )
    TariffVersion.create(
        tariff=standard,
        effective_from=now.replace(microsecond=0),
        member_per_minute=current.member_per_minute,
        guest_per_minute=current.guest_per_minute,
        step_s=current.step_s,
        min_charge=current.min_charge,
        cap=current.cap,
        grace_s=current.grace_s,
        schedule=(NIGHT,),
    )
    site_name, stand_name, tariff_name = OWN_TARIFF
    stand = Stand.get((Stand.site == Site.get(Site.name == site_name)) & (Stand.name == stand_name))
    Stand.update(default_tariff=Tariff.get(Tariff.name == tariff_name)).where(
        Stand.id == stand.id
    ).execute()
