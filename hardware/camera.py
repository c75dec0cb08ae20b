"""QR camera: frames from a source, decoded by pyzbar in a scanner thread.

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

from PIL import Image, ImageChops, ImageFilter, UnidentifiedImageError

from hardware.device import ClosedOnExit, Device

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


# The code region search works on the frame reduced REGION_SCALE times in each direction.
REGION_SCALE = 4
REGION_MARGIN = 3  # reduced pixels around the region: the quiet zone and a tilted corner
REGION_FILL = 0.4  # a code is a dense block of contrast; scattered specks are noise
REGION_MAX_SHARE = 0.5  # a region this large saves nothing over the whole frame


def decode_qr(frame: Image.Image) -> list[str]:
    """The payloads of the QR codes in ``frame`` (converted to greyscale if it is not).

    zbar's time grows with the pixels it scans, so the dense block of contrast that a code
    makes is decoded first, cut out of the frame (:func:`code_region`); only when that finds
    nothing is the whole frame scanned. pyzbar is imported here: without libzbar a stand still
    starts, and its camera's health shows the ImportError.
    """
    grey = frame if frame.mode == "L" else frame.convert("L")
    region = code_region(grey)
    if region is not None and (payloads := _zbar(grey.crop(region))):
        return payloads
    return _zbar(grey)


def code_region(grey: Image.Image) -> tuple[int, int, int, int] | None:
    """The box of ``grey`` that holds its one dense block of strong local contrast, or None.

    Local contrast is max minus min over 3x3 neighbours of the reduced frame; "strong" is over
    half the frame's highest. None when the strong pixels are scattered (noise, several
    objects) or cover most of the frame: then there is no one place to look first.
    """
    small = grey.reduce(REGION_SCALE)
    spread = ImageChops.subtract(
        small.filter(ImageFilter.MaxFilter(3)), small.filter(ImageFilter.MinFilter(3))
    )
    strongest = spread.getextrema()[1]
    mask = spread.point(lambda value: 255 if value > strongest // 2 else 0)
    box = mask.getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    area = (right - left) * (bottom - top)
    if area > small.width * small.height * REGION_MAX_SHARE:
        return None
    if mask.crop(box).histogram()[255] < area * REGION_FILL:
        return None
    margin = REGION_MARGIN
    return (
        max(0, (left - margin) * REGION_SCALE),
        max(0, (top - margin) * REGION_SCALE),
        min(grey.width, (right + margin) * REGION_SCALE),
        min(grey.height, (bottom + margin) * REGION_SCALE),
    )


def _zbar(grey: Image.Image) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol, decode

    symbols = decode(grey, symbols=[ZBarSymbol.QRCODE])
    return [symbol.data.decode("utf-8", errors="replace") for symbol in symbols]


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


class Picamera2Source:
    """Frames from the Raspberry Pi camera: the Y plane of its low-resolution YUV420 stream.

    >>> scanner = QrScanner(Picamera2Source((640, 480)), print)
    >>> scanner.start()

    picamera2 exists only on Raspberry Pi OS (install it from the OS); it is imported in start().
    """

    def __init__(self, size: tuple[int, int] = (640, 480), frame_rate: float = 10.0) -> None:
        self.size = size
        self.frame_rate = frame_rate
        self._camera: Any = None
        self._stride = size[0]

    def start(self) -> None:
        """Open and start the camera."""
        from picamera2 import Picamera2

        camera = Picamera2()
        try:
            # A modest frame rate: a code is held up for seconds, and every frame is decoded.
            frame_us = int(1_000_000 / self.frame_rate)
            config = camera.create_preview_configuration(
                lores={"size": self.size, "format": "YUV420"},
                controls={"FrameDurationLimits": (frame_us, frame_us)},
            )
            camera.configure(config)
            self._stride = camera.stream_configuration("lores")["stride"]
            camera.start()
        except BaseException:
            camera.close()
            raise
        self._camera = camera

    def read(self, timeout: float) -> Image.Image | None:
        """The camera's next frame (it comes within a frame interval, so ``timeout`` is moot)."""
        width, height = self.size
        buffer = self._camera.capture_buffer("lores")  # a flat numpy array of bytes
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
