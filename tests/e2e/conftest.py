"""Real-browser fixtures: the central service on a loopback port and Debian's Chromium driven
by Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import StateServer
from edge.stand import StandParts
from edge.store import Store
from sync.directory import validate_directory
from tests.cloud.conftest import (  # the central fixtures, shared with the browser tests
    _truncate_all,
    app,
    clock,
    fast_password_hashing,
    postgres_schema_url,
    world,
)
from tests.conftest import need
from tests.edge.conftest import (
    ATTENDANT_ID,
    GUEST,
    IVAN,
    SITE_ID,
    STAND_ID,
    FakeClock,
    RecordingFeedback,
    credential,
    directory_doc,
    start_stand,
)
from tests.edge.conftest import (
    client as client_row,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    need(
        Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
        "Debian's Chromium (" + CHROMIUM + ")",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test's central app served over real HTTP on 127.0.0.1 at a port the OS picks."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: str | None
) -> str:
    """The browser flow runs on the production database, PostgreSQL."""
    need(postgres_schema_url is not None, "PostgreSQL")
    assert postgres_schema_url is not None
    _truncate_all(postgres_schema_url)
    return postgres_schema_url


# --- the stand's touchscreen ------------------------------------------------------------------

PIN = "2580"
TIMEOUT_MS = 10_000
STAND_STAFF = [
    {"id": ATTENDANT_ID, "full_name": "Анна Смирнова", "role": "attendant"},
    {"id": 21, "full_name": "Олег Кузнецов", "role": "attendant"},
    {"id": 22, "full_name": "Светлана Михайловна Воробьёва", "role": "operator"},
    {"id": 23, "full_name": "Игорь Соколов", "role": "attendant"},
    {"id": 24, "full_name": "Мария Лебедева", "role": "attendant"},
]


def stand_staff(count: int = 1) -> list[dict[str, Any]]:
    """The site's staff as the directory sends them, each with the PIN ``PIN`` (a cheap hash)."""
    return [
        {**row, "pin_hash": generate_password_hash(PIN, method="pbkdf2:sha256:1000")}
        for row in STAND_STAFF[:count]
    ]


class StandScreen:
    """The touchscreen app of a hardware-less stand, served by waitress on a free port."""

    def __init__(self, store: Store, engine: Engine, server: StateServer) -> None:
        self.store = store
        self.engine = engine
        self.url = server.url


@contextlib.contextmanager
def serve_stand(
    data_dir: Path,
    document: dict[str, Any],
    clock: Any = None,
    seed: Callable[[Engine], None] | None = None,
    **config_changes: Any,
) -> Iterator[StandScreen]:
    """A stand's screen with ``document`` loaded, ``seed(engine)`` run, served on a free port."""
    config = EdgeConfig(data_dir=data_dir, stand_id=STAND_ID, site_id=SITE_ID, **config_changes)
    store = Store(config.database_path)
    store.load_directory(validate_directory(document), datetime.now(UTC))
    engine = Engine(store, RecordingFeedback(), config, clock)
    if seed is not None:
        seed(engine)

    def devices() -> dict[str, Any]:
        return {"reader": {"state": "ok"}, "camera": {"state": "ok"}}

    try:
        with StateServer(StandParts(config, store, engine, devices), port=0) as server:
            server.start()
            yield StandScreen(store, engine, server)
    finally:
        store.close()


@pytest.fixture
def stand_screen(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StandScreen]:
    """The screen with the test directory; an indirect parameter sets its idle lock in s."""
    idle_s = getattr(request, "param", 120)
    document = directory_doc(staff=stand_staff())
    with serve_stand(tmp_path / "stand", document, screen_idle_lock_s=idle_s) as screen:
        yield screen


def log_in(page: Any, url: str) -> None:
    """Sign in as the attendant with the PIN keypad."""
    page.goto(f"{url}/pin/{ATTENDANT_ID}")
    for digit in PIN:
        page.click(f".keypad button[data-digit='{digit}']")
    page.click(".keypad button[type=submit]")
    page.wait_for_url(f"{url}/")


# A busy stand for the layout tests: a regular with a long name, several cars, cards and phones,
# a month of sessions, top-ups and comments; three sessions running on the dashboard.
REGULAR = 10
REGULAR_NAME = "Константин Александрович Константинопольский-Вознесенский"
REGULAR_PLATES = ["К777КК777", "М001ММ97", "Т456ТТ199", "Р900РР50"]
REGULAR_CARDS = ["04AB12CD34EF56", "0A0B0C0D", "CAFEF00D"]
COMMENTS = [
    "Просил не мыть двигатель: после прошлой мойки не заводился, проверяли свечи",
    "Оплатил наличными, сдачу оставил на следующий раз",
    "Жалоба на разводы на заднем стекле, перемыли бесплатно",
    "Корпоративный клиент, чек нужен на организацию",
]


def busy_directory() -> dict[str, Any]:
    doc = directory_doc(staff=stand_staff(len(STAND_STAFF)))
    doc["clients"].append(
        client_row(
            REGULAR,
            "member",
            REGULAR_NAME,
            1_234_550,
            phones=["+79161234567", "+79037654321"],
            discount_percent=5,
        )
    )
    doc["credentials"] += [credential(REGULAR, "plate", p) for p in REGULAR_PLATES]
    doc["credentials"] += [credential(REGULAR, "card", c) for c in REGULAR_CARDS]
    return doc


def seed_a_month(engine: Engine) -> None:
    """Sessions, top-ups and comments of the regular over a month, then three open sessions:
    the regular's, Ivan's and a guest's (started by the attendant, as the screen may)."""
    clock = engine.clock
    for day in range(14):
        clock.advance(2 * 24 * 3600)
        started = engine.start_session(REGULAR, None, ATTENDANT_ID, REGULAR_PLATES[day % 4])
        clock.advance(600 + 97 * day)
        comment = COMMENTS[day % len(COMMENTS)] if day % 3 == 0 else ""
        engine.end_session(started.uuid, ATTENDANT_ID, comment)
        if day % 4 == 0:
            engine.record_topup(REGULAR, 150_000 + 5_000 * day, "cash", ATTENDANT_ID)
    for text in COMMENTS:
        engine.add_comment(REGULAR, text, ATTENDANT_ID)
    for client_id in (REGULAR, IVAN, GUEST):
        engine.start_session(client_id, None, ATTENDANT_ID)
        clock.advance(431)


@pytest.fixture
def busy_stand(tmp_path: Path) -> Iterator[StandScreen]:
    """A stand a month into its work (``seed_a_month``), its clock a little before now."""
    clock = FakeClock()
    clock.wall = datetime.now(UTC) - timedelta(days=30)
    with serve_stand(tmp_path / "stand", busy_directory(), clock, seed_a_month) as screen:
        yield screen
