"""Real-browser fixtures: the central service on a loopback port and Debian's Chromium driven
by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.cloud.conftest import (  # the central fixtures, shared with the browser tests
    _truncate_all,
    app,
    clock,
    fast_password_hashing,
    postgres_schema_url,
    world,
)
from tests.conftest import need
from tests.edge.conftest import start_stand  # a simulated stand, for the customer's display

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
