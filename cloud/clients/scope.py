"""Which clients a staff member may see: an attendant sees the clients whose home site is one of
theirs and the clients who had a session at one of their sites; anyone else out of scope is
"not found", never "forbidden". ``actor`` None is the system itself (no scope)."""

from __future__ import annotations

import peewee as pw
from flask_babel import gettext as _

from cloud.db import utcnow
from cloud.errors import NotFound, Unprocessable
from cloud.models import (
    Client,
    Session,
    Site,
    User,
)
from cloud.permissions import site_scope

# --- scope -----------------------------------------------------------------------------------


def scope_of(actor: User | None) -> set[int] | None:
    return None if actor is None else site_scope(actor)


def of_sites(site_ids: set[int]) -> pw.Expression:
    """Clients of these sites: their home site is one of them, or they had a session there."""
    ids = sorted(site_ids)
    visited = Session.select(Session.client).where(Session.site.in_(ids))
    return Client.home_site.in_(ids) | Client.id.in_(visited)


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
