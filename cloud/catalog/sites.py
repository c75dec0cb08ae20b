"""Sites (wash locations) and their stands: create, rename, list.

Reading goes through the caller's scope: an attendant sees only the sites they are assigned to
and those sites' stands; anything else answers "not found"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.catalog.tariffs import clean_name, same_name
from cloud.db import db_proxy
from cloud.errors import Conflict, NotFound
from cloud.models import Site, Stand, User, UserSite
from cloud.permissions import site_scope


@dataclass
class SiteSummary:
    """A site as the lists show it: with its stands and the number of active staff assigned."""

    site: Site
    stands: list[Stand]
    staff_count: int


def _site_conflict(name: str) -> Conflict:
    return Conflict(_("Площадка «%(name)s» уже есть", name=name), "site_name_taken")


def _stand_conflict(site: Site, name: str) -> Conflict:
    return Conflict(
        _("На площадке «%(site)s» уже есть пост «%(name)s»", site=site.name, name=name),
        "stand_name_taken",
    )


def _check_site_name_free(name: str, exclude_id: int | None = None) -> None:
    query = Site.select(Site.id, Site.name)
    if exclude_id is not None:
        query = query.where(Site.id != exclude_id)
    existing = same_name(query, name)
    if existing is not None:
        raise _site_conflict(existing)


def _check_stand_name_free(site: Site, name: str, exclude_id: int | None = None) -> None:
    query = Stand.select(Stand.id, Stand.name).where(Stand.site == site)
    if exclude_id is not None:
        query = query.where(Stand.id != exclude_id)
    existing = same_name(query, name)
    if existing is not None:
        raise _stand_conflict(site, existing)


def create_site(name: str) -> Site:
    name = clean_name(name)
    try:
        with db_proxy.atomic():
            _check_site_name_free(name)
            site = Site.create(name=name)
            audit.record("site.created", audit.target("site", site.id, name), None, {"name": name})
            return site
    except peewee.IntegrityError:
        raise _site_conflict(name) from None


def rename_site(site: Site, name: str) -> Site:
    name = clean_name(name)
    try:
        with db_proxy.atomic():
            _check_site_name_free(name, exclude_id=site.id)
            Site.update(name=name).where(Site.id == site.id).execute()
            what = audit.target("site", site.id, name)
            audit.record("site.renamed", what, {"name": site.name}, {"name": name})
    except peewee.IntegrityError:
        raise _site_conflict(name) from None
    site.name = name
    return site


def create_stand(site: Site, name: str) -> Stand:
    name = clean_name(name)
    try:
        with db_proxy.atomic():
            _check_stand_name_free(site, name)
            stand = Stand.create(site=site, name=name)
            after = {"name": name, "site_id": site.id, "site": site.name}
            audit.record("stand.created", audit.target("stand", stand.id, name), None, after)
            return stand
    except peewee.IntegrityError:
        raise _stand_conflict(site, name) from None


def rename_stand(stand: Stand, name: str) -> Stand:
    name = clean_name(name)
    site = stand.site
    try:
        with db_proxy.atomic():
            _check_stand_name_free(site, name, exclude_id=stand.id)
            Stand.update(name=name).where(Stand.id == stand.id).execute()
            what = audit.target("stand", stand.id, name)
            audit.record("stand.renamed", what, {"name": stand.name}, {"name": name})
    except peewee.IntegrityError:
        raise _stand_conflict(site, name) from None
    stand.name = name
    return stand


def visible_sites(user: User) -> Any:
    """A query of the sites ``user`` may see, by name."""
    query = Site.select().order_by(Site.name, Site.id)
    scope = site_scope(user)
    if scope is not None:
        query = query.where(Site.id.in_(scope))
    return query


def get_site(user: User, site_id: int) -> Site:
    site = visible_sites(user).where(Site.id == site_id).first()
    if site is None:
        raise NotFound(_("Площадка не найдена"), "site_not_found")
    return site


def visible_stands(user: User, site: Site | None = None) -> Any:
    """A query of the stands ``user`` may see (of one site if given), by site and name."""
    query = Stand.select(Stand, Site).join(Site).order_by(Site.name, Stand.name, Stand.id)
    scope = site_scope(user)
    if scope is not None:
        query = query.where(Stand.site.in_(scope))
    if site is not None:
        query = query.where(Stand.site == site)
    return query


def get_stand(user: User, stand_id: int) -> Stand:
    stand = visible_stands(user).where(Stand.id == stand_id).first()
    if stand is None:
        raise NotFound(_("Пост не найден"), "stand_not_found")
    return stand


def staff_counts(site_ids: list[int]) -> dict[int, int]:
    """Active staff assigned to each of ``site_ids``."""
    if not site_ids:
        return {}
    rows = (
        UserSite.select(UserSite.site, peewee.fn.COUNT(UserSite.id).alias("n"))
        .join(User)
        .where(UserSite.site.in_(site_ids) & User.active & User.deleted_at.is_null())
        .group_by(UserSite.site)
    )
    return {row.site_id: row.n for row in rows}


def summaries(user: User, sites: list[Site] | None = None) -> list[SiteSummary]:
    """The visible sites (or the given ones) with their stands and staff counts."""
    sites = list(visible_sites(user)) if sites is None else sites
    ids = [site.id for site in sites]
    stands: dict[int, list[Stand]] = {site_id: [] for site_id in ids}
    if ids:
        for stand in Stand.select().where(Stand.site.in_(ids)).order_by(Stand.name, Stand.id):
            stands[stand.site_id].append(stand)
    staff = staff_counts(ids)
    return [SiteSummary(site, stands[site.id], staff.get(site.id, 0)) for site in sites]


def stand_to_dict(stand: Stand) -> dict[str, Any]:
    return {
        "id": stand.id,
        "site_id": stand.site_id,
        "name": stand.name,
        "default_tariff_id": stand.default_tariff_id,
        "created_at": stand.created_at.isoformat(),
    }


def site_to_dict(summary: SiteSummary, with_stands: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": summary.site.id,
        "name": summary.site.name,
        "stands_count": len(summary.stands),
        "staff_count": summary.staff_count,
        "default_tariff_id": summary.site.default_tariff_id,
        "created_at": summary.site.created_at.isoformat(),
    }
    if with_stands:
        data["stands"] = [stand_to_dict(stand) for stand in summary.stands]
    return data
