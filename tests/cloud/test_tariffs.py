"""Tariffs and their versions: effective dates, no repricing of the past, validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud.catalog import tariffs
from cloud.db import utcnow
from cloud.errors import Conflict, NotFound, ValidationFailed
from cloud.models import Tariff, TariffVersion
from sync.errors import RuleError
from sync.pricing import Rates, price

CHEAP = Rates(member_per_minute=1000, guest_per_minute=1500, step_s=60, min_charge=5000, grace_s=10)
DEARER = Rates(
    member_per_minute=1200, guest_per_minute=1800, step_s=60, min_charge=5000, grace_s=10
)


@pytest.fixture(autouse=True)
def request_context(app: Any) -> Iterator[None]:
    """Messages are translated for the request's locale, as when a page or the API calls."""
    with app.test_request_context():
        yield


def counts() -> tuple[int, int]:
    return Tariff.select().count(), TariffVersion.select().count()


def test_a_change_applies_from_its_date_and_never_reprices_the_past(world: Any) -> None:
    admin = world.users["administrator"]
    change_at = utcnow() + timedelta(days=1)
    tariffs.add_version(admin, world.tariff, DEARER, change_at, utcnow())

    started_yesterday = utcnow() - timedelta(days=1)
    old = tariffs.version_at(world.tariff, started_yesterday)
    assert old.id == world.tariff_version.id
    assert price(old.rates(), "member", 600) == 10_000

    new = tariffs.version_at(world.tariff, change_at + timedelta(hours=1))
    assert price(new.rates(), "member", 600) == 12_000
    assert tariffs.version_at(world.tariff, change_at).id == new.id
    assert tariffs.version_at(world.tariff, change_at - timedelta(seconds=1)).id == old.id


def test_no_version_before_the_first_one(world: Any) -> None:
    with pytest.raises(NotFound):
        tariffs.version_at(world.tariff, datetime(2019, 12, 31, tzinfo=UTC))


def test_new_tariff_applies_at_once_with_its_first_version(world: Any) -> None:
    tariff = tariffs.create_tariff(
        world.users["owner"], name="  Экспресс  ", rates=CHEAP, now=utcnow()
    )
    assert tariff.name == "Экспресс"
    version = tariffs.version_at(tariff, utcnow())
    assert version.rates() == CHEAP
    assert version.created_by_id == world.users["owner"].id


def test_a_version_may_not_start_in_the_past(world: Any) -> None:
    before = counts()
    with pytest.raises(ValidationFailed) as caught:
        tariffs.add_version(None, world.tariff, DEARER, utcnow() - timedelta(minutes=5), utcnow())
    assert "прошлом" in caught.value.message
    with pytest.raises(ValidationFailed):
        tariffs.create_tariff(
            None,
            name="Вчерашний",
            rates=CHEAP,
            effective_from=utcnow() - timedelta(days=1),
            now=utcnow(),
        )
    assert counts() == before


def test_a_version_a_few_seconds_old_counts_as_now(world: Any) -> None:
    version = tariffs.add_version(
        None, world.tariff, DEARER, utcnow() - timedelta(seconds=20), utcnow()
    )
    assert tariffs.version_at(world.tariff, utcnow()).id == version.id


def test_two_versions_may_not_start_at_the_same_moment(world: Any) -> None:
    when = utcnow() + timedelta(days=3)
    tariffs.add_version(None, world.tariff, DEARER, when, utcnow())
    before = counts()
    with pytest.raises(Conflict):
        tariffs.add_version(None, world.tariff, CHEAP, when, utcnow())
    assert counts() == before


def test_far_future_is_refused(world: Any) -> None:
    with pytest.raises(ValidationFailed):
        tariffs.add_version(
            None, world.tariff, DEARER, datetime(9999, 12, 31, tzinfo=UTC), utcnow()
        )


@pytest.mark.parametrize(
    "rates",
    [
        Rates(member_per_minute=-100, guest_per_minute=1500),
        Rates(member_per_minute=1000, guest_per_minute=1500, step_s=0),
        Rates(member_per_minute=1000, guest_per_minute=1500, min_charge=5000, cap=4000),
        Rates(member_per_minute="10", guest_per_minute=1500),  # type: ignore[arg-type]
        Rates(member_per_minute=1000, guest_per_minute=1500, grace_s=-1),
        Rates(member_per_minute=10**12, guest_per_minute=1500),
    ],
    ids=["negative", "zero-step", "cap-below-minimum", "text", "negative-grace", "huge"],
)
def test_bad_rates_store_nothing(world: Any, rates: Rates) -> None:
    before = counts()
    with pytest.raises((RuleError, ValidationFailed)) as caught:
        tariffs.create_tariff(None, name="Новый", rates=rates, now=utcnow())
    assert caught.value.message.startswith("Тариф")
    with pytest.raises((RuleError, ValidationFailed)):
        tariffs.add_version(None, world.tariff, rates, utcnow() + timedelta(days=1), utcnow())
    assert counts() == before


@pytest.mark.parametrize("name", ["стандарт", "  Стандарт ", "СТАНДАРТ"])
def test_tariff_names_are_unique_whatever_the_case(world: Any, name: str) -> None:
    before = counts()
    with pytest.raises(Conflict) as caught:
        tariffs.create_tariff(None, name=name, rates=CHEAP, now=utcnow())
    assert caught.value.status == 409
    assert counts() == before


@pytest.mark.parametrize("name", ["", "   ", "Т" * 101])
def test_tariff_name_must_be_present_and_short(world: Any, name: str) -> None:
    before = counts()
    with pytest.raises(ValidationFailed):
        tariffs.create_tariff(None, name=name, rates=CHEAP, now=utcnow())
    assert counts() == before


def test_rename_keeps_names_unique(world: Any) -> None:
    other = tariffs.create_tariff(None, name="Экспресс", rates=CHEAP, now=utcnow())
    with pytest.raises(Conflict):
        tariffs.rename_tariff(other, "Стандарт")
    tariffs.rename_tariff(other, "Экспресс плюс")
    assert Tariff.get_by_id(other.id).name == "Экспресс плюс"
    tariffs.rename_tariff(world.tariff, "стандарт")  # its own name in another case
    assert Tariff.get_by_id(world.tariff.id).name == "стандарт"


def test_switching_a_tariff_off_keeps_its_versions(world: Any) -> None:
    tariffs.set_active(world.tariff, False)
    assert Tariff.get_by_id(world.tariff.id).active is False
    assert tariffs.version_at(world.tariff, utcnow()).id == world.tariff_version.id
    assert [t.id for t in tariffs.list_tariffs(active_only=True)] == []
    tariffs.set_active(world.tariff, True)
    assert [t.id for t in tariffs.list_tariffs(active_only=True)] == [world.tariff.id]


def test_a_day_in_a_form_means_local_midnight_and_today_means_now(app: Any) -> None:
    moscow = ZoneInfo("Europe/Moscow")
    now = datetime(2030, 3, 10, 12, 0, 30, 500, tzinfo=UTC)
    assert tariffs.effective_from_for_day(date(2030, 3, 10), "Europe/Moscow", now) == now.replace(
        microsecond=0
    )
    tomorrow = tariffs.effective_from_for_day(date(2030, 3, 11), "Europe/Moscow", now)
    assert tomorrow == datetime(2030, 3, 11, tzinfo=moscow)
    assert tomorrow == datetime(2030, 3, 10, 21, 0, tzinfo=UTC)


def test_tariff_as_the_api_shows_it(world: Any) -> None:
    when = utcnow() + timedelta(days=2)
    tariffs.add_version(None, world.tariff, DEARER, when, utcnow())
    data = tariffs.tariff_to_dict(world.tariff, utcnow())
    assert data["name"] == "Стандарт"
    assert data["active"] is True
    assert data["current"]["member_per_minute_kopecks"] == 1000
    assert data["current"]["cap_kopecks"] is None
    assert [v["member_per_minute_kopecks"] for v in data["upcoming"]] == [1200]
    assert [v["member_per_minute_kopecks"] for v in data["versions"]] == [1000, 1200]
    assert datetime.fromisoformat(data["upcoming"][0]["effective_from"]) == when
