"""Prepared reads (cloud/prepared.py): built once per database, then run with new values, they
give what peewee gives for the same query every time, dates read as dates on SQLite too."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import peewee as pw
import pytest
from flask import Flask

from cloud.models import Client, Site, Stand
from cloud.prepared import Prepared


def stands_of(site_id: int, name: str) -> pw.ModelSelect:
    return Stand.select().where((Stand.site == site_id) & (Stand.name != name)).order_by(Stand.id)


def test_a_prepared_read_is_built_once_and_gives_what_peewee_gives(app: Flask) -> None:
    sites = [Site.create(name=f"Мойка {n}") for n in range(3)]
    seen = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    for site in sites:
        for n in range(3):
            Stand.create(site=site, name=f"Пост {n}", last_seen_at=seen)
    prepared = Prepared(stands_of)

    with mock.patch.object(
        pw.Select, "__sql__", autospec=True, side_effect=pw.Select.__sql__
    ) as spy:
        answers = [prepared.rows(site.id, name) for site in sites for name in ("Пост 0", "Пост 2")]
    assert spy.call_count == 1  # built the first time only

    expected = [list(stands_of(site.id, name)) for site in sites for name in ("Пост 0", "Пост 2")]
    assert [[(s.id, s.name) for s in rows] for rows in answers] == [
        [(s.id, s.name) for s in rows] for rows in expected
    ]
    assert {len(rows) for rows in answers} == {2}
    assert all(s.last_seen_at == seen for rows in answers for s in rows)  # a date, not text


def test_tuples_and_values_the_query_holds_itself(app: Flask) -> None:
    """Constants of the query stay in place; only the stand-ins take the new values."""
    Client.create(kind="member", name="Анна", balance_kopecks=500)
    Client.create(kind="guest", name="Борис", balance_kopecks=900)
    prepared = Prepared(
        lambda floor: (
            Client.select(Client.name)
            .where((Client.kind == "member") & (Client.balance_kopecks >= floor))
            .tuples()
        )
    )
    assert prepared.rows(100) == [("Анна",)]
    assert prepared.rows(600) == []


def test_a_value_used_twice_is_built_every_time(app: Flask) -> None:
    site = Site.create(name="Мойка")
    Stand.create(site=site, name="Пост 1")
    prepared = Prepared(lambda x: Stand.select().where((Stand.id == x) | (Stand.site == x)))
    with mock.patch.object(
        pw.Select, "__sql__", autospec=True, side_effect=pw.Select.__sql__
    ) as spy:
        prepared.rows(site.id)
        prepared.rows(site.id)
    assert spy.call_count == 3  # the stand-ins' try, then peewee's own build for each run


def test_only_ints_and_strings(app: Flask) -> None:
    with pytest.raises(TypeError):
        Prepared(lambda flag: Stand.select().where(Stand.id == flag)).rows(True)
