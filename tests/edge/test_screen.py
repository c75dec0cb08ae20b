"""The attendant's touchscreen through Flask's test client: PIN log-in and lock, the dashboard,
search, the client account's actions, registering guests and members, and bad input that
stores nothing. No hardware: the app is built from a store, an engine and a devices stub."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import (
    LocalClient,
    LocalComment,
    LocalCredential,
    LocalLedger,
    LocalSession,
    Outbox,
    Store,
)
from sync.directory import validate_directory
from sync.lengths import MAX_COMMENT, MAX_NAME
from sync.money import format_kopecks
from tests.edge.conftest import (
    ATTENDANT_ID,
    EXPRESS,
    EXPRESS_NOW,
    GUEST,
    IVAN,
    SITE_ID,
    STAND_ID,
    STANDARD,
    VERSION,
    FakeClock,
    directory_doc,
    events,
    with_client,
)

PIN = "2580"
OTHER_ID, OTHER_PIN = 8, "1111"
LOGIN = f"/pin/{ATTENDANT_ID}"
TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def staff_row(staff_id: int, name: str, pin: str) -> dict[str, Any]:
    # A cheap hash keeps the tests fast; the stand reads any werkzeug hash.
    return {
        "id": staff_id,
        "full_name": name,
        "role": "attendant",
        "pin_hash": generate_password_hash(pin, method="pbkdf2:sha256:1000"),
    }


STAFF = [staff_row(ATTENDANT_ID, "Анна Смирнова", PIN), staff_row(OTHER_ID, "Олег", OTHER_PIN)]
IDLE_LOCK_S = 7 * 24 * 3600  # long, so tests can let sessions run; the lock tests use it too


def devices() -> dict[str, Any]:
    return {
        "reader": {"device": "usb", "state": "ok", "last_error": ""},
        "camera": {"source": "directory", "state": "failed", "last_error": "no camera"},
    }


def reload(store: Store, clock: FakeClock, version: int, **changes: Any) -> None:
    doc = directory_doc(version=version, **{"staff": STAFF, **changes})
    store.load_directory(validate_directory(doc), clock.now())


@pytest.fixture
def config(tmp_path: Path) -> EdgeConfig:
    return EdgeConfig(
        data_dir=tmp_path / "stand",
        stand_id=STAND_ID,
        site_id=SITE_ID,
        screen_idle_lock_s=IDLE_LOCK_S,
    )


@pytest.fixture
def app(store: Store, engine: Engine, config: EdgeConfig, clock: FakeClock) -> Flask:
    reload(store, clock, VERSION + 1)
    return create_state_app(StandParts(config, store, engine, devices))


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client


def token(client: FlaskClient) -> str:
    """The session's CSRF token, from the dashboard (or, signed out, the PIN keypad: opening
    it signs out, so it is not used while signed in)."""
    response = client.get("/")
    if response.status_code != 200:
        response = client.get(LOGIN)
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "no CSRF token"
    return match.group(1)


def post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": token(client), **data})


def log_in(client: FlaskClient, pin: str = PIN, staff_id: int = ATTENDANT_ID) -> Any:
    return post(client, f"/pin/{staff_id}", pin=pin)


@pytest.fixture
def signed_in(client: FlaskClient) -> FlaskClient:
    assert log_in(client).status_code == 302
    return client


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def red_line(response: Any) -> str:
    match = re.search(r'<p class="error-line" role="alert">([^<]*)</p>', text(response))
    return match.group(1) if match else ""


def counts(store: Store) -> dict[str, int]:
    models = (Outbox, LocalLedger, LocalSession, LocalClient, LocalCredential, LocalComment)
    return {model.__name__: store.tables[model].select().count() for model in models}


# --- log-in and lock ------------------------------------------------------------------------


def test_the_screen_starts_locked_with_the_staff_as_buttons(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/customer"
    assert 'href="/lock"' in text(client.get("/customer"))  # the staff's button
    page = text(client.get("/lock"))
    assert f'href="/pin/{ATTENDANT_ID}"' in page and "Анна Смирнова" in page
    assert f'href="/pin/{OTHER_ID}"' in page


def test_the_right_pin_opens_the_dashboard(client: FlaskClient) -> None:
    response = log_in(client)

    assert (response.status_code, response.location) == (302, "/")
    page = text(client.get("/"))
    assert "Анна Смирнова" in page and "Открытых сеансов нет" in page


def test_a_wrong_pin_is_a_red_line_and_no_entry(client: FlaskClient) -> None:
    response = log_in(client, "0000")

    assert response.status_code == 400
    assert red_line(response) == "Неверный PIN-код"
    assert client.get("/").status_code == 302
    assert log_in(client, OTHER_PIN).status_code == 400  # another staff member's PIN


def test_five_wrong_pins_lock_that_staff_member_out_for_a_minute(
    client: FlaskClient, clock: FakeClock
) -> None:
    for _ in range(4):
        assert log_in(client, "0000").status_code == 400
    fifth = log_in(client, "0000")
    assert "заблокирован на 60 с" in red_line(fifth)

    refused = log_in(client)  # even the right PIN, while locked
    assert refused.status_code == 429 and "Подождите" in red_line(refused)
    assert client.get("/").status_code == 302
    assert log_in(client, OTHER_PIN, OTHER_ID).status_code == 302  # others are not locked

    clock.advance(61)
    assert log_in(client).status_code == 302


def test_the_screen_locks_after_the_idle_time(
    signed_in: FlaskClient, clock: FakeClock, config: EdgeConfig
) -> None:
    clock.advance(config.screen_idle_lock_s - 1)
    assert signed_in.get("/").status_code == 200  # a touch: the idle time starts again
    clock.advance(config.screen_idle_lock_s - 1)
    assert signed_in.get("/live").status_code == 200  # a poll is not a touch
    clock.advance(2)

    response = signed_in.get("/")
    assert (response.status_code, response.location) == (302, "/customer")
    with signed_in.session_transaction() as cookie:
        assert "staff_id" not in cookie  # signed out, not just redirected


def test_a_poll_after_a_touch_keeps_the_screen_open_and_a_locked_poll_says_where_to_go(
    signed_in: FlaskClient, clock: FakeClock, config: EdgeConfig
) -> None:
    clock.advance(config.screen_idle_lock_s - 1)
    assert signed_in.get("/live?active=1").status_code == 200
    clock.advance(config.screen_idle_lock_s - 1)
    assert signed_in.get("/").status_code == 200

    clock.advance(config.screen_idle_lock_s + 1)
    response = signed_in.get("/live")
    assert response.status_code == 401
    assert response.get_json() == {"locked": True, "location": "/customer"}


def test_opening_the_keypad_signs_out(signed_in: FlaskClient) -> None:
    assert signed_in.get(LOGIN).status_code == 200
    assert signed_in.get("/").location == "/customer"


def test_logging_out_locks_the_screen(signed_in: FlaskClient) -> None:
    response = post(signed_in, "/logout")
    assert response.location == "/customer"
    assert signed_in.get("/").status_code == 302


def test_a_changed_pin_ends_the_session(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    reload(store, clock, VERSION + 2, staff=[staff_row(ATTENDANT_ID, "Анна Смирнова", "9999")])
    assert signed_in.get("/").status_code == 302


def test_csrf_is_required_on_every_form(signed_in: FlaskClient, store: Store) -> None:
    before = counts(store)
    for path, data in [
        (LOGIN, {"pin": PIN}),
        (f"/clients/{IVAN}/topup", {"amount": "100", "method": "cash"}),
        ("/guests/new", {"plate": "Х999ХХ77"}),
        (f"/clients/{IVAN}/comment", {"text": "без токена"}),
    ]:
        response = signed_in.post(path, data=data)
        assert response.status_code == 400, path
        assert "Страница устарела" in red_line(response)
    assert counts(store) == before


def test_the_secret_key_is_kept_owner_only(app: Flask, config: EdgeConfig) -> None:
    path = config.data_dir / "screen_secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == app.secret_key
    assert len(str(app.secret_key)) == 64


# --- dashboard ------------------------------------------------------------------------------


def test_the_dashboard_shows_each_open_session_with_time_and_cost(
    signed_in: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(5 * 60 + 7)
    cost = engine.running_cost(session)

    page = text(signed_in.get("/"))

    assert "Иван Петров" in page and "А123ВС77" in page
    assert format_kopecks(cost) in page and "0:05:07" in page
    assert f'href="/sessions/{session.uuid}/end"' in page
    live = signed_in.get("/live").get_json()
    assert live["sessions"] == [
        {"id": session.uuid, "elapsed_s": 307, "cost_kopecks": cost, "cost": format_kopecks(cost)}
    ]
    assert live["status"]["online"] is False and live["status"]["online_text"] == "нет связи"


def test_the_status_bar_tells_connection_directory_events_and_devices(
    signed_in: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(3 * 3600)
    page = text(signed_in.get("/"))
    assert "Справочник:" in page
    assert "нет связи" in page
    assert "3 ч назад" in page
    assert "Событий к отправке: 1" in page
    assert "в порядке" in page and "ошибка" in page  # the reader works, the camera failed

    clock.advance(2 * 24 * 3600)
    status = signed_in.get("/live").get_json()["status"]
    assert status["stale"] is True and "устарел" in text(signed_in.get("/"))


def test_the_api_state_is_served_by_the_same_app(
    client: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    state = client.get("/api/state").get_json()
    assert state["open_sessions"] == [
        {
            "id": session.uuid,
            "client_id": IVAN,
            "client_name": "Иван Петров",
            "plate": "А123ВС77",
            "started_at": "2024-06-10T10:00:00Z",
            "cost_kopecks": engine.running_cost(session),
        }
    ]
    assert state["online"] is False and state["devices"] == devices()


def test_ending_from_the_dashboard_with_a_comment_shows_the_client_account(
    signed_in: FlaskClient, engine: Engine, store: Store, clock: FakeClock
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(10 * 60)
    assert "Комментарий" in text(signed_in.get(f"/sessions/{session.uuid}/end"))

    response = post(signed_in, f"/sessions/{session.uuid}/end", comment="  Царапина на бампере  ")

    assert response.location == f"/clients/{IVAN}"
    ended = events(store, "session.ended")[-1]
    assert ended.actor == str(ATTENDANT_ID)
    assert ended.payload["comment"] == "Царапина на бампере"
    assert ended.payload["method"] == "dashboard" and ended.payload["duration_s"] == 600
    page = text(signed_in.get(response.location))
    assert "Сеанс завершён: 0:10:00" in page and "Царапина на бампере" in page
    assert 'id="topup"' in page


# --- search and the account -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["a123bc77", "A123BC 77", "а123вс-77", "123ВС", "иВАН", "петров", "8 916 123-45-67"]
)
def test_search_finds_by_plate_in_latin_letters_name_in_any_case_or_phone(
    signed_in: FlaskClient, query: str
) -> None:
    page = text(signed_in.get("/clients", query_string={"q": query}))
    assert f'href="/clients/{IVAN}"' in page and "Иван Петров" in page


def test_search_for_nobody_offers_to_register_a_guest(signed_in: FlaskClient) -> None:
    page = text(signed_in.get("/clients", query_string={"q": "Р404РР99"}))
    assert "Никого не нашли" in page and 'href="/guests/new"' in page


def test_a_top_up_changes_the_balance_and_waits_in_the_outbox(
    signed_in: FlaskClient, store: Store
) -> None:
    response = post(signed_in, f"/clients/{IVAN}/topup", amount="1 250,50", method="card")

    assert response.location == f"/clients/{IVAN}"
    assert store.balance_of(IVAN) == 100_000 + 125_050
    (event,) = events(store, "topup.recorded")
    assert (event.actor, event.payload["client_id"], event.payload["amount_kopecks"]) == (
        str(ATTENDANT_ID),
        IVAN,
        125_050,
    )
    assert event.payload["method"] == "card"
    page = text(signed_in.get(response.location))
    assert "Баланс пополнен на 1\xa0250,50\xa0₽" in page and "2\xa0250,50\xa0₽" in page


def test_the_account_starts_a_session_with_a_chosen_tariff_and_ends_it(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    page = text(signed_in.get(f"/clients/{IVAN}"))
    assert f'<option value="{STANDARD}" selected>' in page  # the stand's default
    response = post(signed_in, f"/clients/{IVAN}/start", tariff_id=str(EXPRESS))
    assert response.location == f"/clients/{IVAN}"
    started = events(store, "session.started")[-1]
    assert started.payload["tariff_version_id"] == EXPRESS_NOW
    assert started.payload["method"] == "screen"

    clock.advance(120)
    post(signed_in, f"/clients/{IVAN}/end", comment="")
    ended = events(store, "session.ended")[-1]
    assert (ended.payload["method"], ended.payload["cost_kopecks"]) == ("screen", 4000)
    assert store.balance_of(IVAN) == 96_000


def test_the_account_warns_of_a_session_open_at_another_post_and_starts_it_deliberately(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    assert 'id="open-elsewhere"' not in text(signed_in.get(f"/clients/{IVAN}"))
    clients = directory_doc()["clients"]
    elsewhere = [
        {**c, "open_session_stand_id": STAND_ID + 1} if c["id"] == IVAN else c for c in clients
    ]
    reload(store, clock, VERSION + 2, clients=elsewhere)

    page = text(signed_in.get(f"/clients/{IVAN}"))

    assert 'id="open-elsewhere"' in page and "уже идёт на другом посту" in page
    assert post(signed_in, f"/clients/{IVAN}/start").status_code == 302
    assert events(store, "session.started")[-1].payload["method"] == "screen"


def test_a_negative_balance_is_shown_in_red(
    signed_in: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    clock.advance(200 * 60)
    engine.end_session(session.uuid, ATTENDANT_ID)
    page = text(signed_in.get(f"/clients/{IVAN}"))
    assert f'<strong class="balance negative">{format_kopecks(-100_000)}</strong>' in page


def test_a_comment_on_a_client_is_an_event_and_shown(signed_in: FlaskClient, store: Store) -> None:
    post(signed_in, f"/clients/{IVAN}/comment", text="Просил мягкую щётку")

    (event,) = events(store, "comment.added")
    assert event.payload["text"] == "Просил мягкую щётку"
    assert (event.payload["client_id"], event.payload["session_uuid"]) == (IVAN, None)
    assert "Просил мягкую щётку" in text(signed_in.get(f"/clients/{IVAN}"))


def test_times_on_the_client_page_are_the_sites_local_time(
    signed_in: FlaskClient, engine: Engine, clock: FakeClock
) -> None:
    """The stand keeps UTC and shows the site's wall clock (Europe/Moscow, UTC+3)."""
    engine.add_comment(IVAN, "Утренняя мойка", ATTENDANT_ID)
    engine.start_session(IVAN, None, ATTENDANT_ID)

    page = text(signed_in.get(f"/clients/{IVAN}"))

    local = clock.now().astimezone(ZoneInfo("Europe/Moscow"))
    assert local.strftime("%d.%m.%Y %H:%M") in page  # the comment
    assert local.strftime("%d.%m %H:%M") in page  # the session's start
    assert clock.now().strftime("%H:%M") not in page and "UTC" not in page


def test_a_server_error_is_a_russian_line_with_a_way_back(
    app: Flask, signed_in: FlaskClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kiosk has no address bar: an unexpected failure says so in words and offers the way
    back to the main screen instead of a bare "Internal Server Error"."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken(*_args: Any, **_kwargs: Any) -> str:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(engine, "record_topup", broken)
    with _quiet(app):
        response = post(signed_in, f"/clients/{IVAN}/topup", amount="100", method="cash")

    assert response.status_code == 500
    assert "Что-то пошло не так, действие не выполнено" in red_line(response)
    assert 'href="/"' in response.get_data(as_text=True)
    assert "Internal Server Error" not in response.get_data(as_text=True)


@contextmanager
def _quiet(app: Flask) -> Iterator[None]:
    """Keep Flask's logged traceback of the planted failure out of the test's output."""
    app.logger.disabled = True
    try:
        yield
    finally:
        app.logger.disabled = False


# --- registering ----------------------------------------------------------------------------


def test_a_guest_registered_by_plate_starts_a_session_at_once(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    response = post(signed_in, "/guests/new", plate="x 999 xx 77", tariff_id="")

    assert response.location == "/"
    registered, started = events(store)
    assert registered.type == "guest.registered" and started.type == "session.started"
    client_uuid = registered.payload["client_uuid"]
    assert registered.payload == {"client_uuid": client_uuid, "plate": "Х999ХХ77"}
    assert started.payload["client_uuid"] == client_uuid and started.payload["client_id"] is None
    assert started.payload["client_kind"] == "guest" and started.actor == str(ATTENDANT_ID)
    (session,) = store.open_sessions()
    assert session.client_id < 0
    page = text(signed_in.get("/"))
    assert "Гость Х999ХХ77 зарегистрирован, сеанс начат" in page and "Х999ХХ77" in page

    # Found again by the plate typed in Latin letters, even after a new directory.
    reload(store, clock, VERSION + 5)
    assert store.credential("plate", "Х999ХХ77") is not None
    assert f'href="/clients/{session.client_id}"' in text(
        signed_in.get("/clients", query_string={"q": "X999XX77"})
    )


def test_a_local_guest_pays_with_events_naming_their_uuid(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    post(signed_in, "/guests/new", plate="Х999ХХ77")
    (session,) = store.open_sessions()
    clock.advance(60)
    post(signed_in, f"/clients/{session.client_id}/end", comment="Оплатил наличными")
    post(signed_in, f"/clients/{session.client_id}/topup", amount="50", method="cash")

    topup = events(store, "topup.recorded")[-1]
    guest_uuid = events(store, "guest.registered")[0].payload["client_uuid"]
    assert topup.payload["client_uuid"] == guest_uuid and topup.payload["client_id"] is None
    assert store.balance_of(session.client_id) == -5000 + 5000
    assert "Оплатил наличными" in text(signed_in.get(f"/clients/{session.client_id}"))


def test_a_member_is_registered_with_phone_plate_and_card(
    signed_in: FlaskClient, store: Store
) -> None:
    response = post(
        signed_in,
        "/members/new",
        name="  Мария   Кузнецова ",
        phone="8 (903) 111-22-33",
        plate="e001kx 750",
        card="04:aa:bb:cc",
    )

    (event,) = events(store, "client.registered")
    client_id = store.credential("card", "04AABBCC").client_id  # type: ignore[union-attr]
    assert response.location == f"/clients/{client_id}"
    assert event.payload == {
        "client_uuid": event.payload["client_uuid"],
        "name": "Мария Кузнецова",
        "phones": ["+79031112233"],
        "plates": ["Е001КХ750"],
        "cards": ["04AABBCC"],
        "guest_client_id": None,
        "guest_client_uuid": None,
    }
    page = text(signed_in.get("/clients", query_string={"q": "+7 903 111 22 33"}))
    assert "Мария Кузнецова" in page


def test_a_plate_of_no_russian_format_needs_the_foreign_tick(
    signed_in: FlaskClient, store: Store
) -> None:
    form = text(signed_in.get("/guests/new"))
    assert 'name="foreign"' in form
    refused = post(signed_in, "/guests/new", plate="W-AB 1234", tariff_id="")
    assert refused.status_code == 400
    assert "123CD177" in red_line(refused) and "Иностранный номер" in red_line(refused)
    assert events(store) == [] and store.open_sessions() == []
    near_miss = post(signed_in, "/guests/new", plate="А12ВС77", tariff_id="")
    assert near_miss.status_code == 400 and events(store) == []
    accepted = post(signed_in, "/guests/new", plate="W-AB 1234", tariff_id="", foreign="1")
    assert accepted.location == "/"
    registered, _started = events(store)
    assert registered.payload["plate"] == "WАВ1234"
    member = post(signed_in, "/members/new", name="Джон Смит", plate="ZZ 999")
    assert member.status_code == 400 and "Иностранный номер" in red_line(member)
    member = post(signed_in, "/members/new", name="Джон Смит", plate="ZZ 999", foreign="1")
    assert member.status_code == 302


# --- bad input stores nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        (f"/clients/{IVAN}/topup", {"amount": "сто", "method": "cash"}, "Некорректная сумма"),
        (f"/clients/{IVAN}/topup", {"amount": "-5", "method": "cash"}, "не может быть"),
        (f"/clients/{IVAN}/topup", {"amount": "0", "method": "cash"}, "больше нуля"),
        (f"/clients/{IVAN}/topup", {"amount": "10,001", "method": "cash"}, "двух знаков"),
        (f"/clients/{IVAN}/topup", {"amount": "100", "method": "bitcoin"}, "способ оплаты"),
        (f"/clients/{IVAN}/comment", {"text": "   "}, "Введите текст комментария"),
        (f"/clients/{IVAN}/start", {"tariff_id": "999"}, "Нет действующего тарифа"),
        (f"/clients/{IVAN}/start", {"tariff_id": "3"}, "Нет действующего тарифа"),  # inactive
        (f"/clients/{IVAN}/start", {"tariff_id": "abc"}, "Нет действующего тарифа"),
        (f"/clients/{IVAN}/end", {"comment": ""}, "Сеанс не найден"),
        ("/guests/new", {"plate": "!!"}, "Некорректный номер автомобиля"),
        ("/guests/new", {"plate": ""}, "Некорректный номер автомобиля"),
        ("/guests/new", {"plate": "a123bc77"}, "уже принадлежит другому клиенту"),
        ("/guests/new", {"plate": "Х999ХХ77", "tariff_id": "999"}, "Нет действующего тарифа"),
        ("/members/new", {"name": " ", "phone": ""}, "Введите имя клиента"),
        ("/members/new", {"name": "Ира", "phone": "12345"}, "Некорректный номер телефона"),
        ("/members/new", {"name": "Ира", "plate": "А123ВС77"}, "уже принадлежит"),
        ("/members/new", {"name": "Ира", "card": "XYZ"}, "Некорректный номер карты"),
        ("/members/new", {"name": "Ира", "card": "01:02:03:04:05"}, "4, 7, 8 или 10 байт"),
        ("/members/new", {"name": "Ира" * MAX_NAME}, "не длиннее 200 символов"),
    ],
)
def test_bad_input_is_a_red_line_and_stores_nothing(
    signed_in: FlaskClient, store: Store, path: str, data: dict[str, str], message: str
) -> None:
    before = counts(store)

    response = post(signed_in, path, **data)

    assert response.status_code == 400
    assert message in red_line(response)
    assert counts(store) == before


def test_a_comment_on_ending_longer_than_allowed_ends_nothing(
    signed_in: FlaskClient, engine: Engine
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    before = counts(engine.store)
    response = post(signed_in, f"/sessions/{session.uuid}/end", comment="x" * 2001)
    assert response.status_code == 400 and "2000" in red_line(response)
    assert counts(engine.store) == before


def test_a_guest_plate_of_a_known_client_links_to_them(signed_in: FlaskClient) -> None:
    response = post(signed_in, "/guests/new", plate="A123BC77")
    assert response.status_code == 400 and f'href="/clients/{IVAN}"' in text(response)


def test_unknown_clients_and_sessions_are_not_found(signed_in: FlaskClient) -> None:
    assert signed_in.get("/clients/999").status_code == 404
    assert signed_in.get("/clients/-5").status_code == 404
    assert signed_in.get("/sessions/nope/end").status_code == 404


# --- language -------------------------------------------------------------------------------


def test_english_is_one_touch_away(signed_in: FlaskClient, engine: Engine) -> None:
    engine.start_session(IVAN, None, ATTENDANT_ID)
    signed_in.get("/lang/en", headers={"Referer": "http://localhost/clients"})
    page = text(signed_in.get("/"))
    assert "Sessions" in page and "offline" in page and 'lang="en"' in page
    response = post(signed_in, f"/clients/{IVAN}/topup", amount="сто", method="cash")
    assert red_line(response) == "Invalid amount"
    signed_in.get("/lang/ru")
    assert "Сеансы" in text(signed_in.get("/"))


def test_refusals_and_limits_are_english_when_chosen(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    doc = with_client(directory_doc(version=VERSION + 2, staff=STAFF), IVAN, blocked=True)
    store.load_directory(validate_directory(doc), clock.now())
    signed_in.get("/lang/en")

    blocked = post(signed_in, f"/clients/{IVAN}/start")
    card = post(signed_in, "/members/new", name="Ира", card="0102030405")
    comment = post(signed_in, f"/clients/{IVAN}/comment", text="x" * (MAX_COMMENT + 1))

    assert red_line(blocked) == "The client is blocked"
    assert red_line(card) == "Invalid card number: a UID of 4, 7, 8 or 10 bytes is needed"
    assert red_line(comment) == f"Type the comment (at most {MAX_COMMENT} characters)"


def test_the_comment_boxes_hold_as_much_as_the_rule_allows(
    signed_in: FlaskClient, engine: Engine
) -> None:
    session = engine.start_session(IVAN, None, ATTENDANT_ID)
    for page in (f"/clients/{IVAN}", f"/sessions/{session.uuid}/end"):
        boxes = re.findall(r'<textarea[^>]*maxlength="(\d+)"', text(signed_in.get(page)))
        assert boxes and set(boxes) == {str(MAX_COMMENT)}


def test_the_card_of_a_member_registered_here_starts_a_session_when_tapped(
    signed_in: FlaskClient, store: Store, engine: Engine
) -> None:
    post(signed_in, "/members/new", name="Мария Кузнецова", card="04AABBCC")
    member_id = store.credential("card", "04AABBCC").client_id  # type: ignore[union-attr]
    engine.on_uid("04AABBCC")  # no money yet: refused for want of the minimum charge
    refused = events(store, "tap.refused")[-1]
    assert (refused.payload["reason"], refused.payload["client_id"]) == ("insufficient_funds", None)

    post(signed_in, f"/clients/{member_id}/topup", amount="300", method="cash")
    engine.on_uid("04AABBCC")

    started = events(store, "session.started")[-1]
    registered = events(store, "client.registered")[0]
    assert started.payload["client_uuid"] == registered.payload["client_uuid"]
    assert (started.payload["client_id"], started.payload["method"]) == (None, "card")
    assert store.open_session_of(member_id) is not None


def test_the_language_toggle_goes_back_only_to_this_host(signed_in: FlaskClient) -> None:
    for referrer in ("http://evil.example/x", "http://localhost//evil.example/x"):
        response = signed_in.get("/lang/en", headers={"Referer": referrer})
        assert response.location == "/"
    response = signed_in.get("/lang/ru", headers={"Referer": "http://localhost/clients?q=1"})
    assert response.location == "/clients?q=1"


def test_a_reboot_locks_the_screen_and_a_wall_clock_jump_does_not(
    signed_in: FlaskClient, clock: FakeClock
) -> None:
    clock.wall += timedelta(days=400)  # the clock set by NTP after boot
    assert signed_in.get("/").status_code == 200
    clock.reboot(down_s=5)
    assert signed_in.get("/").location == "/customer"


def test_the_account_starts_a_session_for_the_car_chosen_by_plate(
    signed_in: FlaskClient, store: Store
) -> None:
    page = text(signed_in.get(f"/clients/{IVAN}"))
    assert '<select name="plate">' in page and '<option value="А123ВС77">' in page

    refused = post(signed_in, f"/clients/{IVAN}/start", plate="О777ОО99")
    assert refused.status_code == 400 and "не принадлежит клиенту" in text(refused)
    assert events(store, "session.started") == []
    post(signed_in, f"/clients/{IVAN}/start", plate="А123ВС77")

    started = events(store, "session.started")[-1]
    assert (started.payload["credential_kind"], started.payload["credential_value"]) == (
        "plate",
        "А123ВС77",
    )


def test_the_account_shows_the_points_this_stand_may_spend_and_the_discount(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    assert 'id="points"' not in text(signed_in.get(f"/clients/{IVAN}"))
    doc = with_client(
        directory_doc(version=VERSION + 2, staff=STAFF),
        IVAN,
        points_balance=350,
        points_spending="points_first",
        discount_percent=5,
    )
    store.load_directory(validate_directory(doc), clock.now())

    page = text(signed_in.get(f"/clients/{IVAN}"))
    assert '<strong id="points">350</strong>' in page and "5 %" in page


# --- a card linked by a tap -----------------------------------------------------------------

NEW_CARD = "04C0FFEE123456"


def wait_for_card(client: FlaskClient) -> int:
    response = post(client, "/cards/wait")
    assert response.status_code == 200 and response.get_json()["waiting"] is True
    since: int = response.get_json()["since"]
    return since


def tapped(client: FlaskClient, since: int) -> dict[str, Any]:
    answer: dict[str, Any] = client.get("/cards/tapped", query_string={"since": since}).get_json()
    return answer


def test_a_card_tapped_after_the_button_is_the_pages_and_nothing_else(
    signed_in: FlaskClient, store: Store, engine: Engine, clock: FakeClock
) -> None:
    engine.on_uid("04AABBCC")  # before the button: an ordinary (refused) tap, not the page's
    clock.advance(1)
    since = wait_for_card(signed_in)
    assert tapped(signed_in, since) == {"waiting": True, "uid": None, "error": None}
    before = counts(store)

    engine.on_uid("04:c0:ff:ee:12:34:56")

    assert tapped(signed_in, since) == {"waiting": False, "uid": NEW_CARD, "error": None}
    assert counts(store) == before  # not refused as unknown: no event, nothing stored
    assert engine.last_feedback is not None and engine.last_feedback.code == "unknown"
    engine.on_uid("04AABBCC")  # the wait took one card: the next tap is a tap again
    assert events(store, "tap.refused")[-1].payload["credential_value"] == "04AABBCC"


def test_a_card_of_a_client_is_not_linked_again_and_starts_nothing(
    signed_in: FlaskClient, store: Store, engine: Engine
) -> None:
    since = wait_for_card(signed_in)

    engine.on_uid("04A1B2C3D4E5F6")  # Ivan's

    answer = tapped(signed_in, since)
    assert answer["uid"] is None and "уже принадлежит клиенту: Иван Петров" in answer["error"]
    assert store.open_session_of(IVAN) is None and events(store) == []


def test_the_wait_for_a_card_ends_after_half_a_minute_or_when_cancelled(
    signed_in: FlaskClient, store: Store, engine: Engine, clock: FakeClock
) -> None:
    since = wait_for_card(signed_in)
    clock.advance(31)
    assert "нажмите ещё раз" in tapped(signed_in, since)["error"]
    engine.on_uid(NEW_CARD)  # too late: an ordinary tap, refused as unknown
    assert events(store, "tap.refused")[-1].payload["reason"] == "unknown"
    assert tapped(signed_in, since)["uid"] is None

    wait_for_card(signed_in)
    post(signed_in, "/cards/cancel")
    engine.on_uid("04A1B2C3D4E5F6")  # Ivan's tap starts his session as usual
    assert store.open_session_of(IVAN) is not None


def test_waiting_for_a_card_needs_a_signed_in_attendant(
    client: FlaskClient, engine: Engine
) -> None:
    assert client.get("/cards/tapped", query_string={"since": 1}).status_code == 401
    assert client.post("/cards/wait").status_code == 400  # no CSRF token
    assert engine.card_wanted_until_ns == 0


def test_the_member_form_offers_to_tap_the_card_and_keeps_typing(signed_in: FlaskClient) -> None:
    page = text(signed_in.get("/members/new"))
    assert "Приложить карту" in page and 'name="card"' in page
    assert "Приложите карту, чтобы привязать" in page


def test_the_client_page_warns_of_a_session_at_another_post(
    signed_in: FlaskClient, store: Store, clock: FakeClock
) -> None:
    clients = [dict(row) for row in directory_doc()["clients"]]
    for row in clients:
        if row["id"] == GUEST:
            row["open_session_stand_id"] = STAND_ID + 1
    reload(store, clock, VERSION + 2, clients=clients)
    warning = "Сеанс клиента уже идёт на другом посту"
    assert warning in text(signed_in.get(f"/clients/{GUEST}"))
    assert warning not in text(signed_in.get(f"/clients/{IVAN}"))
