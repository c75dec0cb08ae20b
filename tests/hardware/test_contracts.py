"""One contract per device interface, run against every backend available on this machine.

Picamera2Source is left out: picamera2 exists only on Raspberry Pi OS with a camera attached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hardware.camera import (
    CameraHealth,
    DirectoryFrameSource,
    FrameSource,
    QrCamera,
    QrScanner,
)
from hardware.feedback import PATTERNS, Feedback, GpioFeedback, make_pin_factory
from hardware.nfc import CardReader, NfcpyReader, ReaderHealth
from tests.hardware.waiting import wait_until

STATES = ("ok", "connecting", "failed", "stopped")
AT_ONCE_S = 0.05


def ignore(_: str) -> None:
    """A callback for devices whose reports these tests do not look at."""


def mock_gpio_feedback(_: Path, __: str) -> Feedback:
    return GpioFeedback(17, 27, 22, 18, pin_factory=make_pin_factory("mock"), time_scale=0.01)


def nfcpy_udp_reader(_: Path, udp_path: str) -> CardReader:
    return NfcpyReader(udp_path, ignore)


def directory_qr_camera(tmp_path: Path, _: str) -> QrCamera:
    return QrScanner(DirectoryFrameSource(tmp_path / "frames"), ignore)


Make = Callable[[Path, str], Any]


@pytest.fixture
def own_threads() -> Iterator[Callable[[], set[threading.Thread]]]:
    """The threads started since the test began (a closed device must leave none)."""
    before = set(threading.enumerate())
    yield lambda: set(threading.enumerate()) - before


def returns_at_once(action: Callable[[], object]) -> bool:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started < AT_ONCE_S


@pytest.mark.parametrize("make", [mock_gpio_feedback], ids=["gpio-mock"])
def test_feedback_contract(
    make: Make, tmp_path: Path, udp_path: str, own_threads: Callable[[], set[threading.Thread]]
) -> None:
    device = make(tmp_path, udp_path)
    assert isinstance(device, Feedback)
    for pattern in PATTERNS:
        assert returns_at_once(partial(device.play, pattern))
    assert returns_at_once(lambda: device.status(True))
    assert returns_at_once(lambda: device.status(False))
    with device as entered:
        assert entered is device
    device.close()  # a second close does nothing
    device.play("accepted")  # nor does playing on a closed device
    device.status(True)
    assert own_threads() == set()


def check_health_shape(health: ReaderHealth | CameraHealth) -> None:
    assert health.state in STATES
    assert isinstance(health.last_error, str)
    if isinstance(health, ReaderHealth):
        assert isinstance(health.reconnects, int)
        seen = health.last_seen_at
        assert seen is None or (isinstance(seen, datetime) and seen.tzinfo is not None)
    else:
        assert isinstance(health.frames_seen, int)
        assert isinstance(health.bad_frames, int)


@pytest.mark.parametrize(
    ("make", "interface"),
    [(nfcpy_udp_reader, CardReader), (directory_qr_camera, QrCamera)],
    ids=["nfcpy-udp-reader", "directory-qr-camera"],
)
def test_reporting_device_contract(
    make: Make,
    interface: type[CardReader] | type[QrCamera],
    tmp_path: Path,
    udp_path: str,
    own_threads: Callable[[], set[threading.Thread]],
) -> None:
    device = make(tmp_path, udp_path)
    assert isinstance(device, interface)
    assert device.health().state == "stopped"
    check_health_shape(device.health())
    assert returns_at_once(device.start)
    started = own_threads()
    assert len(started) == 1
    device.start()  # a second start does nothing
    assert own_threads() == started
    wait_until(lambda: device.health().state == "ok", what="the device to be running")
    check_health_shape(device.health())
    with device as entered:
        assert entered is device
    assert device.health().state == "stopped"
    assert own_threads() == set()
    device.close()  # a second close does nothing
    device.start()  # a closed device stays closed
    assert own_threads() == set()
    assert device.health().state == "stopped"


@pytest.mark.parametrize("make_source", [DirectoryFrameSource], ids=["directory"])
def test_frame_source_contract(make_source: Callable[[Path], FrameSource], tmp_path: Path) -> None:
    source = make_source(tmp_path / "frames")
    assert isinstance(source, FrameSource)
    source.start()
    started = time.monotonic()
    assert source.read(0.1) is None  # no frame: None, after about the timeout
    assert 0.09 <= time.monotonic() - started < 1.0
    source.close()
    source.close()
