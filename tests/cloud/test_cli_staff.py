"""``aquastand-cloud create-user`` and ``api-token``, run against the test database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from cloud.cli import main
from cloud.db import db_proxy
from cloud.models import User, UserSite
from tests.cloud.conftest import World, login


@pytest.fixture
def cli(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run a command as an operator would, against this test's database."""
    config = app.config["AQ"]
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", config.effective_database_url)
    app_database = app.extensions["aquastand_db"]

    def run(*args: str, stdin: str = "") -> Result:
        try:
            return CliRunner().invoke(main, list(args), input=stdin)
        finally:
            # The command binds its own connection; hand the proxy back to the app's.
            if db_proxy.obj is not app_database:
                db_proxy.obj.close()
                db_proxy.initialize(app_database)

    yield run


def test_create_user_reads_the_password_from_stdin(app: Flask, world: World, cli: Any) -> None:
    args = ("create-user", "--name", "Ольга Новикова", "--phone", "8 (905) 123-45-67")
    result = cli(
        *args, "--role", "administrator", "--site", world.site_b.name, stdin="from-stdin-123\n"
    )
    assert result.exit_code == 0, result.output
    user = User.get(User.phone == "+79051234567")
    assert (user.full_name, user.role, user.active) == ("Ольга Новикова", "administrator", True)
    assert [link.site_id for link in UserSite.select().where(UserSite.user == user)] == [
        world.site_b.id
    ]
    assert f"created user {user.id}" in result.output
    assert login(app.test_client(), "+79051234567", "from-stdin-123").status_code == 302


@pytest.mark.parametrize(
    ("phone", "password", "message"),
    [
        ("+79051234567", "short\n", "не короче 8 символов"),
        ("not-a-phone", "long-enough-1\n", "Некорректный номер телефона"),
        ("+79000000001", "long-enough-1\n", "Сотрудник с таким телефоном уже есть"),
    ],
    ids=["short password", "bad phone", "phone taken"],
)
def test_create_user_refuses_bad_input(
    world: World, cli: Any, phone: str, password: str, message: str
) -> None:
    before = User.select().count()
    result = cli(
        "create-user", "--name", "Кто-то", "--phone", phone, "--role", "operator", stdin=password
    )
    assert result.exit_code != 0
    assert message in result.output
    assert User.select().count() == before


def test_create_user_refuses_an_unknown_role(world: World, cli: Any) -> None:
    before = User.select().count()
    result = cli(
        "create-user",
        "--name",
        "Кто-то",
        "--phone",
        "+79051234567",
        "--role",
        "king",
        stdin="long-enough-1\n",
    )
    assert result.exit_code == 2
    assert "king" in result.output
    assert User.select().count() == before


def test_api_token_prints_a_working_token_on_its_last_line(
    app: Flask, world: World, cli: Any
) -> None:
    result = cli("api-token", "--phone", "8 900 000-00-02")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("aqs_") and " " not in token
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == world.users["operator"].id


@pytest.mark.parametrize("phone", ["+79009999999", "what"])
def test_api_token_refuses_an_unknown_phone(world: World, cli: Any, phone: str) -> None:
    result = cli("api-token", "--phone", phone)
    assert result.exit_code != 0
    assert "aqs_" not in result.output


def test_api_token_refuses_an_inactive_user(world: World, cli: Any) -> None:
    User.update(active=False).where(User.id == world.users["operator"].id).execute()
    result = cli("api-token", "--phone", world.phone("operator"))
    assert result.exit_code != 0
    assert "aqs_" not in result.output
