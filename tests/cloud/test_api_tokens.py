"""API tokens against an administrator who would act as someone else (issue 19): only the
staff member themselves or an owner issue a token, the issuer is recorded, tokens expire and
a password change revokes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
import pytest
from flask import Flask

from cloud.clock import FixedClock
from cloud.migrations import MIGRATIONS
from cloud.models import ApiToken, User
from tests.cloud.conftest import World, post_form

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _issued(response: Any) -> str:
    match = re.search(r'value="(aqs_[^"]+)"', response.get_data(as_text=True))
    assert match, "no token on the page"
    return match.group(1)


def _me(app: Flask, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return int(app.test_client().get("/api/v1/me", headers=headers).status_code)


@pytest.mark.parametrize("target_role", ["administrator", "operator", "attendant"])
def test_an_administrator_cannot_mint_a_token_for_someone_else(
    as_role: Any, world: World, target_role: str
) -> None:
    from cloud.staff.service import create_staff

    target = world.users[target_role]
    if target_role == "administrator":
        target = create_staff(
            name="Второй администратор",
            phone="+79005550000",
            role="administrator",
            password="another-pass-9",
        )
    admin = as_role("administrator")
    before = ApiToken.select().count()
    card = admin.get(f"/staff/{target.id}").get_data(as_text=True)
    assert f'action="/staff/{target.id}/tokens"' not in card

    refused = post_form(admin, f"/staff/{target.id}/tokens", {})

    assert refused.status_code == 403
    assert "только сам сотрудник или владелец" in refused.get_data(as_text=True)
    assert ApiToken.select().count() == before


def test_the_owner_issues_a_token_for_someone_recorded_with_an_expiry(
    app: Flask, as_role: Any, world: World
) -> None:
    operator = world.users["operator"]
    response = post_form(as_role("owner"), f"/staff/{operator.id}/tokens", {})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = _issued(response)
    assert _me(app, token) == 200
    row = ApiToken.select().where(ApiToken.user == operator).order_by(ApiToken.id.desc()).get()
    assert row.issued_by_id == world.users["owner"].id
    assert row.expires_at == NOW + timedelta(days=app.config["AQ"].api_token_days)
    card = as_role("owner").get(f"/staff/{operator.id}").get_data(as_text=True)
    assert "Сотрудник owner" in card  # the issuer, in the token list


def test_an_administrator_issues_their_own_token(app: Flask, as_role: Any, world: World) -> None:
    admin = world.users["administrator"]
    token = _issued(post_form(as_role("administrator"), f"/staff/{admin.id}/tokens", {}))
    assert _me(app, token) == 200
    assert ApiToken.get(ApiToken.token_hash.is_null(False) & (ApiToken.issued_by == admin))


def test_a_token_stops_working_when_it_expires(
    app: Flask, as_role: Any, world: World, clock: FixedClock
) -> None:
    operator = world.users["operator"]
    app.config["AQ"].api_token_days = 7
    token = _issued(post_form(as_role("owner"), f"/staff/{operator.id}/tokens", {}))
    clock.advance(days=7, seconds=-1)
    assert _me(app, token) == 200
    clock.advance(seconds=1)
    assert _me(app, token) == 401


def test_a_password_change_revokes_the_tokens(app: Flask, as_role: Any, world: World) -> None:
    operator = world.users["operator"]
    token = _issued(post_form(as_role("owner"), f"/staff/{operator.id}/tokens", {}))
    changed = post_form(
        as_role("administrator"),
        f"/staff/{operator.id}/password",
        {"password": "brand-new-pass-7", "password_again": "brand-new-pass-7"},
    )
    assert changed.status_code == 302
    assert _me(app, token) == 401
    assert app.test_client().get("/api/v1/me", headers=world.bearer("operator")).status_code == 401
    assert (
        not ApiToken.select()
        .where((ApiToken.user == operator) & ApiToken.revoked_at.is_null())
        .exists()
    )
    assert app.test_client().get("/api/v1/me", headers=world.bearer("owner")).status_code == 200


def test_version_15_gives_the_tokens_issued_before_an_expiry(app: Flask, world: World) -> None:
    database: peewee.Database = app.extensions["aquastand_db"]
    ApiToken.update(expires_at=None).execute()
    assert _me(app, world.tokens["owner"]) == 401  # no expiry: works for nobody

    dict(MIGRATIONS)[15](database)  # run again: the columns are there, the expiry is filled

    rows = list(ApiToken.select())
    assert rows and all(row.expires_at is not None for row in rows)
    assert all(row.expires_at > datetime.now(UTC) + timedelta(days=89) for row in rows)
    assert _me(app, world.tokens["owner"]) == 200
    assert User.select().count() >= 4
