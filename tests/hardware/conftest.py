"""Fixtures for the device tests: free udp ports for nfcpy's simulated link, zbar."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import need


@pytest.fixture
def udp_path() -> str:
    """An nfcpy device path on a udp port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"udp:127.0.0.1:{port}"


@pytest.fixture
def zbar() -> None:
    """Skip (or fail in CI) where the zbar library pyzbar loads is missing."""
    try:
        import pyzbar.pyzbar
    except ImportError:
        need(False, "libzbar (Debian package libzbar0)")
