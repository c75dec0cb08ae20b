"""Central-service fixtures: a fresh app per test on SQLite and again on PostgreSQL, logged-in
clients for every role, and a small world of sites, stands, tariffs, staff and clients."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import peewee
import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient

from bench.scratch import postgres_schema
from cloud import create_app
from cloud.clock import Clock, FixedClock, SystemClock
from cloud.db import db_proxy, open_database, release
from cloud.migrations import upgrade
from cloud.models import ALL_MODELS
from tests.cloud.onlinepay import emulator, paying_app  # fixtures of the online top-ups
from tests.conftest import need

POSTGRES_URL = os.environ.get(
    "AQUASTAND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct-horse-1"
ROLES = ("attendant", "operator", "administrator", "owner")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~75 ms a hash; the suite hashes thousands of times, so it uses cheap PBKDF2."""
    monkeypatch.setattr("cloud.staff.auth.PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str | None]:
    """A private schema in the test database for this run, with the current tables made once
    (None when PostgreSQL does not answer)."""
    with postgres_schema(POSTGRES_URL, prefix="aqtest") as url:
        if url is not None:
            database = open_database(url)
            db_proxy.initialize(database)
            upgrade(database)
            database.close()
        yield url


def _truncate_all(url: str) -> None:
    """Empty every table but schema_version and restart the ids. DELETE, children first, not
    TRUNCATE: TRUNCATE costs ~130 ms a test on PostgreSQL, DELETE of a test's rows a few ms."""
    database = open_database(url)
    with database.atomic():
        # The audit log refuses DELETE (its triggers, cloud/audit/service.py); a test database's
        # owner empties it with triggers off for this transaction (a superuser's setting).
        database.execute_sql("SET LOCAL session_replication_role = replica")
        for model in reversed(peewee.sort_models(ALL_MODELS)):
            table = model._meta.table_name
            if table == "schema_version":
                continue
            database.execute_sql(f'DELETE FROM "{table}"')  # noqa: S608
            sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
            database.execute_sql(f"SELECT setval({sequence}, 1, false)")
        # The deletes of directory rows were recorded by the triggers (cloud/changetriggers.py).
        database.execute_sql('DELETE FROM "directory_change"')
        database.execute_sql('DELETE FROM "directory_counter"')
    database.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Any, postgres_schema_url: str | None
) -> str:
    """Every central test runs on SQLite and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.sqlite3'}"
    need(postgres_schema_url is not None, "PostgreSQL at " + POSTGRES_URL)
    assert postgres_schema_url is not None
    _truncate_all(postgres_schema_url)
    return postgres_schema_url


class RequestIsolatedClient(FlaskClient):
    """A test client whose every request gets its own ``g``, as in production.

    The ``app`` fixture keeps an app context pushed for the test body, and Flask reuses a pushed
    context for requests: without this, ``g`` (Flask-Login's loaded user, the CSRF token, the API
    user) would leak from one request, or one browser, to the next."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        context = _cv_app.get(None)
        if context is None:
            return super().open(*args, **kwargs)
        outer = context.g
        context.g = self.application.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            context.g = outer


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """The app's clock: the wall clock, or a ``FixedClock`` at the moment a test gives
    (``@pytest.mark.parametrize("clock", [moment], indirect=True)``)."""
    moment = getattr(request, "param", None)
    return SystemClock() if moment is None else FixedClock(moment)


@pytest.fixture
def app(database_url: str, tmp_path: Any, clock: Clock) -> Iterator[Flask]:
    app = create_app(
        data_dir=tmp_path / "data", database_url=database_url, secret_key="test-secret", clock=clock
    )
    app.config["TESTING"] = True
    app.test_client_class = RequestIsolatedClient
    upgrade(app.extensions["aquastand_db"])
    with app.app_context():
        yield app
    release(app.extensions["aquastand_db"])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page like a browser would."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """POST a form with a valid CSRF token, as the browser would after loading a page."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client)}, **kwargs)


def login(client: FlaskClient, phone: str, password: str = PASSWORD) -> Any:
    return post_form(client, "/login", {"phone": phone, "password": password})


class World:
    """Two sites with a stand each, a tariff, a staff member of every role and a few clients."""

    def __init__(self) -> None:
        from cloud.models import Client, ClientPhone, Credential, Site, Stand, Tariff, TariffVersion
        from cloud.staff.auth import new_api_token
        from cloud.staff.service import create_staff

        self.site_a = Site.create(name="Мойка на Ленина")
        self.site_b = Site.create(name="Мойка на Гагарина")
        self.stand_a = Stand.create(site=self.site_a, name="Пост 1")
        self.stand_b = Stand.create(site=self.site_b, name="Пост 1")
        self.tariff = Tariff.create(name="Стандарт")
        self.tariff_version = TariffVersion.create(
            tariff=self.tariff,
            effective_from=datetime(2020, 1, 1, tzinfo=UTC),
            member_per_minute=1000,
            guest_per_minute=1500,
            step_s=60,
            min_charge=5000,
            grace_s=10,
        )
        self.users: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        for number, role in enumerate(ROLES, start=1):
            user = create_staff(
                name=f"Сотрудник {role}",
                phone=f"+7900000000{number}",
                role=role,
                password=PASSWORD,
                pin=str(number) * 6,
                site_names=[self.site_a.name],
            )
            self.users[role] = user
            self.tokens[role] = new_api_token(user)
        self.member = Client.create(
            kind="member",
            name="Иван Петров",
            email="ivan@example.ru",
            home_site=self.site_a,
            member_since=datetime.now(UTC),
        )
        ClientPhone.create(client=self.member, phone="+79161234567")
        Credential.create(client=self.member, kind="card", value="04A1B2C3D4E5F6")
        Credential.create(client=self.member, kind="plate", value="А123ВС77")
        self.guest = Client.create(kind="guest", home_site=self.site_a)
        Credential.create(client=self.guest, kind="plate", value="О777ОО99")
        self.other_site_client = Client.create(
            kind="member", name="Ольга Гагарина", home_site=self.site_b
        )
        Credential.create(client=self.other_site_client, kind="plate", value="Е001КХ50")

    def phone(self, role: str) -> str:
        return str(self.users[role].phone)

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def world(app: Flask) -> World:
    return World()


@pytest.fixture
def as_role(app: Flask, world: World) -> Any:
    """``as_role("operator")`` gives a test client logged in as that role's staff member."""

    def make(role: str) -> FlaskClient:
        browser = app.test_client()
        response = login(browser, world.phone(role))
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser

    return make
