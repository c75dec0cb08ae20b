"""Every blueprint of the central app, in one list: the pages of each area, the staff JSON API
(one blueprint whose routes each area's ``api`` module adds) and the stands' API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from cloud import api, web
from cloud.alerts import pages as alerts_pages
from cloud.api import openapi
from cloud.audit import api as audit_api
from cloud.audit import pages as audit_pages
from cloud.cabinet import clientapi
from cloud.cabinet import pages as cabinet_pages
from cloud.cabinet import staffpages as cabinet_staff
from cloud.catalog import api as catalog_api
from cloud.catalog import pages as catalog_pages
from cloud.catalog import pricingpages  # noqa: F401  (adds its routes to catalog_pages.bp)
from cloud.clients import accountapi, accountpages
from cloud.clients import api as clients_api
from cloud.clients import pages as clients_pages
from cloud.fiscal import api as fiscal_api
from cloud.fiscal import pages as fiscal_pages
from cloud.integrity import api as integrity_api
from cloud.integrity import pages as integrity_pages
from cloud.ledger import pages as ledger_pages
from cloud.loyalty import api as loyalty_api
from cloud.loyalty import pages as loyalty_pages
from cloud.marketing import api as marketing_api
from cloud.marketing import pages as marketing_pages
from cloud.marketing import unsubscribepages
from cloud.payments import cabinetpages as payments_cabinet
from cloud.payments import clientapi as payments_clientapi
from cloud.payments import pages as payments_pages
from cloud.payments import webhook as payments_webhook
from cloud.reports import api as reports_api
from cloud.reports import pages as reports_pages
from cloud.sessions import api as sessions_api
from cloud.sessions import dashboardpages as dashboard
from cloud.sessions import pages as session_pages
from cloud.shifts import api as shifts_api
from cloud.shifts import pages as shifts_pages
from cloud.staff import api as staff_api
from cloud.staff import loginpages
from cloud.staff import pages as staff_pages
from cloud.standsync import api as stands_api
from cloud.standsync import apidoc as stands_apidoc  # noqa: F401  (adds its route to stands_api.bp)
from cloud.standsync import healthapi

PAGES = (
    loginpages,
    dashboard,
    clients_pages,
    staff_pages,
    catalog_pages,
    reports_pages,
    marketing_pages,
    loyalty_pages,
    session_pages,
    integrity_pages,
    ledger_pages,
    accountpages,
    unsubscribepages,
    payments_pages,
    payments_cabinet,
    cabinet_pages,
    cabinet_staff,
    fiscal_pages,
    shifts_pages,
    audit_pages,
    alerts_pages,
)
# Imported for their routes on the client API's blueprint (cloud/cabinet/clientapi.py).
CLIENT_API_MODULES = (payments_clientapi,)
# Imported for their routes on ``api.bp``: each adds its endpoints when imported.
API_MODULES = (
    accountapi,
    loyalty_api,
    catalog_api,
    clients_api,
    integrity_api,
    openapi,
    reports_api,
    marketing_api,
    sessions_api,
    staff_api,
    healthapi,
    fiscal_api,
    shifts_api,
    audit_api,
)


def register(
    app: Flask, csrf: CSRFProtect, babel: Babel, locale_selector: Callable[[], Any]
) -> None:
    """Register every blueprint and the extensions the pages need on ``app``."""
    loginpages.login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=locale_selector)
    web.init_app(app)
    for module in PAGES:
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    csrf.exempt(unsubscribepages.bp)  # the signed token is the key; mail programs POST bare
    app.register_blueprint(stands_api.bp)  # stands authenticate with their own tokens
    csrf.exempt(stands_api.bp)
    app.register_blueprint(payments_webhook.bp)  # the provider calls it; the body is not trusted
    csrf.exempt(payments_webhook.bp)
    app.register_blueprint(clientapi.bp)  # clients authenticate with their own tokens
    csrf.exempt(clientapi.bp)
