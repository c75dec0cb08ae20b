"""Catalog pages: tariffs with their versions, sites and stands, as staff see and change them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud.db import utcnow
from cloud.models import Site, Stand, Tariff, TariffVersion
from sync.money import format_kopecks
from tests.cloud.conftest import post_form

MOSCOW = ZoneInfo("Europe/Moscow")
RATES_FORM = {
    "member_per_minute": "12,50",
    "guest_per_minute": "18",
    "step_s": "30",
    "grace_s": "15",
    "min_charge": "60",
    "cap": "3 000",
}


def catalog_counts() -> tuple[int, int, int, int]:
    return (
        Tariff.select().count(),
        TariffVersion.select().count(),
        Site.select().count(),
        Stand.select().count(),
    )


def local_day(days_from_today: int) -> str:
    return (utcnow().astimezone(MOSCOW).date() + timedelta(days=days_from_today)).isoformat()


# Tariffs


@pytest.mark.parametrize("role", ["attendant", "operator"])
def test_tariffs_page_shows_rates_in_roubles(as_role: Any, world: Any, role: str) -> None:
    response = as_role(role).get("/tariffs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Стандарт" in page
    assert format_kopecks(1000) in page  # "10,00 ₽" a minute for members
    assert format_kopecks(1500) in page  # guests
    assert format_kopecks(5000) in page  # minimum charge
    assert "60 с" in page
    assert "Новый тариф" not in page


def test_tariffs_page_lists_upcoming_changes(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    post_form(
        browser,
        f"/tariffs/{world.tariff.id}/versions",
        {**RATES_FORM, "effective_day": local_day(3)},
    )
    page = browser.get("/tariffs").get_data(as_text=True)
    assert format_kopecks(1250) in page
    assert (utcnow().astimezone(MOSCOW).date() + timedelta(days=3)).strftime("%d.%m.%Y") in page
    assert "Новый тариф" in page


@pytest.mark.parametrize("role", ["attendant", "operator"])
def test_readers_cannot_change_tariffs(as_role: Any, world: Any, role: str) -> None:
    browser = as_role(role)
    before = catalog_counts()
    assert browser.get("/tariffs/new").status_code == 403
    answers = [
        post_form(browser, "/tariffs/new", {"name": "Экспресс", **RATES_FORM}),
        post_form(
            browser,
            f"/tariffs/{world.tariff.id}/versions",
            {**RATES_FORM, "effective_day": local_day(1)},
        ),
        post_form(browser, f"/tariffs/{world.tariff.id}/rename", {"name": "Другой"}),
        post_form(browser, f"/tariffs/{world.tariff.id}/active", {"active": "0"}),
    ]
    assert [answer.status_code for answer in answers] == [403] * 4
    assert catalog_counts() == before
    stored = Tariff.get_by_id(world.tariff.id)
    assert (stored.name, stored.active) == ("Стандарт", True)
    page = browser.get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    assert "Изменить цены с даты" not in page
    assert format_kopecks(1000) in page


def test_anonymous_visitor_is_sent_to_log_in(client: Any, world: Any) -> None:
    response = client.get("/tariffs")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_administrator_creates_a_tariff_typed_in_roubles(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    assert "Новый тариф" in browser.get("/tariffs/new").get_data(as_text=True)
    response = post_form(browser, "/tariffs/new", {"name": "Экспресс", **RATES_FORM})
    assert response.status_code == 302
    tariff = Tariff.get(Tariff.name == "Экспресс")
    version = TariffVersion.get(TariffVersion.tariff == tariff)
    assert (version.member_per_minute, version.guest_per_minute) == (1250, 1800)
    assert (version.step_s, version.grace_s) == (30, 15)
    assert (version.min_charge, version.cap) == (6000, 300000)
    assert version.effective_from <= utcnow()
    assert version.created_by_id == world.users["administrator"].id
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Тариф «Экспресс» создан" in page
    assert format_kopecks(1250) in page
    assert format_kopecks(300000) in page


def test_an_empty_cap_means_no_cap(as_role: Any, world: Any) -> None:
    browser = as_role("owner")
    response = post_form(browser, "/tariffs/new", {"name": "Без предела", **RATES_FORM, "cap": ""})
    assert response.status_code == 302
    assert (
        TariffVersion.get(TariffVersion.tariff == Tariff.get(Tariff.name == "Без предела")).cap
        is None
    )


BAD_RATES = [
    ({"member_per_minute": "-10"}, "отрицательной"),
    ({"member_per_minute": "десять"}, "Некорректная сумма"),
    ({"guest_per_minute": ""}, "Введите сумму"),
    ({"member_per_minute": "10,555"}, "двух знаков"),
    ({"step_s": "0"}, "шаг тарификации"),
    ({"step_s": "минута"}, "целое число секунд"),
    ({"grace_s": "-5"}, "целое число секунд"),
    ({"min_charge": "60", "cap": "50"}, "меньше минимальной"),
    ({"cap": "0"}, "предельная сумма"),
]


def _status(message: str) -> int:
    """Each rate fine but the cap below the minimum charge: a rule between them, 422."""
    return 422 if message == "меньше минимальной" else 400


BAD_RATE_IDS = [
    "negative",
    "text",
    "empty",
    "three-decimals",
    "zero-step",
    "text-step",
    "negative-grace",
    "cap-below-minimum",
    "zero-cap",
]


@pytest.mark.parametrize(("change", "message"), BAD_RATES, ids=BAD_RATE_IDS)
def test_bad_new_tariff_form_stores_nothing(
    as_role: Any, world: Any, change: dict[str, str], message: str
) -> None:
    browser = as_role("administrator")
    before = catalog_counts()
    response = post_form(browser, "/tariffs/new", {"name": "Экспресс", **RATES_FORM, **change})
    assert response.status_code == _status(message)
    page = response.get_data(as_text=True)
    assert message.lower() in page.lower()
    assert 'value="Экспресс"' in page  # what was typed stays in the form
    assert catalog_counts() == before


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [("", 400, "Укажите название"), ("Т" * 101, 400, "100"), (" стандарт ", 409, "уже есть")],
    ids=["empty", "long", "taken"],
)
def test_bad_tariff_names_store_nothing(
    as_role: Any, world: Any, name: str, status: int, message: str
) -> None:
    browser = as_role("owner")
    before = catalog_counts()
    response = post_form(browser, "/tariffs/new", {"name": name, **RATES_FORM})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert catalog_counts() == before


def test_tariff_page_prefills_the_change_form_with_current_rates(as_role: Any, world: Any) -> None:
    page = as_role("administrator").get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    assert "Изменить цены с даты" in page
    assert 'name="member_per_minute" inputmode="decimal" autocomplete="off" value="10,00"' in page
    assert 'name="min_charge" inputmode="decimal" autocomplete="off" value="50,00"' in page
    assert f'value="{local_day(1)}"' in page
    assert "действует" in page


def test_a_change_from_a_date_starts_at_local_midnight(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    day = local_day(2)
    response = post_form(
        browser, f"/tariffs/{world.tariff.id}/versions", {**RATES_FORM, "effective_day": day}
    )
    assert response.status_code == 302
    version = TariffVersion.select().order_by(TariffVersion.id.desc()).get()
    expected = datetime.fromisoformat(day).replace(tzinfo=MOSCOW).astimezone(UTC)
    assert version.effective_from == expected
    assert version.member_per_minute == 1250
    # The old version is untouched: sessions priced with it keep their price.
    old = TariffVersion.get_by_id(world.tariff_version.id)
    assert (old.member_per_minute, old.guest_per_minute) == (1000, 1500)
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Новые цены запланированы" in page
    assert "запланирована" in page


def test_a_change_for_today_applies_at_once(as_role: Any, world: Any) -> None:
    browser = as_role("owner")
    typed = {**RATES_FORM, "effective_day": utcnow().astimezone(MOSCOW).strftime("%d.%m.%Y")}
    response = post_form(browser, f"/tariffs/{world.tariff.id}/versions", typed)
    assert response.status_code == 302
    version = TariffVersion.select().order_by(TariffVersion.id.desc()).get()
    assert utcnow() - timedelta(minutes=1) < version.effective_from <= utcnow()
    page = browser.get(f"/tariffs/{world.tariff.id}").get_data(as_text=True)
    assert "Новые цены действуют с этого момента" in page


@pytest.mark.parametrize(
    ("day", "status", "message"),
    [
        ("", 400, "Укажите дату"),
        ("завтра", 400, "Некорректная дата"),
        ("31.02.2030", 400, "Некорректная дата"),
        ("2020-01-01", 422, "в прошлом"),  # a day, but one the clock refuses
    ],
    ids=["empty", "text", "no-such-day", "past"],
)
def test_bad_change_dates_store_nothing(
    as_role: Any, world: Any, day: str, status: int, message: str
) -> None:
    browser = as_role("administrator")
    before = catalog_counts()
    url = f"/tariffs/{world.tariff.id}/versions"
    response = post_form(browser, url, {**RATES_FORM, "effective_day": day})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page
    assert 'value="12,50"' in page  # the typed rates stay in the form
    assert catalog_counts() == before


@pytest.mark.parametrize(("change", "message"), BAD_RATES, ids=BAD_RATE_IDS)
def test_bad_rates_in_a_change_store_nothing(
    as_role: Any, world: Any, change: dict[str, str], message: str
) -> None:
    browser = as_role("owner")
    before = catalog_counts()
    typed = {**RATES_FORM, "effective_day": local_day(1), **change}
    response = post_form(browser, f"/tariffs/{world.tariff.id}/versions", typed)
    assert response.status_code == _status(message)
    assert message.lower() in response.get_data(as_text=True).lower()
    assert catalog_counts() == before


def test_the_same_date_twice_is_refused(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    url = f"/tariffs/{world.tariff.id}/versions"
    typed = {**RATES_FORM, "effective_day": local_day(5)}
    assert post_form(browser, url, typed).status_code == 302
    before = catalog_counts()
    response = post_form(browser, url, {**typed, "member_per_minute": "13"})
    assert response.status_code == 409
    assert "уже есть версия" in response.get_data(as_text=True)
    assert catalog_counts() == before


def test_rename_and_deactivate_a_tariff(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    url = f"/tariffs/{world.tariff.id}"
    assert post_form(browser, f"{url}/rename", {"name": "Базовый"}).status_code == 302
    response = post_form(browser, f"{url}/active", {"active": "0"})
    assert response.status_code == 302
    stored = Tariff.get_by_id(world.tariff.id)
    assert (stored.name, stored.active) == ("Базовый", False)
    page = browser.get(url).get_data(as_text=True)
    assert "Тариф отключён" in page
    assert "Включить тариф" in page
    assert "отключён" in browser.get("/tariffs").get_data(as_text=True)
    assert post_form(browser, f"{url}/active", {"active": "1"}).status_code == 302
    assert Tariff.get_by_id(world.tariff.id).active is True


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("rename", {"name": "  "}, 400),
        ("rename", {"name": "Экспресс"}, 409),
        ("active", {"active": "maybe"}, 400),
    ],
    ids=["empty-name", "taken-name", "bad-flag"],
)
def test_bad_rename_or_flag_changes_nothing(
    as_role: Any, world: Any, path: str, data: dict[str, str], status: int
) -> None:
    browser = as_role("owner")
    post_form(browser, "/tariffs/new", {"name": "Экспресс", **RATES_FORM})
    response = post_form(browser, f"/tariffs/{world.tariff.id}/{path}", data)
    assert response.status_code == status
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    stored = Tariff.get_by_id(world.tariff.id)
    assert (stored.name, stored.active) == ("Стандарт", True)


def test_unknown_tariff_page_is_not_found(as_role: Any, world: Any) -> None:
    assert as_role("operator").get("/tariffs/9999").status_code == 404


# Sites and stands


def test_attendant_sees_only_own_sites(as_role: Any, world: Any) -> None:
    browser = as_role("attendant")
    page = browser.get("/sites").get_data(as_text=True)
    assert "Мойка на Ленина" in page
    assert "Мойка на Гагарина" not in page
    assert "Новая площадка" not in page
    assert browser.get(f"/sites/{world.site_a.id}").status_code == 200
    assert browser.get(f"/sites/{world.site_b.id}").status_code == 404


def test_sites_page_lists_stands_and_counts(as_role: Any, world: Any) -> None:
    Stand.create(site=world.site_a, name="Пост 2")
    page = as_role("operator").get("/sites").get_data(as_text=True)
    assert "Мойка на Гагарина" in page
    assert "Пост 1, Пост 2" in page
    assert '<td class="num">2</td>' in page  # stands at Lenina
    assert '<td class="num">4</td>' in page  # staff at Lenina


@pytest.mark.parametrize("role", ["attendant", "operator"])
def test_readers_cannot_change_sites(as_role: Any, world: Any, role: str) -> None:
    browser = as_role(role)
    before = catalog_counts()
    assert browser.get("/sites/new").status_code == 403
    answers = [
        post_form(browser, "/sites/new", {"name": "Новая"}),
        post_form(browser, f"/sites/{world.site_a.id}/rename", {"name": "Новая"}),
        post_form(browser, f"/sites/{world.site_a.id}/stands", {"name": "Пост 9"}),
        post_form(browser, f"/stands/{world.stand_a.id}/rename", {"name": "Пост 9"}),
    ]
    assert [answer.status_code for answer in answers] == [403] * 4
    assert catalog_counts() == before
    page = browser.get(f"/sites/{world.site_a.id}").get_data(as_text=True)
    assert "Пост 1" in page
    assert "Добавить пост" not in page


def test_administrator_creates_a_site_with_stands(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    response = post_form(browser, "/sites/new", {"name": "  Мойка на Мира "})
    assert response.status_code == 302
    site = Site.get(Site.name == "Мойка на Мира")
    assert "Площадка «Мойка на Мира» создана" in browser.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert post_form(browser, f"/sites/{site.id}/stands", {"name": "Пост 1"}).status_code == 302
    stand = Stand.get(Stand.site == site)
    assert post_form(browser, f"/stands/{stand.id}/rename", {"name": "Пост А"}).status_code == 302
    assert (
        post_form(browser, f"/sites/{site.id}/rename", {"name": "Мойка на Мира, 5"}).status_code
        == 302
    )
    page = browser.get(f"/sites/{site.id}").get_data(as_text=True)
    assert "Мойка на Мира, 5" in page
    assert 'value="Пост А"' in page


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("", 400, "Укажите название"),
        ("П" * 101, 400, "100"),
        ("мойка на гагарина", 409, "Площадка «Мойка на Гагарина» уже есть"),
    ],
    ids=["empty", "long", "taken"],
)
def test_bad_site_names_store_nothing(
    as_role: Any, world: Any, name: str, status: int, message: str
) -> None:
    browser = as_role("owner")
    before = catalog_counts()
    created = post_form(browser, "/sites/new", {"name": name})
    assert created.status_code == status
    assert message in created.get_data(as_text=True)
    renamed = post_form(browser, f"/sites/{world.site_a.id}/rename", {"name": name})
    assert renamed.status_code == status
    assert message in renamed.get_data(as_text=True)
    assert catalog_counts() == before
    assert Site.get_by_id(world.site_a.id).name == "Мойка на Ленина"


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("", 400, "Укажите название"),
        ("П" * 101, 400, "100"),
        ("пост 1", 409, "уже есть пост «Пост 1»"),
    ],
    ids=["empty", "long", "taken"],
)
def test_bad_stand_names_store_nothing(
    as_role: Any, world: Any, name: str, status: int, message: str
) -> None:
    browser = as_role("administrator")
    second = Stand.create(site=world.site_a, name="Пост 2")
    before = catalog_counts()
    created = post_form(browser, f"/sites/{world.site_a.id}/stands", {"name": name})
    assert created.status_code == status
    assert message in created.get_data(as_text=True)
    renamed = post_form(browser, f"/stands/{second.id}/rename", {"name": name})
    assert renamed.status_code == status
    assert message in renamed.get_data(as_text=True)
    assert catalog_counts() == before
    assert Stand.get_by_id(second.id).name == "Пост 2"


def test_a_stand_name_may_repeat_at_another_site(as_role: Any, world: Any) -> None:
    browser = as_role("administrator")
    response = post_form(browser, f"/sites/{world.site_b.id}/stands", {"name": "Пост 2"})
    assert response.status_code == 302
    response = post_form(browser, f"/sites/{world.site_a.id}/stands", {"name": "Пост 2"})
    assert response.status_code == 302
    assert Stand.select().where(Stand.name == "Пост 2").count() == 2
