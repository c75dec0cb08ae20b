"""Provisioning stands: one-time enrolment codes, the stand's token, revocation, from the
service, the site page and the ``provision-stand`` command."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cloud import cli
from cloud.db import db_proxy, utcnow
from cloud.errors import Conflict, ValidationFailed
from cloud.models import Stand
from cloud.standsync.standauth import (
    Unauthorized,
    enrol,
    issue_code,
    provision_stand,
    revoke,
    stand_for_token,
    state_of,
)
from tests.cloud.conftest import World, post_form

CODE = re.compile(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){7}")


def test_provisioning_a_new_stand_creates_it_and_stores_only_the_codes_hash(
    world: World,
) -> None:
    provisioned = provision_stand(world.site_a, "Пост 2", utcnow())

    assert CODE.fullmatch(provisioned.code)  # 32 base32 characters: 160 bits
    stand = Stand.get_by_id(provisioned.stand.id)
    assert (stand.site_id, stand.name) == (world.site_a.id, "Пост 2")
    plain = provisioned.code.replace("-", "")
    assert stand.enrol_code_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert provisioned.code not in str(stand.__data__)
    assert stand.enrol_code_expires_at - utcnow() > timedelta(hours=23)
    assert state_of(stand, utcnow()) == "awaiting"


def test_provisioning_an_existing_stand_by_name_reuses_it(world: World) -> None:
    provisioned = provision_stand(world.site_a, "  пост 1 ", utcnow())

    assert provisioned.stand.id == world.stand_a.id
    assert Stand.select().where(Stand.site == world.site_a).count() == 1


def test_provisioning_with_an_empty_name_is_refused(world: World) -> None:
    with pytest.raises(ValidationFailed):
        provision_stand(world.site_a, "   ", utcnow())
    assert Stand.select().count() == 2


def test_a_code_enrols_the_stand_once_as_typed_by_a_person(world: World) -> None:
    code = provision_stand(world.site_a, "Пост 1", utcnow()).code

    stand, token = enrol(f"  {code.lower().replace('-', ' ')} ", utcnow())

    assert stand.id == world.stand_a.id
    assert len(token.partition(".")[2]) >= 43  # 256 bits in URL-safe base64
    assert stand_for_token(token).id == world.stand_a.id
    stored = Stand.get_by_id(stand.id)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert state_of(stored, utcnow()) == "connected"
    with pytest.raises(Conflict) as used:
        enrol(code, utcnow())
    assert used.value.status == 409 and used.value.code == "code_used"


def test_an_expired_or_unknown_code_is_refused(world: World) -> None:
    old = issue_code(world.stand_a, now=utcnow() - timedelta(hours=25)).code

    with pytest.raises(Unauthorized) as expired:
        enrol(old, utcnow())
    with pytest.raises(Unauthorized) as unknown:
        enrol("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", utcnow())
    with pytest.raises(Unauthorized):
        enrol("", utcnow())

    assert expired.value.code == "code_expired" and "истёк" in expired.value.message
    assert unknown.value.code == "unknown_code"
    assert Stand.get_by_id(world.stand_a.id).token_hash is None


def test_a_revoked_stands_token_and_pending_code_stop_working_at_once(world: World) -> None:
    _stand, token = enrol(provision_stand(world.site_a, "Пост 1", utcnow()).code, utcnow())
    pending = issue_code(world.stand_a, utcnow()).code

    revoke(world.stand_a, utcnow())

    assert stand_for_token(token) is None
    with pytest.raises(Unauthorized):
        enrol(pending, utcnow())
    assert state_of(Stand.get_by_id(world.stand_a.id), utcnow()) == "revoked"


def test_reprovisioning_keeps_the_old_token_until_the_new_code_replaces_it(world: World) -> None:
    _stand, old_token = enrol(provision_stand(world.site_a, "Пост 1", utcnow()).code, utcnow())
    code = provision_stand(world.site_a, "Пост 1", utcnow()).code
    assert stand_for_token(old_token) is not None

    _stand, new_token = enrol(code, utcnow())

    assert stand_for_token(old_token) is None
    assert stand_for_token(new_token).id == world.stand_a.id


@pytest.mark.parametrize("token", ["", "abc", "1.", "99.x", "1.wrong-secret", "1" * 30 + ".x"])
def test_a_malformed_or_wrong_token_finds_no_stand(world: World, token: str) -> None:
    enrol(provision_stand(world.site_a, "Пост 1", utcnow()).code, utcnow())

    assert stand_for_token(token) is None


# --- the site page --------------------------------------------------------------------------


def _code_on(page: str) -> str | None:
    found = CODE.search(page)
    return found.group(0) if found else None


def test_an_administrator_connects_a_stand_from_the_site_page_and_sees_the_code_once(
    world: World, as_role: Any
) -> None:
    browser = as_role("administrator")
    assert "Подключить пост" in browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)

    response = post_form(browser, f"/stands/{world.stand_a.id}/provision", {})

    assert response.status_code == 200
    code = _code_on(response.get_data(as_text=True))
    assert code is not None
    again = browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert _code_on(again) is None and "ждёт подключения" in again
    assert enrol(code, utcnow())[0].id == world.stand_a.id
    connected = browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert '<span class="badge member">подключён</span>' in connected


def test_an_administrator_revokes_a_stand_from_the_site_page(world: World, as_role: Any) -> None:
    _stand, token = enrol(provision_stand(world.site_a, "Пост 1", utcnow()).code, utcnow())
    browser = as_role("administrator")

    response = post_form(browser, f"/stands/{world.stand_a.id}/revoke", {})

    assert response.status_code == 302
    assert stand_for_token(token) is None
    page = browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert "токен больше не принимается" in page
    assert '<span class="badge blocked">отключён</span>' in page


@pytest.mark.parametrize("action", ["provision", "revoke"])
def test_operators_may_not_connect_or_revoke_stands(
    world: World, as_role: Any, action: str
) -> None:
    _stand, token = enrol(provision_stand(world.site_a, "Пост 1", utcnow()).code, utcnow())
    browser = as_role("operator")

    response = post_form(browser, f"/stands/{world.stand_a.id}/{action}", {})

    assert response.status_code == 403
    assert stand_for_token(token) is not None
    assert _code_on(response.get_data(as_text=True)) is None


def test_connecting_a_stand_that_does_not_exist_is_not_found(world: World, as_role: Any) -> None:
    response = post_form(as_role("administrator"), "/stands/9999/provision", {})

    assert response.status_code == 404


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def commands(
    app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Any]:
    """Run ``aquastand-cloud`` against the test's database; the models are bound back after."""
    previous = db_proxy.obj
    monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("AQUASTAND_DATABASE_URL", database_url)
    monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)

    def run(*args: str) -> Any:
        try:
            return CliRunner().invoke(cli.main, list(args))
        finally:
            if db_proxy.obj is not previous:
                db_proxy.obj.close()
            db_proxy.initialize(previous)

    yield run


def test_provision_stand_prints_a_code_that_enrols_the_stand(world: World, commands: Any) -> None:
    result = commands("provision-stand", "--site", world.site_a.name, "--name", "Пост 3")

    assert result.exit_code == 0, result.output
    code = result.output.strip().splitlines()[-1]
    assert CODE.fullmatch(code)
    stand, _token = enrol(code, utcnow())
    assert (stand.name, stand.site_id) == ("Пост 3", world.site_a.id)


def test_provision_stand_refuses_an_unknown_site(world: World, commands: Any) -> None:
    result = commands("provision-stand", "--site", "Нет такой", "--name", "Пост 3")

    assert result.exit_code != 0 and "no site named" in result.output
    assert Stand.select().count() == 2
