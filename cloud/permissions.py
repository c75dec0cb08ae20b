"""The permission matrix of DESIGN.md, in one place. Every route states the capability it needs
with ``@requires(Capability.X)`` (pages) or ``@api_endpoint(Capability.X, ...)`` (API); the
role-matrix test walks every route with every role and reads the expected answer from here."""

from __future__ import annotations

from enum import StrEnum
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user


class Capability(StrEnum):
    SERVE_CLIENTS = "serve_clients"  # start/end sessions, comment, top up, register guest/member
    VIEW_CLIENTS = "view_clients"  # client pages, search, open sessions (own site for attendants)
    VIEW_CATALOG = "view_catalog"  # read tariffs, sites and stands (needed to serve clients)
    EDIT_CLIENTS = "edit_clients"  # edit, link/unlink cards and plates, block
    DELETE_CLIENTS = "delete_clients"
    SEGMENTS = "segments"  # segments and mailings
    REPORTS = "reports"
    MANAGE_CATALOG = "manage_catalog"  # tariffs, sites, stands (provisioning, revoking)
    MANAGE_STAFF = "manage_staff"  # staff: view, create, edit, deactivate
    DELETE_STAFF = "delete_staff"
    ADJUST_BALANCE = "adjust_balance"  # balance adjustments and refunds
    ADJUST_POINTS = "adjust_points"  # manual accrual and deduction of bonus points
    REVIEW_TOPUPS = "review_topups"  # release or reject stands' top-ups held over a ceiling
    SET_OVERDRAFT = "set_overdraft"  # a client's own credit (overdraft) limit at the stands
    RESTORE_CLIENTS = "restore_clients"  # list deleted clients and bring one back
    RECEIPTS = "receipts"  # fiscal receipts: see them all, send a failed one again
    VIEW_AUDIT = "view_audit"  # the staff audit log: who changed money, access, prices, clients
    ALERTS = "alerts"  # the Alerts page: incidents, and who gets which alerts by e-mail
    FORCE_CLOSE = "force_close"  # end and charge centrally a session no stand can end
    LOYALTY_SETTINGS = "loyalty_settings"  # the bonus programme: welcome, accrual, expiry, value


ALL_ROLES = ("attendant", "operator", "administrator", "owner")

# capability -> roles that have it. Attendants have theirs for their own sites only (see SCOPED).
MATRIX: dict[Capability, frozenset[str]] = {
    Capability.SERVE_CLIENTS: frozenset(ALL_ROLES),
    Capability.VIEW_CLIENTS: frozenset(ALL_ROLES),
    Capability.VIEW_CATALOG: frozenset(ALL_ROLES),
    Capability.EDIT_CLIENTS: frozenset({"operator", "administrator", "owner"}),
    Capability.DELETE_CLIENTS: frozenset({"administrator", "owner"}),
    Capability.SEGMENTS: frozenset({"operator", "administrator", "owner"}),
    Capability.REPORTS: frozenset({"operator", "administrator", "owner"}),
    Capability.MANAGE_CATALOG: frozenset({"administrator", "owner"}),
    Capability.MANAGE_STAFF: frozenset({"administrator", "owner"}),
    Capability.DELETE_STAFF: frozenset({"owner"}),
    Capability.ADJUST_BALANCE: frozenset({"owner"}),
    # Points are a marketing tool, not money: administrators grant them too (issue 7).
    Capability.ADJUST_POINTS: frozenset({"administrator", "owner"}),
    # A stand's top-up over a ceiling is money a stand's token alone may not credit (issue 19).
    Capability.REVIEW_TOPUPS: frozenset({"administrator", "owner"}),
    # Credit is money lent at the stands: administrators and the owner (issue 15).
    Capability.SET_OVERDRAFT: frozenset({"administrator", "owner"}),
    # Deleted clients are the owner's to see and bring back (issue 20).
    Capability.RESTORE_CLIENTS: frozenset({"owner"}),
    # Fiscal receipts carry every client's payments and contacts (issue 17).
    Capability.RECEIPTS: frozenset({"administrator", "owner"}),
    # The audit log watches administrators too: only the owner reads it (issue 19).
    Capability.VIEW_AUDIT: frozenset({"owner"}),
    # Alerts: who is told when stands, money or data go wrong (issue 20).
    Capability.ALERTS: frozenset({"administrator", "owner"}),
    # Ending and charging a session without its stand is a money decision (issue 20).
    Capability.FORCE_CLOSE: frozenset({"administrator", "owner"}),
    # The bonus programme's rules are the chain's money policy: the owner's (issue 20).
    Capability.LOYALTY_SETTINGS: frozenset({"owner"}),
}

# Roles whose data is limited to the sites they are assigned to.
SCOPED_ROLES = frozenset({"attendant"})


def role_can(role: str, capability: Capability) -> bool:
    return role in MATRIX[capability]


def requires(capability: Capability) -> Any:
    """Decorate a page view: anonymous users go to log-in, others without ``capability`` get 403."""

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                from flask import current_app

                return current_app.login_manager.unauthorized()
            if not role_can(current_user.role, capability):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_capability = capability  # type: ignore[attr-defined]
        return wrapped

    return decorator


def site_scope(user: Any) -> set[int] | None:
    """The site ids a user may see, or None for every site."""
    if user.role not in SCOPED_ROLES:
        return None
    from cloud.models import UserSite

    return {link.site_id for link in UserSite.select(UserSite.site).where(UserSite.user == user.id)}
