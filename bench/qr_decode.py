"""QR decoding of degraded phone-screen frames: share decoded and time per frame, next to bare
pyzbar on the same frames, and the cost of a frame with no code.

Frames (bench/qr_frames.py, deterministic from ``--seed``): 640x480 greyscale, a real token
(the compact "AQ2:" form in two frames of three, the long "AQ1." form in one) on a lit phone
screen, 2-5 px per module, a tilt up to 10 degrees, JPEG quality 50-90 and sensor noise on
every frame, and per variant over its whole range: defocus (sigma up to 2.5 px and half a
module), motion blur (1-4 px), perspective (10-30 degrees), a glare band, moiré, dim,
over-exposed, and several at once, milder ("combined"). ``--frames-per-variant 40``: 320 frames.

What each figure covers:

- ``decoded``: the share of frames for which :func:`hardware.qrdecode.decode_qr` (the stand's
  decoder: code-like region, zbar, zxing-cpp, zxing-cpp sharpened) returns exactly the token;
- ``wall ms``: the mean wall time of that call alone (frame generation not timed), on this
  machine, in one thread, with whatever else the machine runs at the time (the load average
  is printed before and after); ``cpu ms``: the CPU time of the calling thread in that call
  (zbar and zxing-cpp decode in it), which a busy machine inflates much less;
- ``pyzbar``: the same for a bare ``pyzbar.decode`` of the whole frame (the decoder before);
- ``zxing``: the same for a bare ``zxingcpp.read_barcodes`` of the whole frame (a reference);
- ``empty``: mean and maximum time of ``decode_qr`` on ``--empty`` frames with no code (a
  wash bay's background: gradients, lines, noise, JPEG), and how many it found a code in.

    .venv/bin/python bench/qr_decode.py [--frames-per-variant 40] [--empty 200]

Last line: ``qr_decode decoded=<share> ms_per_frame=<wall mean> cpu_ms_per_frame=<mean>
empty_ms=<wall mean> empty_cpu_ms=<mean> pyzbar_decoded=<share> pyzbar_ms=<wall mean>``. Targets: decoded >= 0.98, ms_per_frame <= 5,
empty_ms <= 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import qr_frames
from PIL import Image

from hardware.qrdecode import decode_qr

SEED = 20261206


def bare_pyzbar(frame: Image.Image) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol, decode

    return [symbol.data.decode() for symbol in decode(frame, symbols=[ZBarSymbol.QRCODE])]


def bare_zxing(frame: Image.Image) -> list[str]:
    import zxingcpp

    found = zxingcpp.read_barcodes(frame, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]


DECODERS: dict[str, Callable[[Image.Image], list[str]]] = {
    "ours": decode_qr,
    "pyzbar": bare_pyzbar,
    "zxing": bare_zxing,
}


def timed(
    decoder: Callable[[Image.Image], list[str]], frame: Image.Image
) -> tuple[list[str], float, float]:
    """The payloads, the wall time and the thread's CPU time of one call, in ms."""
    started, cpu = time.perf_counter(), time.thread_time()
    payloads = decoder(frame)
    return payloads, (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000


Row = tuple[str, str, bool, float, float]  # variant, form, decoded, wall ms, CPU ms


def measure(count: int, rng: random.Random, cap_defocus: bool) -> dict[str, list[Row]]:
    """Per decoder, a row for every frame."""
    key = qr_frames.signing_key(rng)
    results: dict[str, list[Row]] = defaultdict(list)
    for variant in qr_frames.VARIANTS:
        for _ in range(count):
            conditions = qr_frames.draw(variant, rng, cap_defocus=cap_defocus)
            token = qr_frames.real_token(key, conditions.form, rng)
            frame = qr_frames.render(token, conditions, rng)
            for name, decoder in DECODERS.items():
                payloads, wall, cpu = timed(decoder, frame)
                results[name].append((variant, conditions.form, payloads == [token], wall, cpu))
    return results


def share(rows: list[Row]) -> float:
    return sum(row[2] for row in rows) / len(rows)


def mean_ms(rows: list[Row], cpu: bool = False) -> float:
    return statistics.fmean(row[4] if cpu else row[3] for row in rows)


def report(results: dict[str, list[Row]]) -> None:
    names = list(DECODERS)
    header = " ".join(f"{n + ' dec':>10} {'wall ms':>8} {'cpu ms':>7}" for n in names)
    print(f"{'frames':<12} {'n':>4} {header}")
    groups: list[tuple[str, Callable[[Row], bool]]] = [
        (variant, lambda row, v=variant: row[0] == v) for variant in qr_frames.VARIANTS
    ]
    groups += [(f"form {form}", lambda row, f=form: row[1] == f) for form in ("compact", "long")]
    groups += [("all", lambda row: True)]
    for label, keep in groups:
        cells = []
        for name in names:
            rows = [row for row in results[name] if keep(row)]
            cells.append(f"{share(rows):>10.3f} {mean_ms(rows):>8.2f} {mean_ms(rows, True):>7.2f}")
        count = sum(1 for row in results["ours"] if keep(row))
        print(f"{label:<12} {count:>4} " + " ".join(cells))


def empty_cost(count: int, rng: random.Random) -> tuple[float, float, float, int]:
    """Mean wall ms, max wall ms, mean CPU ms of decode_qr on empty frames; codes found."""
    walls, cpus, found = [], [], 0
    for _ in range(count):
        payloads, wall, cpu = timed(decode_qr, qr_frames.empty_frame(rng))
        walls.append(wall)
        cpus.append(cpu)
        found += bool(payloads)
    return statistics.fmean(walls), max(walls), statistics.fmean(cpus), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-per-variant", type=int, default=40)
    parser.add_argument("--empty", type=int, default=200)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--uncapped", action="store_true", help="defocus up to 2.5 px whatever the module size"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    total = args.frames_per_variant * len(qr_frames.VARIANTS)
    print(f"frames: {total} (seed {args.seed}), {args.empty} empty")
    decode_qr(qr_frames.empty_frame(random.Random(0)))  # imports, not timed
    bare_pyzbar(Image.new("L", (64, 64)))
    bare_zxing(Image.new("L", (64, 64)))
    results = measure(args.frames_per_variant, rng, cap_defocus=not args.uncapped)
    report(results)
    empty_mean, empty_max, empty_cpu, empty_found = empty_cost(args.empty, rng)
    print(
        f"empty frames: wall mean {empty_mean:.3f} ms, max {empty_max:.2f} ms; "
        f"CPU mean {empty_cpu:.3f} ms; codes found {empty_found}"
    )
    print(f"load after: {os.getloadavg()[0]:.1f}")
    ours, bare = results["ours"], results["pyzbar"]
    print(
        f"qr_decode decoded={share(ours):.3f} ms_per_frame={mean_ms(ours):.2f} "
        f"cpu_ms_per_frame={mean_ms(ours, True):.2f} empty_ms={empty_mean:.3f} "
        f"empty_cpu_ms={empty_cpu:.3f} pyzbar_decoded={share(bare):.3f} "
        f"pyzbar_ms={mean_ms(bare):.2f}"
    )


if __name__ == "__main__":
    main()
