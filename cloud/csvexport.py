"""CSV for Excel, as every page and report exports it: UTF-8 with a byte order mark, ";"
between cells (the Russian locale's list separator), decimal commas, and names people typed
kept from being read as formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from flask import Response

# Excel opens a UTF-8 CSV correctly only with a byte order mark; ";" is its list separator in
# the Russian locale, where "," is the decimal separator.
CSV_BOM = "\ufeff"
CSV_SEPARATOR = ";"


def hours_minutes(seconds: int) -> str:
    """Total time as ``h:mm`` (whole minutes, rounded down): 5430 -> "1:30"."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}"


def roubles_plain(kopecks: int) -> str:
    """Roubles with a decimal comma and no grouping or sign of currency, for spreadsheets."""
    sign = "-" if kopecks < 0 else ""
    roubles, rest = divmod(abs(kopecks), 100)
    return f"{sign}{roubles},{rest:02d}"


def safe_cell(text: str) -> str:
    """Keep a spreadsheet from reading a name like ``=1+1`` as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(header: list[str], rows: Iterable[list[Any]], safe: set[int]) -> str:
    """CSV text (without the byte order mark), ";" between cells; the text cells at the
    positions in ``safe`` (names people typed) are kept from being read as formulas."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                safe_cell(cell) if i in safe and isinstance(cell, str) else cell
                for i, cell in enumerate(row)
            ]
        )
    return out.getvalue()


def csv_download(name: str, text: str) -> Any:
    """CSV text as a download for Excel: UTF-8 with a byte order mark."""
    return Response(
        (CSV_BOM + text).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def csv_response(name: str, header: list[str], rows: Iterable[list[Any]], safe: set[int]) -> Any:
    return csv_download(name, csv_text(header, rows, safe))
