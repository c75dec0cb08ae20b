"""A subquery on the right of ``IN`` is compiled once (cloud/db.py ``_subquery_never_empty``):
the SQL is what peewee makes without the shortcut, and an empty list still reads as nothing."""

from __future__ import annotations

from unittest import mock

import peewee as pw
from flask import Flask

import cloud.db
from cloud.models import Client, Session, Site


def nested() -> pw.SelectQuery:
    """Clients who had a session at a site named so: a subquery inside a subquery."""
    sites = Site.select(Site.id).where(Site.name == "Ленина")
    sessions = Session.select(Session.client).where(Session.site.in_(sites))
    return Client.select(Client.id).where(Client.id.in_(sessions))


def test_a_nested_subquery_is_compiled_once_into_the_same_sql(app: Flask) -> None:
    compile_select = pw.Select.__sql__
    with mock.patch.object(pw.Select, "__sql__", autospec=True, side_effect=compile_select) as spy:
        fast = nested().sql()
    assert spy.call_count == 3  # the query and its two subqueries, once each

    peewees_own = mock.patch.object(pw.Expression, "_is_rhs_empty", cloud.db._is_rhs_empty)
    counted = mock.patch.object(pw.Select, "__sql__", autospec=True, side_effect=compile_select)
    with peewees_own, counted as spy:
        assert nested().sql() == fast  # the same text and parameters
    assert spy.call_count > 3


def test_an_empty_list_is_still_nothing(app: Flask) -> None:
    sql, _params = Client.select(Client.id).where(Client.id.in_([])).sql()
    assert "0 = 1" in sql
