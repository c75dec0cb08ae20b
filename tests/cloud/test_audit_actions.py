"""Every kind of staff action the audit log knows (``cloud.audit.service.ACTIONS``) writes one
row, with the values before and after; an action refused by validation writes none."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, current_app

from cloud.alerts import recipients
from cloud.audit.service import ACTIONS
from cloud.catalog import pricing, sites, tariffs
from cloud.clients import corporate, credentials, funds
from cloud.clients import service as clientbook
from cloud.errors import DomainError
from cloud.ledger import service as ledger
from cloud.loyalty import bonus
from cloud.loyalty import settings as loyalty_settings
from cloud.loyalty.bonus import PointsRules
from cloud.models import (
    ApiToken,
    AuditEntry,
    Credential,
    HeldTopup,
    LoginThrottle,
    Session,
)
from cloud.sessions import forceclose
from cloud.staff import auth
from cloud.staff import service as staffbook
from cloud.standsync import standauth
from cloud.standsync.ingest import held as heldbook
from sync.errors import RuleError
from sync.pricing import Rates
from tests.cloud.conftest import World
from tests.cloud.heldrows import add_held_topup
from tests.cloud.sessionrows import add_session

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RATES = Rates(member_per_minute=1000, guest_per_minute=1500, step_s=60, min_charge=5000)
# Codes kept for actions other parts add (online refunds: cloud/payments; restoring a client).
RESERVED = {"ledger.refund", "client.restored"}


def _card(world: World) -> Credential:
    return Credential.get((Credential.client == world.member) & (Credential.kind == "card"))


def _held(world: World) -> HeldTopup:
    return add_held_topup(world, NOW)


def _open_session(world: World) -> Session:
    """A session no stand wrote (no uuid), open for 30 minutes at ``NOW``."""
    return add_session(
        world.member, world.stand_a, world.tariff_version, started_at=NOW - timedelta(minutes=30)
    )


def _corporate(world: World) -> None:
    clientbook.update_client(None, world.member, corporate=True)


def _throttle() -> int:
    row = LoginThrottle.create(key="phone:+79000000001", failures=5, locked_until=NOW)
    return row.id


def _token(world: World) -> int:
    staffbook.issue_token(world.users["owner"], world.users["operator"], 30, NOW)
    return ApiToken.select().order_by(ApiToken.id.desc()).first().id


Action = Callable[[World, Any, Any], Any]

# action code -> (setup, the action, (before, after) each row should hold at least)
CASES: dict[str, tuple[Callable[[World], Any] | None, Action, dict[str, Any], dict[str, Any]]] = {
    "ledger.topup": (
        None,
        lambda w, o, _s: ledger.record_topup(o, w.member, 5000, "cash"),
        {"balance_kopecks": 0},
        {"balance_kopecks": 5000, "amount_kopecks": 5000, "method": "cash", "kind": "topup"},
    ),
    "ledger.adjustment": (
        None,
        lambda w, o, _s: ledger.adjust_balance(o, w.member, -1200, "ошибка кассира"),
        {"balance_kopecks": 0},
        {"balance_kopecks": -1200, "amount_kopecks": -1200, "kind": "adjustment"},
    ),
    "held_topup.released": (
        _held,
        lambda w, o, held: heldbook.release(held.id, o, NOW),
        {"status": "held", "amount_kopecks": 7_000_000},
        {"status": "released", "balance_kopecks": 7_000_000},
    ),
    "held_topup.rejected": (
        _held,
        lambda w, o, held: heldbook.reject(held.id, o, NOW, "чужие деньги"),
        {"status": "held"},
        {"status": "rejected", "balance_kopecks": 0},
    ),
    "session.force_closed": (
        _open_session,
        lambda w, o, session: forceclose.force_close(
            o, session.id, "Пост сгорел", NOW, forceclose.ForceRules()
        ),
        {"session_id": 1, "ended_at": None},
        {"session_id": 1, "reason": "not_from_stand", "cost_kopecks": 30000},
    ),
    "points.adjusted": (
        None,
        lambda w, o, _s: bonus.adjust_points(o, w.member, 150, "подарок", bonus.OFF, NOW),
        {"points": 0},
        {"points": 150, "amount_points": 150, "kind": "bonus_adjustment"},
    ),
    "client.terms": (
        None,
        lambda w, o, _s: bonus.update_terms(w.member, discount_percent=10),
        {"discount_percent": 0},
        {"discount_percent": 10},
    ),
    "client.overdraft": (
        None,
        lambda w, o, _s: funds.set_overdraft(w.member, 50_000),
        {"overdraft_limit_kopecks": None},
        {"overdraft_limit_kopecks": 50_000},
    ),
    "card.daily_limit": (
        None,
        lambda w, o, _s: corporate.set_card_limit(o, w.member, _card(w).id, 300_000),
        {"daily_limit_kopecks": None, "value": "04A1B2C3D4E5F6"},
        {"daily_limit_kopecks": 300_000},
    ),
    "client.created": (
        None,
        lambda w, o, _s: clientbook.create_client(
            o, kind="member", name="Анна Новая", phones=["+79001112233"], site_id=w.site_a.id
        ),
        None,
        {"name": "Анна Новая", "kind": "member", "phones": ["+79001112233"]},
    ),
    "client.updated": (
        None,
        lambda w, o, _s: clientbook.update_client(o, w.member, name="Иван Сидоров"),
        {"name": "Иван Петров"},
        {"name": "Иван Сидоров"},
    ),
    "client.promoted": (
        None,
        lambda w, o, _s: clientbook.promote_to_member(o, w.guest, name="Пётр Гостев"),
        {"kind": "guest", "name": ""},
        {"kind": "member", "name": "Пётр Гостев"},
    ),
    "client.blocked": (
        None,
        lambda w, o, _s: clientbook.set_blocked(o, w.member, True, "долг"),
        {"blocked": False, "blocked_reason": ""},
        {"blocked": True, "blocked_reason": "долг"},
    ),
    "client.unblocked": (
        lambda w: clientbook.set_blocked(None, w.member, True, "долг"),
        lambda w, o, _s: clientbook.set_blocked(o, w.member, False),
        {"blocked": True, "blocked_reason": "долг"},
        {"blocked": False, "blocked_reason": ""},
    ),
    "client.deleted": (
        None,
        lambda w, o, _s: clientbook.delete_client(o, w.guest),
        {"deleted_at": None, "credentials": ["О777ОО99"]},
        {"credentials": []},
    ),
    "loyalty.settings": (
        None,
        lambda w, o, _s: loyalty_settings.save(
            o,
            current_app.config["AQ"],
            replace(PointsRules.from_config(current_app.config["AQ"]), welcome=500),
        ),
        {"points_welcome": 0},
        {"points_welcome": 500},
    ),
    "credential.linked": (
        None,
        lambda w, o, _s: credentials.link_plate(o, w.member, "В456ОР77"),
        None,
        {"kind": "plate", "value": "В456ОР77", "unlinked_at": None},
    ),
    "credential.unlinked": (
        None,
        lambda w, o, _s: credentials.unlink_credential(o, w.member, _card(w).id),
        {"kind": "card", "unlinked_at": None},
        {"kind": "card"},
    ),
    "credential.lost": (
        None,
        lambda w, o, _s: credentials.mark_card_lost(o, w.member, _card(w).id),
        {"lost": False},
        {"lost": True},
    ),
    "qr.issued": (
        None,
        lambda w, o, _s: credentials.issue_qr(o, w.member, current_app.config["AQ"]),
        {"qr_token_id": None},
        {},
    ),
    "driver.added": (
        _corporate,
        lambda w, o, _s: corporate.add_driver(o, w.member, "Водитель Один"),
        None,
        {"name": "Водитель Один", "card_id": None},
    ),
    "driver.removed": (
        lambda w: (_corporate(w), corporate.add_driver(None, w.member, "Водитель Два"))[1],
        lambda w, o, driver: corporate.remove_driver(o, w.member, driver.id),
        {"name": "Водитель Два"},
        None,
    ),
    "tariff.created": (
        None,
        lambda w, o, _s: tariffs.create_tariff(o, name="Экспресс", rates=RATES, now=NOW),
        None,
        {"name": "Экспресс", "member_per_minute": 1000, "min_charge": 5000},
    ),
    "tariff.renamed": (
        None,
        lambda w, o, _s: tariffs.rename_tariff(w.tariff, "Базовый"),
        {"name": "Стандарт"},
        {"name": "Базовый"},
    ),
    "tariff.activated": (
        lambda w: tariffs.set_active(w.tariff, False),
        lambda w, o, _s: tariffs.set_active(w.tariff, True),
        {"active": False},
        {"active": True},
    ),
    "tariff.deactivated": (
        None,
        lambda w, o, _s: tariffs.set_active(w.tariff, False),
        {"active": True},
        {"active": False},
    ),
    "tariff.version_added": (
        None,
        lambda w, o, _s: tariffs.add_version(
            o, w.tariff, Rates(1200, 1800, 60, 6000), NOW + timedelta(days=1), NOW
        ),
        {"member_per_minute": 1000, "guest_per_minute": 1500, "min_charge": 5000},
        {"member_per_minute": 1200, "guest_per_minute": 1800, "min_charge": 6000},
    ),
    "tariff.version_changed": (
        lambda w: tariffs.add_version(None, w.tariff, RATES, NOW + timedelta(days=1), NOW),
        lambda w, o, version: pricing.update_version(
            o, version, Rates(900, 1400, 60, 5000), NOW + timedelta(days=2), NOW
        ),
        {"member_per_minute": 1000, "effective_from": "2026-03-02T09:00:00Z"},
        {"member_per_minute": 900, "effective_from": "2026-03-03T09:00:00Z"},
    ),
    "tariff.version_cancelled": (
        lambda w: tariffs.add_version(None, w.tariff, RATES, NOW + timedelta(days=1), NOW),
        lambda w, o, version: pricing.cancel_version(o, version, NOW),
        {"member_per_minute": 1000, "effective_from": "2026-03-02T09:00:00Z"},
        None,
    ),
    "site.default_tariff_set": (
        None,
        lambda w, o, _s: pricing.set_site_default(o, w.site_a, w.tariff.id),
        {"default_tariff": None},
        {"default_tariff": "Стандарт"},
    ),
    "stand.default_tariff_set": (
        lambda w: pricing.set_stand_default(None, w.stand_a, w.tariff.id),
        lambda w, o, _s: pricing.set_stand_default(o, w.stand_a, None),
        {"default_tariff": "Стандарт"},
        {"default_tariff": None},
    ),
    "staff.created": (
        None,
        lambda w, o, _s: staffbook.create_staff(
            name="Новый Оператор",
            phone="+79005550000",
            role="operator",
            password="long-enough-pass-1",
            site_ids=[w.site_b.id],
            actor=o,
        ),
        None,
        {"full_name": "Новый Оператор", "role": "operator", "site_ids": [2], "active": True},
    ),
    "staff.updated": (
        None,
        lambda w, o, _s: staffbook.update_staff(
            o,
            w.users["attendant"],
            staffbook.StaffChanges(role="operator", site_ids=[w.site_a.id, w.site_b.id]),
        ),
        {"role": "attendant", "site_ids": [1]},
        {"role": "operator", "site_ids": [1, 2]},
    ),
    "staff.deactivated": (
        None,
        lambda w, o, _s: staffbook.update_staff(
            o, w.users["operator"], staffbook.StaffChanges(active=False)
        ),
        {"active": True},
        {"active": False},
    ),
    "staff.activated": (
        lambda w: staffbook.update_staff(
            None, w.users["operator"], staffbook.StaffChanges(active=False)
        ),
        lambda w, o, _s: staffbook.update_staff(
            o, w.users["operator"], staffbook.StaffChanges(active=True)
        ),
        {"active": False},
        {"active": True},
    ),
    "staff.deleted": (
        None,
        lambda w, o, _s: staffbook.delete_staff(o, w.users["attendant"]),
        {"full_name": "Сотрудник attendant", "role": "attendant", "active": True},
        {"deleted": True, "tokens_revoked": 1},
    ),
    "staff.password": (
        None,
        lambda w, o, _s: staffbook.change_password(o, w.users["operator"], "brand-new-pass-7"),
        None,
        {"tokens_revoked": 1},
    ),
    "staff.pin": (
        None,
        lambda w, o, _s: staffbook.change_pin(o, w.users["operator"], "975310"),
        None,
        None,
    ),
    "staff.alerts": (
        None,
        lambda w, o, _s: recipients.set_choice(
            o, w.users["operator"].id, "op@aquastand.example", ["receipts"]
        ),
        {"email": "", "kinds": []},
        {"email": "op@aquastand.example", "kinds": ["receipts"]},
    ),
    "login.lock_cleared": (
        lambda w: _throttle(),
        lambda w, o, throttle_id: auth.clear_throttle(throttle_id),
        {"key": "phone:+79000000001", "failures": 5},
        None,
    ),
    "token.issued": (
        None,
        lambda w, o, _s: staffbook.issue_token(o, w.users["operator"], 30, NOW),
        None,
        {"expires_at": "2026-03-31T09:00:00Z"},
    ),
    "token.revoked": (
        _token,
        lambda w, o, token_id: staffbook.revoke_token(o, w.users["operator"], token_id),
        {"revoked_at": None},
        {},
    ),
    "site.created": (
        None,
        lambda w, o, _s: sites.create_site("Мойка на Мира"),
        None,
        {"name": "Мойка на Мира"},
    ),
    "site.renamed": (
        None,
        lambda w, o, _s: sites.rename_site(w.site_a, "Мойка на Ленина, 5"),
        {"name": "Мойка на Ленина"},
        {"name": "Мойка на Ленина, 5"},
    ),
    "stand.created": (
        None,
        lambda w, o, _s: sites.create_stand(w.site_a, "Пост 2"),
        None,
        {"name": "Пост 2", "site_id": 1},
    ),
    "stand.renamed": (
        None,
        lambda w, o, _s: sites.rename_stand(w.stand_a, "Пост 9"),
        {"name": "Пост 1"},
        {"name": "Пост 9"},
    ),
    "stand.provisioned": (
        None,
        lambda w, o, _s: standauth.issue_code(w.stand_a, NOW),
        {"enrol_code_expires_at": None, "enrolled": False},
        {"enrolled": False},
    ),
    "stand.revoked": (
        lambda w: standauth.issue_code(w.stand_a, NOW),
        lambda w, o, _s: standauth.revoke(w.stand_a, NOW),
        {"revoked_at": None},
        {"revoked_at": "2026-03-01T09:00:00Z", "enrol_code_expires_at": None},
    ),
}


def test_every_action_the_log_knows_has_a_case_here() -> None:
    assert set(CASES) | RESERVED == set(ACTIONS)


def _rows_after(start: int) -> list[AuditEntry]:
    return list(AuditEntry.select().where(AuditEntry.id > start).order_by(AuditEntry.id))


def _contains(stored: str | None, expected: dict[str, Any] | None) -> None:
    if expected is None:
        assert stored is None
        return
    assert stored is not None
    values = json.loads(stored)
    assert {key: values.get(key) for key in expected} == expected


@pytest.mark.parametrize("action", sorted(CASES))
def test_each_action_writes_one_row_with_the_values_before_and_after(
    app: Flask, world: World, action: str
) -> None:
    setup, act, before, after = CASES[action]
    state = setup(world) if setup is not None else None
    start = AuditEntry.select().order_by(AuditEntry.id.desc()).first()
    start_id = start.id if start is not None else 0
    owner = world.users["owner"]

    act(world, owner, state)

    rows = _rows_after(start_id)
    assert [row.action for row in rows] == [action]
    row = rows[0]
    _contains(row.before, before)
    _contains(row.after, after)
    assert row.target_kind in {"client", "staff", "tariff", "site", "stand", "login", "settings"}
    assert row.at is not None


def test_a_staff_action_names_its_actor_as_they_were(app: Flask, world: World) -> None:
    owner = world.users["owner"]

    ledger.record_topup(owner, world.member, 5000, "card")

    row = AuditEntry.get(AuditEntry.action == "ledger.topup")
    assert (row.actor_id, row.actor_name, row.actor_role) == (
        owner.id,
        "Сотрудник owner",
        "owner",
    )
    assert (row.target_kind, row.target_id, row.target_label) == (
        "client",
        world.member.id,
        "Иван Петров",
    )
    # Outside a request (the command line) there is no address and no token.
    assert (row.address, row.api_token_id) == ("", None)


REFUSED: dict[str, Callable[[World, Any], Any]] = {
    "a top-up of nothing": lambda w, o: ledger.record_topup(o, w.member, 0, "cash"),
    "an adjustment without a reason": lambda w, o: ledger.adjust_balance(o, w.member, 100, " "),
    "a deduction of more points than there are": lambda w, o: bonus.adjust_points(
        o, w.member, -10, "списать", bonus.OFF, NOW
    ),
    "a name too long": lambda w, o: clientbook.update_client(o, w.member, name="Я" * 500),
    "a plate already linked": lambda w, o: credentials.link_plate(o, w.member, "О777ОО99"),
    "a tariff with a taken name": lambda w, o: tariffs.create_tariff(
        o, name="Стандарт", rates=RATES, now=NOW
    ),
    "demoting the last owner": lambda w, o: staffbook.update_staff(
        o, o, staffbook.StaffChanges(role="operator")
    ),
    "deactivating oneself": lambda w, o: staffbook.update_staff(
        o, o, staffbook.StaffChanges(active=False)
    ),
    "a weak password": lambda w, o: staffbook.change_password(o, w.users["operator"], "123"),
    "a token for a year too long": lambda w, o: staffbook.issue_token(o, o, 5000, NOW),
    "a site with a taken name": lambda w, o: sites.create_site("Мойка на Гагарина"),
    "an overdraft too large": lambda w, o: funds.set_overdraft(w.member, 10**12),
    "a discount over 100%": lambda w, o: bonus.update_terms(w.member, discount_percent=150),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_action_refused_by_validation_writes_nothing(
    app: Flask, world: World, case: str
) -> None:
    before = AuditEntry.select().count()

    with pytest.raises((DomainError, RuleError)):
        REFUSED[case](world, world.users["owner"])

    assert AuditEntry.select().count() == before


def test_a_row_is_rolled_back_with_the_change_it_tells_of(app: Flask, world: World) -> None:
    """Recorded inside the change's transaction: a later failure in the same transaction
    (the API's PATCH of a client applies several services in one) takes the row with it."""
    from cloud.db import db_proxy

    before = AuditEntry.select().count()
    with pytest.raises(DomainError), db_proxy.atomic():
        funds.set_overdraft(world.member, 50_000)
        clientbook.update_client(world.users["owner"], world.member, name="Я" * 500)

    assert AuditEntry.select().count() == before
    assert funds.Client.get_by_id(world.member.id).overdraft_limit_kopecks is None
