"""Draw the cabinet's PWA icons (cloud/static/cabinet/icon-192.png and icon-512.png) with
Pillow: a white drop on the brand's blue. Run again after changing the drawing; the PNGs are
committed and ship with the package (nothing is fetched at run time)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (11, 107, 203, 255)
WHITE = (255, 255, 255, 255)
TARGET = Path(__file__).resolve().parent.parent / "cloud" / "static" / "cabinet"


def draw(size: int) -> Image.Image:
    image = Image.new("RGBA", (size, size), BLUE)
    pen = ImageDraw.Draw(image)
    unit = size / 16
    # a drop: a circle under a triangle, centred with room for maskable cropping
    pen.ellipse((5 * unit, 7 * unit, 11 * unit, 13 * unit), fill=WHITE)
    pen.polygon([(8 * unit, 3 * unit), (5.3 * unit, 9 * unit), (10.7 * unit, 9 * unit)], fill=WHITE)
    return image


def main() -> None:
    for size in (192, 512):
        draw(size).save(TARGET / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()
