"""The catalog in the JSON API: tariffs with their versions, sites and stands.

Money is in kopecks and times are ISO 8601 with a time zone. A tariff's rates change only by
adding a version (``POST /tariffs/{id}/versions``); a version still scheduled may be corrected
(``PUT``) or cancelled (``DELETE``), one in force never. A price of 0 per minute or a guest rate
below the member rate needs ``confirmed`` (else 422 ``confirm_rates``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

import cloud.catalog.pricing as pricing
import cloud.catalog.sites as site_service
import cloud.catalog.tariffs as tariff_service
from cloud.api import api_endpoint, bp, id_arg, page_args
from cloud.clock import app_now
from cloud.db import db_proxy
from cloud.errors import Unprocessable
from cloud.fields import MAX_AMOUNT_KOPECKS, Kopecks, Moment, RowId, line, said_by, whole
from cloud.permissions import Capability
from cloud.web import acting_user
from sync.errors import RuleError
from sync.pricing import MAX_GRACE_S, MAX_STEP_S, Rates
from sync.schedule import MAX_WINDOWS, Window

MAX_YEARS_AHEAD = tariff_service.MAX_YEARS_AHEAD


def _rates_rule(field: str) -> Any:
    """The pricing rule's words for one refused value: valid rates with this value put in."""
    return said_by(
        lambda value: tariff_service.validate_rates(replace(Rates(0, 0), **{field: value})), int
    )


# The values' types: the schema's checks, and the services' rules saying why when they refuse.
CatalogName = Annotated[line(tariff_service.NAME_MAX), said_by(tariff_service.clean_name, str)]
MemberRate = Annotated[whole(0, MAX_AMOUNT_KOPECKS, "kopecks"), _rates_rule("member_per_minute")]
GuestRate = Annotated[whole(0, MAX_AMOUNT_KOPECKS, "kopecks"), _rates_rule("guest_per_minute")]
MinCharge = Annotated[whole(0, MAX_AMOUNT_KOPECKS, "kopecks"), _rates_rule("min_charge")]
Cap = Annotated[Kopecks, _rates_rule("cap")]
StepSeconds = Annotated[whole(1, MAX_STEP_S, "seconds"), _rates_rule("step_s")]
GraceSeconds = Annotated[whole(0, MAX_GRACE_S, "free seconds at the start"), _rates_rule("grace_s")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


StartText = Annotated[
    str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"], description="HH:MM")
]
EndText = Annotated[
    str,
    Field(
        pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        examples=["07:00"],
        description="HH:MM; 24:00 is midnight",
    ),
]


class WindowBody(Body):
    """One window of a schedule: its days (0 = Monday), from and to in local time (an end at
    or before the start runs past midnight; "24:00" is midnight), its per-minute rates."""

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7)
    start: StartText
    end: EndText
    member_per_minute_kopecks: MemberRate
    guest_per_minute_kopecks: GuestRate

    def window(self) -> Window:
        return pricing.make_window(
            self.days,
            self.start,
            self.end,
            self.member_per_minute_kopecks,
            self.guest_per_minute_kopecks,
        )


class WindowOut(BaseModel):
    days: list[int]
    start: str
    end: str
    member_per_minute_kopecks: int
    guest_per_minute_kopecks: int


class RatesBody(Body):
    """Rates of one version; ranges are checked by the shared pricing rule."""

    member_per_minute_kopecks: MemberRate
    guest_per_minute_kopecks: GuestRate
    step_s: StepSeconds = 60
    min_charge_kopecks: MinCharge = 0
    cap_kopecks: Cap | None = Field(default=None, description="not below min_charge_kopecks")
    grace_s: GraceSeconds = 0
    schedule: list[WindowBody] = Field(
        default=[],
        max_length=MAX_WINDOWS,
        description="rates by time of day and weekday in the chain's time zone; no overlaps",
    )
    confirmed: StrictBool = Field(
        default=False,
        description="true to save a price of 0 per minute or a guest rate below the member rate",
    )

    def rates(self) -> Rates:
        rates = Rates(
            member_per_minute=self.member_per_minute_kopecks,
            guest_per_minute=self.guest_per_minute_kopecks,
            step_s=self.step_s,
            min_charge=self.min_charge_kopecks,
            cap=self.cap_kopecks,
            grace_s=self.grace_s,
        )
        try:
            # Each value fits the schema; an empty or overlapping window is a rule between them.
            rates = replace(rates, schedule=tuple(window.window() for window in self.schedule))
            tariff_service.validate_rates(rates)
        except RuleError as error:
            raise Unprocessable(error.message, error.code) from None
        pricing.check_confirmed(rates, self.confirmed)
        return rates


class TariffCreate(RatesBody):
    name: CatalogName
    effective_from: Moment | None = Field(default=None, description="default: now; not past")


class VersionCreate(RatesBody):
    effective_from: Moment = Field(description=f"not past, nor over {MAX_YEARS_AHEAD} years ahead")


class TariffPatch(Body):
    name: CatalogName | None = None
    active: StrictBool | None = None


class VersionOut(BaseModel):
    id: int
    effective_from: datetime
    member_per_minute_kopecks: int
    guest_per_minute_kopecks: int
    step_s: int
    min_charge_kopecks: int
    cap_kopecks: int | None
    grace_s: int
    schedule: list[WindowOut]
    created_at: datetime


class TariffOut(BaseModel):
    id: int
    name: str
    active: bool
    current: VersionOut | None
    upcoming: list[VersionOut]
    versions: list[VersionOut]


class TariffList(BaseModel):
    items: list[TariffOut]
    total: int


class NameBody(Body):
    name: CatalogName


class DefaultTariffBody(Body):
    tariff_id: RowId | None = Field(
        description="an active tariff; null: none of its own (the fallback applies)"
    )


class StandOut(BaseModel):
    id: int
    site_id: int
    name: str
    default_tariff_id: int | None = Field(description="the stand's own; null: its site's")
    created_at: datetime


class StandList(BaseModel):
    items: list[StandOut]
    total: int


class SiteOut(BaseModel):
    id: int
    name: str
    stands_count: int
    staff_count: int
    default_tariff_id: int | None = Field(description="null: the oldest active tariff")
    created_at: datetime


class SiteDetail(SiteOut):
    stands: list[StandOut]


class SiteList(BaseModel):
    items: list[SiteOut]
    total: int


PAGING = {"limit": "1..500, default 50", "offset": "default 0"}


# Tariffs


@bp.route("/tariffs", methods=["GET"])
@api_endpoint(Capability.VIEW_CATALOG, "List tariffs", response=TariffList, query=PAGING)
def list_tariffs() -> Any:
    limit, offset = page_args()
    states = tariff_service.overview(app_now())
    items = [tariff_service.state_to_dict(state) for state in states[offset : offset + limit]]
    return {"items": items, "total": len(states)}


@bp.route("/tariffs", methods=["POST"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Create a tariff with its first version",
    body=TariffCreate,
    response=TariffOut,
    status=201,
)
def create_tariff(body: TariffCreate) -> Any:
    now = app_now()
    tariff = tariff_service.create_tariff(
        acting_user(),
        name=body.name,
        rates=body.rates(),
        now=now,
        effective_from=body.effective_from,
    )
    return tariff_service.tariff_to_dict(tariff, now)


@bp.route("/tariffs/<int:tariff_id>", methods=["GET"])
@api_endpoint(Capability.VIEW_CATALOG, "Read a tariff and its versions", response=TariffOut)
def read_tariff(tariff_id: int) -> Any:
    return tariff_service.tariff_to_dict(tariff_service.get_tariff(tariff_id), app_now())


@bp.route("/tariffs/<int:tariff_id>", methods=["PATCH"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Rename, enable or disable a tariff",
    body=TariffPatch,
    response=TariffOut,
)
def update_tariff(tariff_id: int, body: TariffPatch) -> Any:
    tariff = tariff_service.get_tariff(tariff_id)
    with db_proxy.atomic():
        if body.name is not None:
            tariff_service.rename_tariff(tariff, body.name)
        if body.active is not None:
            tariff_service.set_active(tariff, body.active)
    return tariff_service.tariff_to_dict(tariff, app_now())


@bp.route("/tariffs/<int:tariff_id>/versions", methods=["POST"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Schedule new rates from a moment on (a new version)",
    body=VersionCreate,
    response=VersionOut,
    status=201,
)
def add_tariff_version(tariff_id: int, body: VersionCreate) -> Any:
    tariff = tariff_service.get_tariff(tariff_id)
    version = tariff_service.add_version(
        acting_user(), tariff, body.rates(), body.effective_from, app_now()
    )
    return tariff_service.version_to_dict(version)


# Sites and stands


@bp.route("/sites", methods=["GET"])
@api_endpoint(
    Capability.VIEW_CATALOG, "List the sites the caller may see", response=SiteList, query=PAGING
)
def list_sites() -> Any:
    limit, offset = page_args()
    query = site_service.visible_sites(acting_user())
    total = query.count()
    summaries = site_service.summaries(acting_user(), list(query.limit(limit).offset(offset)))
    return {"items": [site_service.site_to_dict(summary) for summary in summaries], "total": total}


@bp.route("/sites", methods=["POST"])
@api_endpoint(
    Capability.MANAGE_CATALOG, "Create a site", body=NameBody, response=SiteDetail, status=201
)
def create_site(body: NameBody) -> Any:
    site = site_service.create_site(body.name)
    return _site_detail(site.id)


def _site_detail(site_id: int) -> dict[str, Any]:
    user = acting_user()
    summary = site_service.summaries(user, [site_service.get_site(user, site_id)])[0]
    return site_service.site_to_dict(summary, with_stands=True)


@bp.route("/sites/<int:site_id>", methods=["GET"])
@api_endpoint(Capability.VIEW_CATALOG, "Read a site with its stands", response=SiteDetail)
def read_site(site_id: int) -> Any:
    return _site_detail(site_id)


@bp.route("/sites/<int:site_id>", methods=["PATCH"])
@api_endpoint(Capability.MANAGE_CATALOG, "Rename a site", body=NameBody, response=SiteDetail)
def update_site(site_id: int, body: NameBody) -> Any:
    site_service.rename_site(site_service.get_site(acting_user(), site_id), body.name)
    return _site_detail(site_id)


@bp.route("/stands", methods=["GET"])
@api_endpoint(
    Capability.VIEW_CATALOG,
    "List the stands the caller may see",
    response=StandList,
    query={"site_id": "only the stands of this site", **PAGING},
)
def list_stands() -> Any:
    limit, offset = page_args()
    user = acting_user()
    site_id = id_arg("site_id")
    site = site_service.get_site(user, site_id) if site_id is not None else None
    query = site_service.visible_stands(user, site)
    total = query.count()
    items = [site_service.stand_to_dict(stand) for stand in query.limit(limit).offset(offset)]
    return {"items": items, "total": total}


@bp.route("/sites/<int:site_id>/stands", methods=["POST"])
@api_endpoint(
    Capability.MANAGE_CATALOG, "Add a stand to a site", body=NameBody, response=StandOut, status=201
)
def create_stand(site_id: int, body: NameBody) -> Any:
    stand = site_service.create_stand(site_service.get_site(acting_user(), site_id), body.name)
    return site_service.stand_to_dict(stand)


@bp.route("/stands/<int:stand_id>", methods=["GET"])
@api_endpoint(Capability.VIEW_CATALOG, "Read a stand", response=StandOut)
def read_stand(stand_id: int) -> Any:
    return site_service.stand_to_dict(site_service.get_stand(acting_user(), stand_id))


@bp.route("/stands/<int:stand_id>", methods=["PATCH"])
@api_endpoint(Capability.MANAGE_CATALOG, "Rename a stand", body=NameBody, response=StandOut)
def update_stand(stand_id: int, body: NameBody) -> Any:
    stand = site_service.rename_stand(site_service.get_stand(acting_user(), stand_id), body.name)
    return site_service.stand_to_dict(stand)


@bp.route("/tariffs/<int:tariff_id>/versions/<int:version_id>", methods=["PUT"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Correct a scheduled version (409 once it is in force)",
    body=VersionCreate,
    response=VersionOut,
)
def update_tariff_version(tariff_id: int, version_id: int, body: VersionCreate) -> Any:
    version = pricing.get_version(tariff_id, version_id)
    version = pricing.update_version(
        acting_user(), version, body.rates(), body.effective_from, app_now(), body.confirmed
    )
    return tariff_service.version_to_dict(version)


@bp.route("/tariffs/<int:tariff_id>/versions/<int:version_id>", methods=["DELETE"])
@api_endpoint(
    Capability.MANAGE_CATALOG, "Cancel a scheduled version (409 once it is in force)", status=204
)
def cancel_tariff_version(tariff_id: int, version_id: int) -> Any:
    pricing.cancel_version(acting_user(), pricing.get_version(tariff_id, version_id), app_now())


@bp.route("/sites/<int:site_id>/default_tariff", methods=["PUT"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Set the default tariff of a site's stands",
    body=DefaultTariffBody,
    response=SiteDetail,
)
def set_site_default_tariff(site_id: int, body: DefaultTariffBody) -> Any:
    site = site_service.get_site(acting_user(), site_id)
    pricing.set_site_default(acting_user(), site, body.tariff_id)
    return _site_detail(site_id)


@bp.route("/stands/<int:stand_id>/default_tariff", methods=["PUT"])
@api_endpoint(
    Capability.MANAGE_CATALOG,
    "Set a stand's own default tariff",
    body=DefaultTariffBody,
    response=StandOut,
)
def set_stand_default_tariff(stand_id: int, body: DefaultTariffBody) -> Any:
    stand = site_service.get_stand(acting_user(), stand_id)
    return site_service.stand_to_dict(
        pricing.set_stand_default(acting_user(), stand, body.tariff_id)
    )
