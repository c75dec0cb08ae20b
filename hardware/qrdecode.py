"""QR decoding of camera frames: a cheap look for a code-like region, then pyzbar, then zxing-cpp.

The stand decodes every frame, idle or not, and almost every frame shows no code, so a frame
first goes through :func:`code_region` (well under a millisecond on a 640x480 frame) and is
dropped when nothing in it looks like a code. A frame that has such a region is decoded cut
down to it, by zbar first and, when zbar finds nothing, by zxing-cpp, which reads codes zbar
gives up on: blurred, tilted, glared or dim ones. (On bench/qr_decode.py's frames zxing-cpp
costs about a quarter of zbar's CPU time and misses no more: putting it first is the cheap
change to make if a Pi's budget needs it.)

    >>> decode_qr(Image.open("frame.png"))
    ['AQ2:…']

Both libraries are imported when first needed: without libzbar (or zxing-cpp) a stand still
starts, and its camera's health shows the ImportError.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

# code_region works on the frame reduced REGION_SCALE times, in cells of CELL reduced pixels.
REGION_SCALE = 2
# A code of large modules (a phone held close, a big frame) is flat inside the cells at
# REGION_SCALE; it is looked for again this many times smaller, where its modules are edges.
CLOSE_SCALE = 8
CELL = 4  # a cell is 8x8 frame pixels: 1.6 to 4 modules at 2 to 5 px per module
CELL_CONTRAST = 8  # mean grey-level step between neighbours in a cell that looks like a code
ERODE = 5  # cells: a block thinner than this (a line, an edge, a hose) is not a code
GROW = 0.3  # of the block's width (height) on each side: its sparse corners, a tilt
MARGIN_CELLS = 2  # and a few cells more: the quiet zone
SHARPEN_UP_TO = 320  # px: a crop this small (small modules) is also upscaled twice to sharpen


def decode_qr(frame: Image.Image) -> list[str]:
    """The payloads of the QR codes in ``frame`` (converted to greyscale if it is not).

    Nothing when :func:`code_region` finds no code-like block; else, on that block, zbar, then
    zxing-cpp, then zxing-cpp on the block sharpened (and upscaled when small), which reads
    defocused codes, and codes of about two pixels per module, that both miss as seen; last,
    zxing-cpp on the whole frame.
    """
    grey = frame if frame.mode == "L" else frame.convert("L")
    region = code_region(grey) or code_region(grey, CLOSE_SCALE)
    if region is None:
        return []
    crop = grey.crop(region)
    found = _zbar(crop) or _zxing(crop) or _zxing(_sharpened(crop))
    if not found and crop.size != grey.size:
        # A code of large modules (a phone held close) has flat patches the region test can
        # take for its edge; zxing-cpp reads the whole frame in about a millisecond.
        found = _zxing(grey)
    return found


def code_region(grey: Image.Image, scale: int = REGION_SCALE) -> tuple[int, int, int, int] | None:
    """The box of ``grey`` around its blocks of dense edges, or None if it has none.

    A cell's contrast is the mean, over its pixels of the reduced frame, of the larger step to
    the right or lower neighbour. A code is a block of cells of high contrast; a line or the
    border of a car is one or two cells thick, so the high cells are eroded (``ERODE`` cells
    wide) before their box is taken. Only cheap whole-image operations (reduce, crop,
    difference, darker), no rank filters: Pillow's MinFilter/MaxFilter alone would cost more
    than the millisecond an empty frame may take.
    """
    small = grey.reduce(scale)
    width, height = small.size
    base = small.crop((0, 0, width - 1, height - 1))
    right = ImageChops.difference(base, small.crop((1, 0, width, height - 1)))
    below = ImageChops.difference(base, small.crop((0, 1, width - 1, height)))
    cells = ImageChops.lighter(right, below).reduce(CELL).point(_CELL_LUT)
    core = _erode(cells, ERODE // 2).getbbox()
    if core is None:
        return None
    # Give back what the erosion took: the dense cells near the core (a small code's edges).
    reach = ERODE // 2 + 2
    window = (core[0] - reach, core[1] - reach, core[2] + reach, core[3] + reach)
    near = cells.crop(window).getbbox() or (reach, reach, reach, reach)
    box = (window[0] + near[0], window[1] + near[1], window[0] + near[2], window[1] + near[3])
    unit = scale * CELL
    left, top, right_edge, bottom = (edge * unit for edge in box)
    grow_x = int((right_edge - left) * GROW) + MARGIN_CELLS * unit
    grow_y = int((bottom - top) * GROW) + MARGIN_CELLS * unit
    return (
        max(0, left - grow_x),
        max(0, top - grow_y),
        min(grey.width, right_edge + grow_x),
        min(grey.height, bottom + grow_y),
    )


_CELL_LUT = [255 if value > CELL_CONTRAST else 0 for value in range(256)]


def _erode(mask: Image.Image, reach: int) -> Image.Image:
    """A cell stays set only if every cell within ``reach`` across and down is set (the
    mask wraps at its borders, which only matters for a block touching two opposite ones)."""
    for dx, dy in [(d, 0) for d in range(1, reach + 1)] + [(0, d) for d in range(1, reach + 1)]:
        shifted = ImageChops.darker(
            ImageChops.offset(mask, dx, dy), ImageChops.offset(mask, -dx, -dy)
        )
        mask = ImageChops.darker(mask, shifted)
    return mask


def _sharpened(crop: Image.Image) -> Image.Image:
    if max(crop.size) <= SHARPEN_UP_TO:
        crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)
        return crop.filter(ImageFilter.UnsharpMask(radius=3, percent=150, threshold=2))
    return crop.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=2))


def _zbar(grey: Image.Image) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol, decode

    symbols = decode(grey, symbols=[ZBarSymbol.QRCODE])
    return [symbol.data.decode("utf-8", errors="replace") for symbol in symbols]


def _zxing(grey: Image.Image) -> list[str]:
    import zxingcpp

    # A phone shows a dark code on a light screen, upright or turned, never mirrored or
    # inverted: skip zxing's inverted pass, keep its downscaled one (it helps blurred codes).
    found = zxingcpp.read_barcodes(
        grey, formats=zxingcpp.BarcodeFormat.QRCode, try_rotate=False, try_invert=False
    )
    return [barcode.text for barcode in found if barcode.valid]
