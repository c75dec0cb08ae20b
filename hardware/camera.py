"""QR camera: frames from a source, decoded (hardware/qrdecode.py) in a scanner thread.

A frame source gives greyscale Pillow images: :class:`Picamera2Source` takes the Y plane of the
camera's low-resolution YUV420 stream on a Raspberry Pi; :class:`DirectoryFrameSource` takes
image files dropped into a directory (off the Pi: the stand's ``scan`` command, tests). A
:class:`QrScanner` pulls the latest frame, decodes it with :func:`decode_qr` and reports each
payload once while it stays in view. It is the :class:`QrCamera` the stand uses.

Frames are pulled when the scanner is ready for one, so when decoding lags the frames in
between are dropped at the source: the camera hands over its newest frame, the directory its
newest file (older pending files are deleted unread).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image, UnidentifiedImageError

from hardware.device import ClosedOnExit, Device
from hardware.qrdecode import decode_qr

log = logging.getLogger(__name__)

CameraState = Literal["ok", "connecting", "failed", "stopped"]
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0


class FrameError(Exception):
    """One frame could not be read; the source is still usable."""


@runtime_checkable
class FrameSource(Protocol):
    """Where frames come from. Used by one scanner thread only."""

    def start(self) -> None:
        """Open the source; may raise if it cannot be opened."""

    def read(self, timeout: float) -> Image.Image | None:
        """The newest greyscale ("L") frame, or None if none came within ``timeout`` seconds.

        Raises :class:`FrameError` for an unreadable frame, other errors if the source failed.
        """

    def close(self) -> None:
        """Release the source; calling it again does nothing."""


@dataclass(frozen=True)
class CameraHealth:
    """A snapshot of a QR camera's condition.

    ``state``: "ok" (reading frames), "connecting" (opening the source), "failed" (the source
    failed; retrying), "stopped" (not started, or closed). ``frames_seen``: frames decoded.
    ``bad_frames``: frames that could not be read. ``last_error``: the latest such problem.
    """

    state: CameraState
    frames_seen: int
    bad_frames: int
    last_error: str


@runtime_checkable
class QrCamera(Device, Protocol):
    """A QR camera reporting payloads through a callback given at construction."""

    def start(self) -> None:
        """Start scanning in the background; calling it again does nothing."""

    def health(self) -> CameraHealth:
        """The camera's condition now."""


class DirectoryFrameSource:
    """Frames from image files dropped into a directory; each file is read once and deleted.

    >>> source = DirectoryFrameSource("/run/aquastand/frames")
    >>> scanner = QrScanner(source, print)

    Write a file under a name starting with "." and rename it into place: hidden files are
    ignored, so a half-written file is never read. ``dropped`` counts files deleted unread
    because a newer one was waiting.
    """

    POLL_S = 0.02

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.dropped = 0
        self._closed = threading.Event()

    def start(self) -> None:
        """Create the directory if needed."""
        self._closed.clear()
        self.path.mkdir(parents=True, exist_ok=True)

    def read(self, timeout: float) -> Image.Image | None:
        """The newest waiting file as a greyscale image (deleted), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not (pending := self._pending()):
            if self._closed.wait(min(self.POLL_S, max(0.0, deadline - time.monotonic()))):
                return None
            if time.monotonic() >= deadline:
                return None
        for stale in pending[:-1]:
            stale.unlink(missing_ok=True)
            self.dropped += 1
        return _load(pending[-1])

    def close(self) -> None:
        """Stop waiting for files (the directory and its files stay)."""
        self._closed.set()

    def _pending(self) -> list[Path]:
        """Waiting files, oldest first (by modification time, then name)."""
        files = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_file():
                    files.append((entry.stat().st_mtime_ns, entry.name))
        return [self.path / name for _, name in sorted(files)]


def _load(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("L")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise FrameError(f"{path.name}: {error}") from error
    finally:
        path.unlink(missing_ok=True)


# libcamera's control values (src/libcamera/control_ids_core.yaml); picamera2 passes ints on.
AF_MODE_MANUAL = 0  # AfModeManual: the lens stays at LensPosition
AF_MODE_CONTINUOUS = 2  # AfModeContinuous
AF_SPEED_FAST = 1  # AfSpeedFast
METERING_SPOT = 1  # AeMeteringMode MeteringSpot
EXPOSURE_SHORT = 1  # AeExposureMode ExposureShort: gain before long exposures


class CameraStalled(Exception):
    """No frame came within the capture timeout; the camera is reopened."""


@dataclass(frozen=True)
class CameraTuning:
    """How the stand's camera is set for a phone's code held up to it.

    ``lens_position``: dioptres (1 / metres) for a fixed focus, e.g. 4.0 for 25 cm; None for
    continuous autofocus. libcamera starts Camera Module 3 in manual focus at its default
    position (about 1 m), where a phone at 20 cm is a blur; a module without autofocus
    (Camera Module 2) ignores both. ``zoom``: the middle 1/zoom of the sensor's view is scaled
    to the stream (``ScalerCrop``), so a phone's code covers zoom times more pixels a side.
    ``exposure_value``: a lit screen in a dim bay; spot metering on the middle of the view,
    where the phone is, then this many stops under it so white pixels do not clip and bleed
    into thin black modules. ``capture_timeout_s``: longer than this without a frame and the
    camera counts as stalled (a loose cable) and is reopened.

    >>> Picamera2Source(tuning=CameraTuning(lens_position=4.0, zoom=1.5))
    """

    lens_position: float | None = None
    zoom: float = 2.0
    exposure_value: float = -0.5
    capture_timeout_s: float = 2.0


class Picamera2Source:
    """Frames from the Raspberry Pi camera: the Y plane of its low-resolution YUV420 stream.

    >>> scanner = QrScanner(Picamera2Source((640, 480)), print)
    >>> scanner.start()

    picamera2 exists only on Raspberry Pi OS (install it from the OS); it is imported in start()
    unless ``open_camera`` is given (a callable returning a ``Picamera2``; tests pass a double).
    Controls the camera module lacks (``camera_controls``) are not asked for.
    """

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        frame_rate: float = 10.0,
        tuning: CameraTuning | None = None,
        open_camera: Callable[[], Any] | None = None,
    ) -> None:
        self.size = size
        self.frame_rate = frame_rate
        self.tuning = tuning or CameraTuning()
        self._open_camera = open_camera
        self._camera: Any = None
        self._stride = size[0]

    def start(self) -> None:
        """Open, configure and start the camera."""
        if self._open_camera is None:
            from picamera2 import Picamera2

            self._open_camera = Picamera2
        camera = self._open_camera()
        try:
            # A modest frame rate: a code is held up for seconds, and every frame is decoded.
            frame_us = int(1_000_000 / self.frame_rate)
            config = camera.create_preview_configuration(
                lores={"size": self.size, "format": "YUV420"},
                controls={"FrameDurationLimits": (frame_us, frame_us)},
            )
            camera.configure(config)
            self._stride = camera.stream_configuration("lores")["stride"]
            # After configure: the crop's limits depend on the sensor mode chosen.
            camera.set_controls(self.controls(camera.camera_controls))
            camera.start()
        except BaseException:
            camera.close()
            raise
        self._camera = camera

    def controls(self, available: dict[str, tuple[Any, Any, Any]]) -> dict[str, Any]:
        """The controls to set, of those the camera has (``camera_controls``: name -> (min,
        max, default)): focus, the crop of the middle of the view, metering and exposure."""
        tuning, wanted = self.tuning, {}
        if tuning.lens_position is None:
            wanted |= {"AfMode": AF_MODE_CONTINUOUS, "AfSpeed": AF_SPEED_FAST}
        else:
            wanted |= {"AfMode": AF_MODE_MANUAL, "LensPosition": float(tuning.lens_position)}
        wanted |= {
            "AeMeteringMode": METERING_SPOT,
            "AeExposureMode": EXPOSURE_SHORT,  # a hand moves: keep exposures short
            "ExposureValue": float(tuning.exposure_value),
        }
        if "ScalerCrop" in available and tuning.zoom > 1:
            wanted["ScalerCrop"] = self._middle_crop(available["ScalerCrop"][1])
        return {name: value for name, value in wanted.items() if name in available}

    def _middle_crop(self, full: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The middle 1/zoom of the sensor's view, in the stream's aspect ratio."""
        x, y, width, height = full
        scale = min(width / self.size[0], height / self.size[1]) / self.tuning.zoom
        crop_w, crop_h = int(self.size[0] * scale), int(self.size[1] * scale)
        return (x + (width - crop_w) // 2, y + (height - crop_h) // 2, crop_w, crop_h)

    def read(self, timeout: float) -> Image.Image | None:
        """The camera's next frame (it comes within a frame interval, so ``timeout`` is moot).

        Raises :class:`CameraStalled` when none comes within the tuning's capture timeout.
        """
        width, height = self.size
        try:
            # wait=<seconds>: picamera2 waits on the job's future this long, then TimeoutError.
            buffer = self._camera.capture_buffer("lores", wait=self.tuning.capture_timeout_s)
        except TimeoutError:
            self._camera.cancel_all_and_flush()  # picamera2's tidy-up after a timed-out job
            raise CameraStalled(f"no frame in {self.tuning.capture_timeout_s} s") from None
        # YUV420 is planar: the first stride x height bytes are Y, a greyscale image already.
        y_plane = buffer[: self._stride * height].tobytes()
        plane = Image.frombytes("L", (self._stride, height), y_plane)
        return plane if self._stride == width else plane.crop((0, 0, width, height))

    def close(self) -> None:
        """Stop and release the camera."""
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.stop()
            camera.close()


class QrScanner(ClosedOnExit):
    """Decodes frames from ``source`` in a thread and reports each QR payload once while in view.

    >>> with QrScanner(DirectoryFrameSource("/tmp/frames"), print) as scanner:
    ...     scanner.start()

    A payload is reported when it appears, and again only after it has left the view: absent
    from ``absent_frames`` consecutive frames, or not seen for ``forget_after_s`` seconds (a
    directory delivers no frames while idle). ``on_payload`` is called from the scanner thread.
    """

    READ_TIMEOUT_S = 0.1

    def __init__(
        self,
        source: FrameSource,
        on_payload: Callable[[str], None],
        *,
        absent_frames: int = 5,
        forget_after_s: float = 3.0,
    ) -> None:
        self._source = source
        self._on_payload = on_payload
        self._absent_frames = absent_frames
        self._forget_after_s = forget_after_s
        self._in_view: dict[str, tuple[int, float]] = {}  # payload -> (frames absent, seen at)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._health = CameraHealth("stopped", 0, 0, "")

    def start(self) -> None:
        """Start the scanner thread (at most once)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._health = replace(self._health, state="connecting")
            self._thread = threading.Thread(target=self._run, name="qr-scanner", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread (it notices within a read timeout) and release the source."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._source_close_quietly()
        self._update(state="stopped")

    def health(self) -> CameraHealth:
        """The camera's condition now."""
        with self._lock:
            return self._health

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._health = replace(self._health, **changes)

    def _run(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stop.is_set():
            try:
                self._source.start()
                self._update(state="ok")
                self._scan()
            # A camera may fail in many ways (driver, cable, libcamera); keep trying.
            except Exception as error:
                self._update(state="failed", last_error=f"{type(error).__name__}: {error}")
                log.warning("QR camera failed: %s", error)
            self._source_close_quietly()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self._update(state="connecting")

    def _scan(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._source.read(self.READ_TIMEOUT_S)
            except FrameError as error:
                health = self.health()
                self._update(bad_frames=health.bad_frames + 1, last_error=str(error))
                continue
            if frame is not None:
                self._see(decode_qr(frame))
                self._update(frames_seen=self.health().frames_seen + 1)
            self._forget_stale()

    def _see(self, payloads: list[str]) -> None:
        now = time.monotonic()
        for payload in self._in_view.keys() - set(payloads):
            absent, seen_at = self._in_view[payload]
            self._in_view[payload] = (absent + 1, seen_at)
        for payload in payloads:
            if payload not in self._in_view:
                self._report(payload)
            self._in_view[payload] = (0, now)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        self._in_view = {
            payload: (absent, seen_at)
            for payload, (absent, seen_at) in self._in_view.items()
            if absent < self._absent_frames and now - seen_at < self._forget_after_s
        }

    def _report(self, payload: str) -> None:
        try:
            self._on_payload(payload)
        except Exception:
            # The callback belongs to the caller; its failure must not stop the scanner.
            log.exception("on_payload callback failed")

    def _source_close_quietly(self) -> None:
        try:
            self._source.close()
        except Exception:
            log.exception("closing the frame source failed")
