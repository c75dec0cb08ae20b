"""The production password and PIN hashing (scrypt), end to end: the rest of the suite hashes
with cheap PBKDF2 (tests/cloud/conftest.py), so this is the one place where a staff member's
real hashes are made centrally, checked by the central log-in, and carried in the directory to
a stand whose PIN keypad checks them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from cloud.models import User
from cloud.staff.service import create_staff
from edge.screen import create_state_app
from edge.stand import StandParts
from tests.cloud.conftest import login
from tests.integration.conftest import Central, DirectStand, provision

PHONE = "+79000000077"
PASSWORD = "scrypt-is-slow-1"
PIN = "482107"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def fast_password_hashing() -> None:
    """Overrides the suite's autouse fixture of this name: this module keeps the production
    method of ``cloud.staff.auth.PASSWORD_METHOD``."""


def _keypad(stand: DirectStand, staff_id: int, typed: str) -> Any:
    """Type ``typed`` on the stand's PIN keypad for ``staff_id``, as the touchscreen does."""
    app = create_state_app(StandParts(stand.config, stand.store, stand.engine, lambda: {}))
    with app.test_client() as screen:
        keypad = screen.get(f"/pin/{staff_id}")
        assert keypad.status_code == 200
        match = CSRF.search(keypad.get_data(as_text=True))
        assert match, "no CSRF token on the keypad"
        return screen.post(f"/pin/{staff_id}", data={"csrf_token": match.group(1), "pin": typed})


def test_a_scrypt_password_logs_in_centrally_and_the_scrypt_pin_opens_the_stand(
    central: Central, app: Flask, world: Any, direct_stand: Any
) -> None:
    member = create_staff(
        name="Вера Кассирова",
        phone=PHONE,
        role="attendant",
        password=PASSWORD,
        pin=PIN,
        site_ids=[world.site_a.id],
    )
    stored = User.get_by_id(member.id)
    assert stored.password_hash.startswith("scrypt:")
    assert stored.pin_hash.startswith("scrypt:")

    assert login(app.test_client(), PHONE, "not-the-password").status_code == 401
    assert login(app.test_client(), PHONE, PASSWORD).status_code == 302

    stand: DirectStand = direct_stand(central.url, provision(world.site_a, "Пост 5"))
    stand.sync("the stand's first directory")
    at_stand = stand.store.staff_member(member.id)
    assert at_stand is not None
    assert at_stand.pin_hash == stored.pin_hash

    assert _keypad(stand, member.id, "4822").status_code == 400
    accepted = _keypad(stand, member.id, PIN)
    assert (accepted.status_code, accepted.location) == (302, "/")
