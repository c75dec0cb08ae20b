"""Decoding camera frames: the code-like region, zbar then zxing-cpp, and empty frames.

The hard frames come from bench/qr_frames.py (real tokens of both forms on a phone's screen,
degraded as at a wash), each made from a fixed seed; bench/qr_decode.py measures the whole set.
"""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw
from pyzbar.pyzbar import ZBarSymbol, decode

from bench import qr_frames
from hardware.qrdecode import _zbar, code_region, decode_qr
from tests.hardware.frames import qr_frame

pytestmark = pytest.mark.usefixtures("zbar")

TOKEN = "AQ2:" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" * 4 + "ABCDEFGHIJKL"  # 144 characters

# Seeds of bench/qr_frames.sample whose frames bare zbar cannot read (found once by search).
HARD_FRAMES = [
    (6, "over"),
    (8, "defocus"),
    (21, "dim"),
    (82, "perspective"),
    (71, "combined"),
    (49, "motion"),
]


def bare_zbar(frame: Image.Image) -> list[str]:
    return [symbol.data.decode() for symbol in decode(frame, symbols=[ZBarSymbol.QRCODE])]


@pytest.mark.parametrize(("seed", "variant"), HARD_FRAMES)
def test_a_hard_frame_zbar_misses_is_decoded_by_the_fallback(seed: int, variant: str) -> None:
    token, frame, _ = qr_frames.sample(seed, variant)
    assert bare_zbar(frame) == []  # the baseline misses it on the whole frame...
    region = code_region(frame)
    assert region is not None
    assert _zbar(frame.crop(region)) == []  # ...and on the code's region: zxing-cpp reads it
    assert decode_qr(frame) == [token]


def test_the_hard_sample_has_both_token_forms() -> None:
    forms = {qr_frames.sample(seed, variant)[2].form for seed, variant in HARD_FRAMES}
    assert forms == {"compact", "long"}


@pytest.mark.parametrize("seed", range(8))
def test_an_empty_frame_has_no_code_region_and_decodes_to_nothing(seed: int) -> None:
    frame = qr_frames.empty_frame(random.Random(seed))
    assert code_region(frame) is None  # the cheap path: no decoder runs
    assert decode_qr(frame) == []


def test_lines_and_edges_are_not_a_code_region() -> None:
    frame = Image.new("L", (640, 480), 120)
    pen = ImageDraw.Draw(frame)
    pen.rectangle((0, 300, 640, 480), fill=30)  # the edge of a car
    for x in range(40, 640, 90):
        pen.line((x, 0, x + 60, 300), fill=250, width=6)  # hoses, a railing
    assert code_region(frame) is None


def test_decode_qr_reads_colour_frames_too() -> None:
    assert decode_qr(qr_frame(TOKEN).convert("RGB")) == [TOKEN]
    assert decode_qr(Image.new("L", (640, 480), 220)) == []


def test_the_code_region_holds_the_code() -> None:
    frame = Image.new("L", (640, 480), 220)
    frame.paste(qr_frame(TOKEN, size=(260, 260)), (360, 200))
    dark = frame.point(lambda v: 255 if v < 128 else 0).getbbox()  # the code's modules
    assert dark is not None
    left, top, right, bottom = code_region(frame) or (0, 0, 0, 0)
    assert left <= dark[0] and top <= dark[1] and right >= dark[2] and bottom >= dark[3]
    assert (right - left) * (bottom - top) < 640 * 480 / 2  # a cut-out, not the whole frame
    assert decode_qr(frame) == [TOKEN]


def test_a_dim_code_beside_a_sharper_pattern_is_still_decoded() -> None:
    frame = Image.new("L", (640, 480), 220)
    frame.paste(qr_frame(TOKEN, size=(260, 260)).point(lambda v: 150 + v * 60 // 255), (370, 210))
    checkerboard = Image.new("L", (96, 96), 0)
    for row in range(0, 96, 8):
        for column in range(row % 16, 96, 16):
            checkerboard.paste(255, (column, row, column + 8, row + 8))
    frame.paste(checkerboard, (40, 40))
    assert decode_qr(frame) == [TOKEN]


@pytest.mark.parametrize("scale", [2, 3, 6, 9])
def test_a_compact_token_is_decoded_from_2_to_9_px_per_module(scale: int) -> None:
    """9 px per module (a phone held close to a zoomed camera) leaves flat patches that the
    region test does not take for a code; the whole frame is read then."""
    code = qr_frame(TOKEN, size=(640, 480), scale=scale)
    assert decode_qr(code) == [TOKEN]


@pytest.mark.parametrize(
    ("scale", "size"), [(12, (640, 480)), (16, (1000, 1000)), (20, (1200, 1600))]
)
def test_a_code_of_large_modules_is_found_by_the_second_look(
    scale: int, size: tuple[int, int]
) -> None:
    """A phone's screenshot (the cabinet's QR page, 780x1688) or a phone held very close: the
    modules are flat inside the region test's cells, so nothing looked like a code and the
    frame decoded to nothing; the look CLOSE_SCALE times smaller finds it."""
    code = qr_frame(TOKEN, size=size, scale=scale)
    assert code_region(code) is None  # what the first look sees
    assert decode_qr(code) == [TOKEN]
