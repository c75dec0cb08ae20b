"""Fixtures shared by the whole suite.

Components this machine may lack (PostgreSQL, Chromium) are skipped when absent, unless
``AQUASTAND_REQUIRE_ALL=1`` (CI) turns every such skip into a failure."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("AQUASTAND_REQUIRE_ALL") == "1"


def need(available: bool, component: str) -> None:
    """Skip (or, in CI, fail) a test whose ``component`` is not available here."""
    if available:
        return
    message = f"{component} is not available on this machine"
    if REQUIRE_ALL:
        pytest.fail(message + " (AQUASTAND_REQUIRE_ALL=1)", pytrace=False)
    pytest.skip(message)
