"""Camera frames of a phone showing a client's QR code, degraded as at a wash (deterministic).

A frame is 640x480 greyscale, as the stand's low-resolution stream gives it. :func:`draw` picks
a frame's :class:`Conditions` for one of ``VARIANTS`` from a seeded ``random.Random``: every
frame has 2-5 px per module, a tilt up to 10 degrees, a slight defocus (sigma up to 0.4 px),
noise and JPEG; the variant adds its degradation over its whole range (defocus: sigma up to
2.5 px and half a module; motion: 1-4 px; perspective: 10-30 degrees; glare; moire; dim;
over-exposed), "combined" several at once, milder. :func:`render` makes the frame:

1. a real token, signed with Ed25519 by :mod:`sync.qrtoken` (a key made from the seed): the
   compact form as the central service prints it now (``qr_code``: version 5-6, level M,
   alphanumeric), or the long form as it printed it before (``segno.make(token, error="m")``:
   version 9); client ids up to 200,000, issued in 2026;
2. drawn on a lit phone screen (white 235, black 20) with a margin of the app around it and a
   dark bezel, on a background of a random grey level and gradient;
3. moiré (the screen's pixel grid beating with the sensor's: stripes of 1.5-4 modules, 8-20 %
   of the brightness) and a glare band (a reflection on the screen glass: 2-6 modules wide,
   up to +150 grey levels, which lifts the black modules);
4. seen in perspective: tilted about a random axis of the screen, turned in
   the plane, 2-5 pixels per module at the code's centre, anywhere in the frame, through a
   pinhole camera (focal length 1.2 frame widths), sampled at twice the resolution and
   averaged down, as sensor pixels integrate light;
5. defocus (Gaussian blur), motion blur (along a random direction);
6. exposure: normal, dim (gain 0.25-0.45) or over-exposed (gain 1.6-2.6, clipped), then sensor
   noise (more when dim) and JPEG at quality 50-90.

Defocus blur is capped at half a module, a choice this bench makes: a Gaussian of sigma s
keeps exp(-2 pi^2 s^2 / p^2) of the contrast of a pattern of period p, and the finest pattern
of a code alternates single modules (p = 2 modules): at half a module 29 % is left, at one
module 0.7 %, which no decoder reads, and sigma 2.5 px is more than a module for codes under
2.5 px per module. In the field the two go together: the phone held close (large modules) is
the one badly out of focus. ``--uncapped`` in bench/qr_decode.py shows what the cap hides.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from typing import Literal

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from cloud.clients.qrkeys import qr_code
from sync import qrtoken

SIZE = (640, 480)
SUPERSAMPLE = 2
WHITE, BLACK = 235, 20
FOCAL = 1.2 * SIZE[0] * SUPERSAMPLE
Form = Literal["compact", "long"]
Exposure = Literal["normal", "dim", "over"]


@dataclass(frozen=True)
class Conditions:
    """What one frame shows and how it is degraded."""

    form: Form
    module_px: float  # at the code's centre
    tilt_deg: float  # between the screen and the camera's image plane
    defocus_sigma: float  # px
    motion_px: float
    moire: bool
    glare: bool
    exposure: Exposure
    jpeg_quality: int


def signing_key(rng: random.Random) -> bytes:
    """An Ed25519 private key (PEM) made from ``rng``, so tokens are the same on every run."""
    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def real_token(private_pem: bytes, form: Form, rng: random.Random) -> str:
    """A token as the central service signs it for a client id up to 200,000, issued in 2026."""
    claims = qrtoken.QrClaims(
        token_id=rng.randbytes(16).hex(),
        client_id=rng.randint(1, 200_000),
        issued_at=rng.randint(1_767_225_600, 1_798_761_599),
    )
    sign = qrtoken.sign if form == "compact" else qrtoken.sign_v1
    return sign(private_pem, claims)


VARIANTS = ("defocus", "motion", "perspective", "glare", "moire", "dim", "over", "combined")


def draw(variant: str, rng: random.Random, *, cap_defocus: bool = True) -> Conditions:
    """A frame's conditions: 2-5 px per module, a slight tilt (up to 10 degrees), JPEG and
    sensor noise on every frame, plus the ``variant``'s degradation over its whole range
    ("combined": several at once, milder)."""
    module_px = rng.uniform(2.0, 5.0)
    defocus_cap = 0.5 * module_px if cap_defocus else 2.5
    conditions = Conditions(
        form=rng.choice(("compact", "compact", "long")),
        module_px=module_px,
        tilt_deg=rng.uniform(0.0, 10.0),
        defocus_sigma=rng.uniform(0.0, 0.4),
        motion_px=0.0,
        moire=False,
        glare=False,
        exposure="normal",
        jpeg_quality=rng.randint(50, 90),
    )
    if variant == "defocus":
        return replace(conditions, defocus_sigma=rng.uniform(0.0, min(2.5, defocus_cap)))
    if variant == "motion":
        return replace(conditions, motion_px=rng.uniform(1.0, 4.0))
    if variant == "perspective":
        return replace(conditions, tilt_deg=rng.uniform(10.0, 30.0))
    if variant in ("glare", "moire"):
        return replace(conditions, **{variant: True})
    if variant in ("dim", "over"):
        return replace(conditions, exposure=variant)
    return replace(
        conditions,
        tilt_deg=rng.uniform(0.0, 20.0),
        defocus_sigma=rng.uniform(0.0, min(2.5, 0.3 * module_px)),
        motion_px=rng.uniform(0.0, 2.0),
        moire=rng.random() < 0.5,
        glare=rng.random() < 0.5,
        exposure=rng.choice(("normal", "dim", "over")),
    )


def sample(seed: int, variant: str) -> tuple[str, Image.Image, Conditions]:
    """One frame of ``variant`` made from ``seed`` alone: its token, the frame, its conditions."""
    rng = random.Random(seed)
    conditions = draw(variant, rng)
    token = real_token(signing_key(rng), conditions.form, rng)
    return token, render(token, conditions, rng), conditions


def code_image(token: str, form: Form) -> Image.Image:
    """The code at one pixel per module with its 4-module quiet zone, as the service prints it."""
    code = qr_code(token) if form == "compact" else segno.make(token, error="m")
    rows = [bytes(BLACK if cell else WHITE for cell in row) for row in code.matrix_iter(border=4)]
    return Image.frombytes("L", (len(rows[0]), len(rows)), b"".join(rows))


def render(token: str, conditions: Conditions, rng: random.Random) -> Image.Image:
    """The camera frame of ``token`` shown on a phone under ``conditions``."""
    scale = 8  # screen pixels per module
    code = code_image(token, conditions.form)
    screen = _screen(
        code.resize((code.width * scale, code.height * scale), Image.Resampling.NEAREST)
    )
    modules = screen.width / scale
    if conditions.moire:
        screen = _moire(screen, scale, rng)
    if conditions.glare:
        screen = _glare(screen, scale, rng)
    frame = _project(screen, modules, conditions, rng)
    frame = frame.filter(ImageFilter.GaussianBlur(conditions.defocus_sigma))
    frame = _motion_blur(frame, conditions.motion_px, rng)
    frame = _expose(frame, conditions.exposure, rng)
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=conditions.jpeg_quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("L")


def empty_frame(rng: random.Random) -> Image.Image:
    """A frame with no code: the wash bay's background, a gradient, a few edges, noise, JPEG."""
    frame = _background(rng, SIZE)
    pen = ImageDraw.Draw(frame)
    for _ in range(rng.randint(0, 4)):  # a car's edge, a hose, a sign
        points = [(rng.randint(0, SIZE[0]), rng.randint(0, SIZE[1])) for _ in range(2)]
        pen.line(points, fill=rng.randint(0, 255), width=rng.randint(2, 12))
    frame = frame.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    frame = _noise(frame, rng, 6)
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=rng.randint(50, 90))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("L")


def _screen(code: Image.Image) -> Image.Image:
    """The code on the phone's lit screen (a margin of the app's white page) in a dark bezel."""
    margin, bezel = code.width // 6, code.width // 12
    screen = Image.new("L", (code.width + 2 * margin, code.height + 4 * margin), WHITE)
    screen.paste(code, (margin, 2 * margin))
    phone = Image.new("L", (screen.width + 2 * bezel, screen.height + 2 * bezel), 25)
    phone.paste(screen, (bezel, bezel))
    return phone


def _moire(screen: Image.Image, scale: int, rng: random.Random) -> Image.Image:
    """Multiply by stripes of 1.5-4 modules at a random angle, 8-20 % deep."""
    period = rng.uniform(1.5, 4.0) * scale
    depth = rng.uniform(0.08, 0.20)
    phase = rng.uniform(0, 2 * math.pi)
    row = bytes(
        round(255 * (1 - depth * (1 + math.sin(2 * math.pi * x / period + phase)) / 2))
        for x in range(2 * max(screen.size))
    )
    stripes = Image.frombytes("L", (len(row), 1), row).resize((len(row), len(row)))
    stripes = stripes.rotate(rng.uniform(0, 180), resample=Image.Resampling.BILINEAR)
    left = (stripes.width - screen.width) // 2
    top = (stripes.height - screen.height) // 2
    stripes = stripes.crop((left, top, left + screen.width, top + screen.height))
    return ImageChops.multiply(screen, stripes)


def _glare(screen: Image.Image, scale: int, rng: random.Random) -> Image.Image:
    """Add a soft bright band 2-6 modules wide across the screen at a random angle."""
    width = rng.uniform(2.0, 6.0) * scale
    band = Image.new("L", (2 * max(screen.size),) * 2, 0)
    middle = band.width / 2 + rng.uniform(-0.3, 0.3) * screen.width
    ImageDraw.Draw(band).rectangle(
        (middle - width / 2, 0, middle + width / 2, band.height), fill=rng.randint(90, 150)
    )
    band = band.filter(ImageFilter.GaussianBlur(width / 3)).rotate(rng.uniform(0, 180))
    left = (band.width - screen.width) // 2
    top = (band.height - screen.height) // 2
    return ImageChops.add(screen, band.crop((left, top, left + screen.width, top + screen.height)))


def _project(
    screen: Image.Image, modules: float, conditions: Conditions, rng: random.Random
) -> Image.Image:
    """The screen on the background through a pinhole camera, at twice the size, averaged down."""
    width, height = SIZE[0] * SUPERSAMPLE, SIZE[1] * SUPERSAMPLE
    # Screen-plane points in modules, centred on the screen; module_px holds at the centre.
    half_w, half_h = modules / 2, modules * screen.height / screen.width / 2
    tilt = math.radians(conditions.tilt_deg)
    axis = rng.uniform(0, 2 * math.pi)  # the tilt axis in the screen's plane
    turn = rng.uniform(0, 2 * math.pi)
    unit = conditions.module_px * SUPERSAMPLE  # image px per module at the centre
    distance = FOCAL / unit  # in modules

    def to_image(x: float, y: float) -> tuple[float, float]:
        # Rotate about the tilt axis (in the screen plane), then turn, then project.
        along = x * math.cos(axis) + y * math.sin(axis)
        across = -x * math.sin(axis) + y * math.cos(axis)
        depth = across * math.sin(tilt)
        across *= math.cos(tilt)
        px = along * math.cos(axis) - across * math.sin(axis)
        py = along * math.sin(axis) + across * math.cos(axis)
        px, py = (
            px * math.cos(turn) - py * math.sin(turn),
            px * math.sin(turn) + py * math.cos(turn),
        )
        factor = FOCAL / (distance + depth)
        return px * factor, py * factor

    corners = [to_image(-half_w, -half_h), to_image(half_w, -half_h)]
    corners += [to_image(half_w, half_h), to_image(-half_w, half_h)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    # Anywhere in the frame, as long as the code's corners are (the bezel may be cut off).
    slack_x = max(0.0, width - span_x * 0.8)
    slack_y = max(0.0, height - span_y * 0.8)
    cx = rng.uniform(-slack_x / 2, slack_x / 2) + width / 2
    cy = rng.uniform(-slack_y / 2, slack_y / 2) + height / 2
    quad = [(x + cx, y + cy) for x, y in corners]
    source = [(0.0, 0.0), (screen.width, 0.0), (screen.width, screen.height), (0.0, screen.height)]
    coefficients = _perspective(quad, source)
    background = _background(rng, (width, height))
    mask = Image.new("L", screen.size, 255).transform(
        (width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR
    )
    warped = screen.transform(
        (width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR
    )
    return Image.composite(warped, background, mask).reduce(SUPERSAMPLE)


def _perspective(
    target: list[tuple[float, float]], source: list[tuple[float, float]]
) -> tuple[float, ...]:
    """Pillow's 8 coefficients mapping ``target`` (output) points to ``source`` (input) ones."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y])
        values += [u, v]
    return tuple(_solve(rows, values))


def _solve(matrix: list[list[float]], values: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (8 unknowns)."""
    size = len(values)
    rows = [[*row, value] for row, value in zip(matrix, values, strict=True)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(size):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [rows[i][size] / rows[i][i] for i in range(size)]


def _background(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    low, high = sorted((rng.randint(40, 190), rng.randint(40, 190)))
    gradient = Image.linear_gradient("L").resize(size).rotate(rng.uniform(0, 360))
    return gradient.point(lambda v: low + v * (high - low) // 255)


def _motion_blur(frame: Image.Image, length: float, rng: random.Random) -> Image.Image:
    """The average of the frame shifted along a random direction over ``length`` pixels."""
    steps = int(length * 2)
    if steps < 2:
        return frame
    angle = rng.uniform(0, math.pi)
    result = frame
    for step in range(1, steps + 1):
        offset = length * (step / steps - 0.5)
        dx, dy = offset * math.cos(angle), offset * math.sin(angle)
        shifted = frame.transform(
            frame.size, Image.Transform.AFFINE, (1, 0, dx, 0, 1, dy), Image.Resampling.BILINEAR
        )
        result = Image.blend(result, shifted, 1 / (step + 1))
    return result


def _expose(frame: Image.Image, exposure: Exposure, rng: random.Random) -> Image.Image:
    if exposure == "dim":
        gain = rng.uniform(0.25, 0.45)
        return _noise(frame.point(lambda v: round(v * gain)), rng, 7)
    if exposure == "over":
        gain = rng.uniform(1.6, 2.6)
        return _noise(frame.point(lambda v: min(255, round(v * gain))), rng, 4)
    return _noise(frame, rng, 4)


def _noise(frame: Image.Image, rng: random.Random, amplitude: int) -> Image.Image:
    """Uniform noise of +-amplitude grey levels on every pixel."""
    raw = Image.frombytes("L", frame.size, rng.randbytes(frame.width * frame.height))
    spread = raw.point(lambda v: v * 2 * amplitude // 255)
    return ImageChops.add(frame, spread, offset=-amplitude)
