"""Staff over the JSON API: list, create, read, change, delete; and ``/me`` for any caller.

The rules are those of the staff pages (``cloud.staff.service``): only owners manage owners, nobody
deactivates or deletes themselves, the last active owner stays."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cloud.api import api_endpoint, bp, page_args
from cloud.errors import ValidationFailed
from cloud.fields import Password, Phone, Pin, RowId, line, refusal, said_by
from cloud.models import ROLES
from cloud.permissions import MATRIX, Capability
from cloud.staff import service as staffbook
from cloud.web import acting_user
from sync.lengths import MAX_NAME

# The values' types: the schema's checks, and the services' rules saying why when they refuse.
Name = Annotated[line(MAX_NAME), said_by(staffbook._clean_name, str)]
Role = Annotated[
    Literal[ROLES],  # type: ignore[valid-type]
    said_by(refusal("bad_role", lambda: _("Неизвестная роль"))),
]
SiteIds = Annotated[list[RowId], said_by(staffbook._clean_sites, list)]
NewPassword = Annotated[
    Password,
    said_by(refusal("weak_password", lambda: _("Пароль должен быть не короче 8 символов")), str),
]
NewPin = Annotated[Pin, said_by(refusal("bad_pin", lambda: _("PIN — от 6 до 8 цифр")), str)]


class SiteRef(BaseModel):
    id: int
    name: str


class StaffOut(BaseModel):
    """A staff member; hashes of the password and PIN are never shown."""

    id: int
    full_name: str
    phone: str
    role: str
    active: bool
    site_ids: list[int]
    sites: list[SiteRef]
    has_pin: bool
    created_at: str


class StaffList(BaseModel):
    items: list[StaffOut]
    total: int


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: Name
    phone: Phone
    role: Role
    site_ids: SiteIds = Field(default_factory=list, description="existing sites")
    password: NewPassword = Field(description="at least 8 characters")
    pin: NewPin = Field(default="", description="6 to 8 digits for stand screens; empty for none")


class StaffPatch(BaseModel):
    """Only the fields given are changed. Passwords and PINs are set on the staff page."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name | None = None
    phone: Phone | None = None
    role: Role | None = None
    site_ids: SiteIds | None = None
    active: StrictBool | None = None


class Me(BaseModel):
    id: int
    full_name: str
    phone: str
    role: str
    site_ids: list[int]
    sites: list[SiteRef]
    capabilities: list[str]


def _active_filter() -> bool | None:
    raw = request.args.get("active", "")
    if raw in ("", "all"):
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValidationFailed(_("active: true, false или all"), "bad_filter")


@bp.get("/staff")
@api_endpoint(
    Capability.MANAGE_STAFF,
    "List staff members",
    response=StaffList,
    query={
        "q": "part of the name or phone",
        "active": "true, false or all (default)",
        "limit": "page size, 1..500",
        "offset": "rows to skip",
    },
)
def staff_list() -> dict[str, Any]:
    limit, offset = page_args()
    users = staffbook.list_staff(request.args.get("q", ""), _active_filter())
    page = users[offset : offset + limit]
    sites = staffbook.sites_of(page)
    return {"items": [staffbook.staff_dict(u, sites[u.id]) for u in page], "total": len(users)}


@bp.post("/staff")
@api_endpoint(
    Capability.MANAGE_STAFF,
    "Create a staff member",
    body=StaffCreate,
    response=StaffOut,
    status=201,
)
def staff_create(body: StaffCreate) -> dict[str, Any]:
    user = staffbook.create_staff(
        name=body.full_name,
        phone=body.phone,
        role=body.role,
        password=body.password,
        pin=body.pin,
        site_ids=body.site_ids,
        actor=acting_user(),
    )
    return staffbook.staff_dict(user)


@bp.get("/staff/<int:user_id>")
@api_endpoint(Capability.MANAGE_STAFF, "Read a staff member", response=StaffOut)
def staff_get(user_id: int) -> dict[str, Any]:
    return staffbook.staff_dict(staffbook.get_staff(user_id))


@bp.patch("/staff/<int:user_id>")
@api_endpoint(Capability.MANAGE_STAFF, "Change a staff member", body=StaffPatch, response=StaffOut)
def staff_update(user_id: int, body: StaffPatch) -> dict[str, Any]:
    user = staffbook.get_staff(user_id)
    staffbook.update_staff(acting_user(), user, staffbook.StaffChanges(**body.model_dump()))
    return staffbook.staff_dict(user)


@bp.delete("/staff/<int:user_id>")
@api_endpoint(Capability.DELETE_STAFF, "Delete a staff member (owner only)", status=204)
def staff_delete(user_id: int) -> None:
    staffbook.delete_staff(acting_user(), staffbook.get_staff(user_id))


@bp.get("/me")
@api_endpoint(None, "The caller: who they are, their sites and what they may do", response=Me)
def me() -> dict[str, Any]:
    user = acting_user()
    data = staffbook.staff_dict(user)
    return {
        "id": user.id,
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "site_ids": data["site_ids"],
        "sites": data["sites"],
        "capabilities": [str(cap) for cap, roles in MATRIX.items() if user.role in roles],
    }
