"""QR camera frames for the tests, made with segno and Pillow."""

from __future__ import annotations

import io
import os
from pathlib import Path

import segno
from PIL import Image


def qr_frame(payload: str, size: tuple[int, int] = (640, 480), scale: int = 4) -> Image.Image:
    """A greyscale camera-sized frame with a QR code of ``payload`` in the middle."""
    buffer = io.BytesIO()
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    with Image.open(buffer) as code:
        frame = Image.new("L", size, 220)
        frame.paste(code.convert("L"), ((size[0] - code.width) // 2, (size[1] - code.height) // 2))
    return frame


def drop_frame(directory: Path, name: str, image: Image.Image) -> Path:
    """Place ``image`` in ``directory`` as the stand's scan command does: write, then rename."""
    directory.mkdir(parents=True, exist_ok=True)
    hidden = directory / f".{name}"
    image.save(hidden, format="PNG")
    final = directory / name
    os.replace(hidden, final)
    return final
