"""QR decode time per 640x480 greyscale frame and the share of frames decoded.

Frames are generated deterministically: a QR code of a typical token ("AQ1." and 110 base64url
characters) at 3 to 5 pixels per module, placed anywhere in the frame, in one of six variants:
clean, blur (slight defocus), noise (sensor noise), tilt (a few degrees), low contrast (a dim
code on a grey background) and all four together, milder. Each frame is decoded with the
scanner's own :func:`hardware.camera.decode_qr`; only that call is timed.

    .venv/bin/python bench/qr_decode.py [--frames-per-variant 40]

Last line: ``qr_decode ms_per_frame=<mean> decoded_share=<share>``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import string
import time
from collections.abc import Callable

import segno
from PIL import Image, ImageChops, ImageFilter

from hardware.camera import decode_qr

SEED = 20240601
SIZE = (640, 480)
BACKGROUND = 200
ALPHABET = string.ascii_letters + string.digits + "-_"

Variant = Callable[[Image.Image, random.Random], Image.Image]


def token(rng: random.Random) -> str:
    return "AQ1." + "".join(rng.choice(ALPHABET) for _ in range(110))


def place_code(payload: str, rng: random.Random) -> Image.Image:
    """A frame with the payload's QR code (4-module quiet zone) somewhere on a grey background."""
    buffer = io.BytesIO()
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=rng.choice((3, 4, 5)))
    buffer.seek(0)
    with Image.open(buffer) as code:
        grey = code.convert("L").point(lambda v: 235 if v else 25)
    frame = Image.new("L", SIZE, BACKGROUND)
    frame.paste(grey, (rng.randint(0, SIZE[0] - grey.width), rng.randint(0, SIZE[1] - grey.height)))
    return frame


def blur(
    frame: Image.Image, rng: random.Random, radius: tuple[float, float] = (0.5, 1.0)
) -> Image.Image:
    return frame.filter(ImageFilter.GaussianBlur(rng.uniform(*radius)))


def noise(frame: Image.Image, rng: random.Random, amplitude: int = 12) -> Image.Image:
    """Uniform noise of +-amplitude grey levels on every pixel (sigma about amplitude / 1.7)."""
    raw = Image.frombytes("L", SIZE, rng.randbytes(SIZE[0] * SIZE[1]))
    spread = raw.point(lambda v: v * 2 * amplitude // 255)
    return ImageChops.add(frame, spread, offset=-amplitude)


def tilt(
    frame: Image.Image, rng: random.Random, degrees: tuple[float, float] = (3, 8)
) -> Image.Image:
    angle = rng.uniform(*degrees) * rng.choice((-1, 1))
    return frame.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=BACKGROUND)


def low_contrast(frame: Image.Image, rng: random.Random, span: int = 70) -> Image.Image:
    """Squeeze 0..255 into ``span`` levels around mid-grey (a dim, washed-out code)."""
    low = rng.randint(80, 100)
    return frame.point(lambda v: low + v * span // 255)


def everything(frame: Image.Image, rng: random.Random) -> Image.Image:
    frame = tilt(frame, rng, degrees=(2, 4))
    frame = blur(frame, rng, radius=(0.4, 0.7))
    frame = low_contrast(frame, rng, span=100)
    return noise(frame, rng, amplitude=8)


VARIANTS: dict[str, Variant] = {
    "clean": lambda frame, rng: frame,
    "blur": blur,
    "noise": noise,
    "tilt": tilt,
    "low_contrast": low_contrast,
    "all_four": everything,
}


def measure(
    variant: Variant, count: int, rng: random.Random
) -> tuple[list[float], int, list[float]]:
    """Decode times (ms) of ``count`` frames of ``variant``, how many decoded correctly, and
    the times of a bare zbar scan of each whole frame (the baseline the code region beats)."""
    times, decoded, whole = [], 0, []
    for _ in range(count):
        payload = token(rng)
        frame = variant(place_code(payload, rng), rng)
        started = time.perf_counter()
        payloads = decode_qr(frame)
        times.append((time.perf_counter() - started) * 1000)
        decoded += payloads == [payload]
        started = time.perf_counter()
        scan_whole_frame(frame)
        whole.append((time.perf_counter() - started) * 1000)
    return times, decoded, whole


def scan_whole_frame(frame: Image.Image) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol, decode

    return [symbol.data.decode() for symbol in decode(frame, symbols=[ZBarSymbol.QRCODE])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-per-variant", type=int, default=40)
    count = parser.parse_args().frames_per_variant
    rng = random.Random(SEED)
    all_times, all_decoded, all_whole = [], 0, []
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"frames: {len(VARIANTS)} variants x {count}, {SIZE[0]}x{SIZE[1]} greyscale, seed {SEED}")
    print(f"{'variant':<13} {'frames':>6} {'decoded':>8} {'mean_ms':>8} {'p95_ms':>7}")
    for name, variant in VARIANTS.items():
        times, decoded, whole = measure(variant, count, rng)
        all_times += times
        all_whole += whole
        all_decoded += decoded
        p95 = statistics.quantiles(times, n=20)[-1]
        mean = statistics.fmean(times)
        print(f"{name:<13} {count:>6} {decoded / count:>8.3f} {mean:>8.2f} {p95:>7.2f}")
    share = all_decoded / len(all_times)
    whole_ms = statistics.fmean(all_whole)
    ratio = statistics.fmean(all_times) / whole_ms
    print(f"baseline: a bare zbar scan of the whole frame {whole_ms:.2f} ms; ratio {ratio:.2f}")
    print(f"qr_decode ms_per_frame={statistics.fmean(all_times):.2f} decoded_share={share:.3f}")


if __name__ == "__main__":
    main()
