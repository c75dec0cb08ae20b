"""The stand's camera seen from the stand: frames dropped into the simulated camera's inbox (the
demo, the tests and ``aquastand-edge scan``), and the real camera's tuning read from the
configuration."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

import segno

from edge.config import EdgeConfig
from hardware.camera import CameraTuning


def drop_frame(inbox: Path, data: bytes, suffix: str = ".png") -> Path:
    """Place an image file in the camera ``inbox``: written under a hidden name, then renamed,
    so the camera never reads half a file. Returns the final path."""
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"scan-{time.time_ns()}-{uuid.uuid4().hex[:8]}{suffix}"
    hidden = inbox / f".{name}"
    hidden.write_bytes(data)
    final = inbox / name
    os.replace(hidden, final)
    return final


def qr_png(payload: str) -> bytes:
    """A PNG of a QR code holding ``payload``, sized for the camera to decode."""
    buffer = io.BytesIO()
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def drop_qr_text(inbox: Path, payload: str) -> Path:
    """Render ``payload`` as a QR code and drop it into the camera ``inbox``."""
    return drop_frame(inbox, qr_png(payload))


def camera_tuning(config: EdgeConfig) -> CameraTuning:
    """The camera's focus, zoom and exposure from the stand's configuration (0 as the lens
    position, which would be infinity, means continuous autofocus)."""
    lens = config.camera_lens_position
    return CameraTuning(
        lens_position=lens if lens > 0 else None,
        zoom=config.camera_zoom,
        exposure_value=-config.camera_stops_under,
    )
