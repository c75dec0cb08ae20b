"""Which clients a staff member may see: an attendant sees the clients of their sites (``of_sites``);
anyone else out of scope is "not found", never "forbidden". ``actor`` None is the system itself
(no scope).

A client of a site is one registered there (their home site) or one who has visited it: a
session at one of its stands that the client started with their own card or QR code at the
reader (``VISIT_METHODS``). A session an attendant starts on the stand's screen is no visit:
otherwise starting one (for any client a stand knows) would widen what that attendant sees here,
and what the site's stands receive of the client (cloud/standsync/directory.py, the same rule)."""

from __future__ import annotations

from collections.abc import Collection

import peewee as pw
from flask_babel import gettext as _

from cloud.db import utcnow
from cloud.errors import NotFound, Unprocessable
from cloud.models import (
    VISIT_METHODS,
    Client,
    DirectoryChange,
    Session,
    Site,
    User,
)
from cloud.permissions import site_scope

# --- scope -----------------------------------------------------------------------------------


def scope_of(actor: User | None) -> set[int] | None:
    return None if actor is None else site_scope(actor)


def visits(site_ids: Collection[int]) -> pw.ModelSelect:
    """The clients' ids of the sessions that count as visits to these sites (see the module)."""
    return Session.select(Session.client).where(
        Session.site.in_(sorted(site_ids)) & Session.start_method.in_(VISIT_METHODS)
    )


def of_sites(site_ids: Collection[int]) -> pw.Expression:
    """Clients of these sites: their home site is one of them, or they visited one (a session
    there started with their card or QR code, see the module)."""
    return Client.home_site.in_(sorted(site_ids)) | Client.id.in_(visits(site_ids))


def of_site_within(site_id: int, ids: list[int]) -> pw.Expression:
    """Clients of the site among ``ids``, as one condition: a client not
    registered there is looked up among the site's visits by one probe of the visits index
    (``session_client_visit``), never across all the site's sessions."""
    visit = Session.select(Session.id).where(
        (Session.client == Client.id)
        & (Session.site == site_id)
        & Session.start_method.in_(VISIT_METHODS)
    )
    return Client.id.in_(ids) & ((Client.home_site == site_id) | pw.fn.EXISTS(visit))


def of_site_changed_after(site_id: int, entity: str, since: int) -> pw.SelectQuery:
    """The ids of the site's clients whose ``entity`` entry in the directory change log
    (cloud/changes.py) lies after ``since``: those registered there and those who visited it,
    each side joined to the log, so the database starts from whichever side is smaller (a
    site's few clients among a chain's many changes, or a few changes among a large site's)."""

    def changed(query: pw.ModelSelect, client: pw.Field) -> pw.ModelSelect:
        entry = (DirectoryChange.entity_id == client) & (DirectoryChange.entity == entity)
        return query.join(DirectoryChange, on=entry).where(DirectoryChange.position > since)

    home = changed(Client.select(Client.id), Client.id).where(Client.home_site == site_id)
    visited = changed(Session.select(Session.client), Session.client).where(
        (Session.site == site_id) & Session.start_method.in_(VISIT_METHODS)
    )
    return home | visited


def of_site_among(site_id: int, ids: pw.SelectBase | Collection[int] | None) -> set[int]:
    """Which of the clients ``ids`` (a query or ids; None: all) are of the site: the same rule
    as ``of_sites``, read client by client (a directory page's few among many sessions)."""
    home = Client.select(Client.id).where(Client.home_site == site_id)
    visited = visits([site_id]).distinct()
    if ids is not None:
        chosen = ids if isinstance(ids, pw.SelectBase) else sorted(ids)
        home = home.where(Client.id.in_(chosen))
        visited = visited.where(Session.client.in_(chosen))
    return {i for (i,) in home.tuples()} | {i for (i,) in visited.tuples()}


def visible(query: pw.ModelSelect, actor: User | None) -> pw.ModelSelect:
    scope = scope_of(actor)
    return query if scope is None else query.where(of_sites(scope))


def home_site(actor: User | None, site_id: int | None) -> Site | None:
    scope = scope_of(actor)
    if site_id is None:
        if scope is None:
            return None
        if len(scope) != 1:  # the request is fine; the caller has several sites to choose from
            raise Unprocessable(_("Выберите площадку клиента"), "site_required")
        site_id = next(iter(scope))
    elif scope is not None and site_id not in scope:
        raise NotFound(_("Площадка не найдена"), "bad_site")
    site = Site.get_or_none(Site.id == site_id)
    if site is None:
        raise NotFound(_("Площадка не найдена"), "bad_site")
    return site


def get_client(actor: User | None, client_id: int) -> Client:
    """The client with this id if the actor may see it and it is not deleted."""
    query = Client.select().where((Client.id == client_id) & Client.deleted_at.is_null())
    client = visible(query, actor).first()
    if client is None:
        raise NotFound(_("Клиент не найден"))
    return client


def is_visible(actor: User | None, client_id: int) -> bool:
    query = Client.select(Client.id).where(Client.id == client_id)
    return visible(query, actor).exists()


def client_label(client: Client) -> str:
    """How a client is named in messages: the name, else "гость №12"."""
    if client.name:
        return client.name
    if client.kind == "guest":
        return _("гость №%(id)s", id=client.id)
    return _("клиент №%(id)s", id=client.id)


def touch(client: Client) -> None:
    client.updated_at = utcnow()
    client.save(only=[Client.updated_at])
