"""The QR camera: segno-made frames dropped into a watched directory, decoded and reported."""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from hardware.camera import DirectoryFrameSource, QrScanner
from tests.hardware.frames import drop_frame, qr_frame
from tests.hardware.waiting import wait_until

pytestmark = pytest.mark.usefixtures("zbar")

TOKEN = "AQ1.eyJ0b2tlbiI6IjEyMyJ9.c2lnbmF0dXJl"
OTHER_TOKEN = "AQ1.eyJ0b2tlbiI6IjQ1NiJ9.b3RoZXJzaWc"


def blank_frame() -> Image.Image:
    return Image.new("L", (640, 480), 220)


class Camera:
    """A started scanner over a frames directory, and the payloads it reported."""

    def __init__(self, directory: Path, scanner: QrScanner, reported: queue.Queue[str]) -> None:
        self.directory = directory
        self.scanner = scanner
        self._reported = reported
        self._dropped = 0

    def show(self, image: Image.Image) -> None:
        """Drop one frame and wait until the scanner has decoded it."""
        seen = self.scanner.health().frames_seen
        self._dropped += 1
        drop_frame(self.directory, f"frame-{self._dropped:04}.png", image)
        wait_until(lambda: self.scanner.health().frames_seen > seen, what="the frame to be read")

    def reported(self) -> list[str]:
        payloads = []
        while not self._reported.empty():
            payloads.append(self._reported.get_nowait())
        return payloads


@pytest.fixture
def start_camera(tmp_path: Path) -> Iterator[Callable[..., Camera]]:
    scanners: list[QrScanner] = []

    def start(**options: Any) -> Camera:
        reported: queue.Queue[str] = queue.Queue()
        directory = tmp_path / "frames"
        scanner = QrScanner(DirectoryFrameSource(directory), reported.put, **options)
        scanners.append(scanner)
        scanner.start()
        wait_until(lambda: scanner.health().state == "ok", what="the scanner to start")
        return Camera(directory, scanner, reported)

    yield start
    for scanner in scanners:
        scanner.close()


def test_a_code_is_reported_once_while_it_stays_in_view(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera()
    for _ in range(3):
        camera.show(qr_frame(TOKEN))
    assert camera.reported() == [TOKEN]
    assert camera.scanner.health().frames_seen == 3


def test_a_blank_frame_between_appearances_allows_a_second_report(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera(absent_frames=1, forget_after_s=60)
    camera.show(qr_frame(TOKEN))
    camera.show(blank_frame())
    camera.show(qr_frame(TOKEN))
    assert camera.reported() == [TOKEN, TOKEN]


def test_a_code_stays_in_view_until_absent_from_enough_frames(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera(absent_frames=3, forget_after_s=60)
    camera.show(qr_frame(TOKEN))
    camera.show(blank_frame())
    camera.show(blank_frame())
    camera.show(qr_frame(TOKEN))  # back after two frames without it: the same appearance
    for _ in range(3):
        camera.show(blank_frame())
    camera.show(qr_frame(TOKEN))
    assert camera.reported() == [TOKEN, TOKEN]


def test_a_code_not_seen_for_a_while_is_reported_again(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera(forget_after_s=0.3)
    camera.show(qr_frame(TOKEN))
    camera.show(qr_frame(TOKEN))
    time.sleep(0.5)  # no frames come (an idle directory) for longer than forget_after_s
    camera.show(qr_frame(TOKEN))
    assert camera.reported() == [TOKEN, TOKEN]


def test_two_codes_are_reported_each_on_its_own(start_camera: Callable[..., Camera]) -> None:
    camera = start_camera()
    camera.show(qr_frame(TOKEN))
    frame = Image.new("L", (640, 480), 220)
    frame.paste(qr_frame(TOKEN, (320, 480)), (0, 0))
    frame.paste(qr_frame(OTHER_TOKEN, (320, 480)), (320, 0))
    camera.show(frame)
    assert camera.reported() == [TOKEN, OTHER_TOKEN]


def test_an_image_without_a_code_reports_nothing_and_no_error(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera()
    noise = random.Random(3).randbytes(640 * 480)
    camera.show(Image.frombytes("L", (640, 480), noise))
    camera.show(blank_frame())
    assert camera.reported() == []
    health = camera.scanner.health()
    assert (health.state, health.frames_seen, health.bad_frames, health.last_error) == (
        "ok",
        2,
        0,
        "",
    )


def test_a_corrupt_file_is_reported_in_health_and_skipped(
    start_camera: Callable[..., Camera],
) -> None:
    camera = start_camera()
    (camera.directory / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    wait_until(lambda: camera.scanner.health().bad_frames == 1, what="the bad frame")
    assert "broken.png" in camera.scanner.health().last_error
    assert not (camera.directory / "broken.png").exists()
    camera.show(qr_frame(TOKEN))
    assert camera.reported() == [TOKEN]
    assert camera.scanner.health().state == "ok"


def test_when_frames_pile_up_only_the_newest_is_decoded(tmp_path: Path) -> None:
    directory = tmp_path / "frames"
    for number, payload in enumerate(["AQ1.first", "AQ1.second", "AQ1.third"], start=1):
        drop_frame(directory, f"frame-{number}.png", qr_frame(payload))
    reported: queue.Queue[str] = queue.Queue()
    source = DirectoryFrameSource(directory)
    with QrScanner(source, reported.put) as scanner:
        scanner.start()
        wait_until(lambda: scanner.health().frames_seen == 1, what="the newest frame")
    assert reported.get_nowait() == "AQ1.third"
    assert reported.empty()
    assert source.dropped == 2
    assert list(directory.iterdir()) == []


def test_a_failing_callback_does_not_stop_the_scanner(tmp_path: Path) -> None:
    reported: list[str] = []

    def refuse_first(payload: str) -> None:
        reported.append(payload)
        if len(reported) == 1:
            raise RuntimeError("the engine choked")

    directory = tmp_path / "frames"
    with QrScanner(DirectoryFrameSource(directory), refuse_first) as scanner:
        scanner.start()
        drop_frame(directory, "a.png", qr_frame(TOKEN))
        wait_until(lambda: scanner.health().frames_seen == 1, what="the first frame")
        drop_frame(directory, "b.png", qr_frame(OTHER_TOKEN))
        wait_until(lambda: scanner.health().frames_seen == 2, what="the second frame")
    assert reported == [TOKEN, OTHER_TOKEN]


def test_a_source_that_fails_to_open_is_retried_until_it_works(tmp_path: Path) -> None:
    directory = tmp_path / "frames"
    directory.write_text("a file where the directory should be")
    reported: queue.Queue[str] = queue.Queue()
    with QrScanner(DirectoryFrameSource(directory), reported.put) as scanner:
        scanner.start()
        wait_until(lambda: scanner.health().state == "failed", what="the failure to show")
        assert "FileExistsError" in scanner.health().last_error
        directory.unlink()
        wait_until(lambda: scanner.health().state == "ok", what="the source to open")
        drop_frame(directory, "a.png", qr_frame(TOKEN))
        wait_until(lambda: scanner.health().frames_seen == 1, what="the frame")
    assert reported.get_nowait() == TOKEN
