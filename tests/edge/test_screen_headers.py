"""The stand screen's security headers (issue 19): CSP with no framing and scripts and styles
only from /static, nosniff, Referrer-Policy, pages never cached; no template has an inline
script or style the policy would block."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import Store
from tests.edge.conftest import ATTENDANT_ID, VERSION, FakeClock
from tests.edge.test_screen import devices, log_in, reload

TEMPLATES = Path(__file__).resolve().parents[2] / "edge" / "templates"
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.I
)


@pytest.fixture
def screen(
    store: Store, engine: Engine, config: EdgeConfig, clock: FakeClock
) -> Iterator[FlaskClient]:
    reload(store, clock, VERSION + 1)
    with create_state_app(StandParts(config, store, engine, devices)).test_client() as client:
        yield client


@pytest.mark.parametrize(
    "path", ["/customer", "/lock", f"/pin/{ATTENDANT_ID}", "/api/state", "/", "/static/screen.css"]
)
def test_every_answer_carries_the_security_headers(screen: FlaskClient, path: str) -> None:
    if path == "/":
        assert log_in(screen).status_code == 302
    response = screen.get(path)
    response.close()
    assert response.status_code == 200, path
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert (response.headers.get("Cache-Control") == "no-store") != path.startswith("/static/")


def test_no_template_has_an_inline_script_or_style() -> None:
    found = {
        str(path.relative_to(TEMPLATES)): INLINE.findall(path.read_text())
        for path in TEMPLATES.rglob("*.html")
    }
    assert {name: hits for name, hits in found.items() if hits} == {}
