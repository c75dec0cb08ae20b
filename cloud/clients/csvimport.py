"""Importing clients from a CSV file: all rows or none.

The file has a header row with the columns ``kind,name,phones,email,plates,cards,note,foreign``
(only ``kind`` is required; ``phones``, ``plates`` and ``cards`` hold several values
separated by ``;``; ``foreign`` "yes"/"да"/"1" lets the row's plates match no Russian
format), in UTF-8 with or without a BOM. A phone another client has (or an earlier row) is
refused unless ``shared_phones``. Every row goes through
``clientbook.create_client`` as the system (``actor=None``: no site scope, no author)
inside one transaction. Every bad row is reported as ``line N: message``; if there is one,
the transaction is rolled back and nothing of the file is stored. The file is parsed from
memory, never saved."""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

from flask_babel import gettext as _
from tqdm import tqdm

from cloud.clients import credentials as client_credentials
from cloud.clients import service as clientbook
from cloud.db import db_proxy
from cloud.errors import DomainError
from cloud.models import Site
from sync.errors import RuleError
from sync.plates import normalise_plate

COLUMNS = ("kind", "name", "phones", "email", "plates", "cards", "note", "foreign")
YES = ("1", "yes", "true", "да")
LIST_COLUMNS = ("phones", "plates", "cards")
KIND_ALIASES = {"member": "member", "guest": "guest", "участник": "member", "гость": "guest"}


class ImportFailed(Exception):
    """The file was not imported; ``problems`` are the ``line N: message`` lines."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; the header is line 1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        message = _("файл не в кодировке UTF-8 (%(reason)s)", reason=error.reason)
        raise ImportFailed([f"line 1: {message}"]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "kind" not in header:
        message = _("нет столбца kind (нужны столбцы: %(columns)s)", columns=", ".join(COLUMNS))
        raise ImportFailed([f"line 1: {message}"])
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        message = _("неизвестные столбцы: %(columns)s", columns=", ".join(unknown))
        raise ImportFailed([f"line 1: {message}"])
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if None in row:
                message = _("значений больше, чем столбцов")
                raise ImportFailed([f"line {reader.line_num}: {message}"])
            rows.append((reader.line_num, {key: value or "" for key, value in row.items()}))
    except csv.Error as error:
        raise ImportFailed([f"line {reader.line_num}: {error}"]) from None
    return rows


def _client_fields(row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("kind", "").strip().lower()
    fields: dict[str, Any] = {
        "kind": KIND_ALIASES.get(kind, kind),
        "name": row.get("name", ""),
        "email": row.get("email", ""),
        "note": row.get("note", ""),
        "foreign": row.get("foreign", "").strip().lower() in YES,
    }
    for column in LIST_COLUMNS:
        fields[column] = [part.strip() for part in row.get(column, "").split(";") if part.strip()]
    return fields


def _site_id(site_name: str) -> int | None:
    if not site_name:
        return None
    site = Site.get_or_none(Site.name == site_name.strip())
    if site is None:
        raise ImportFailed([_("площадка «%(name)s» не найдена", name=site_name)])
    return int(site.id)


def _repeats(line: int, fields: dict[str, Any], seen: dict[tuple[str, str], int]) -> list[str]:
    """Plates and cards this row shares with an earlier row of the same file."""
    problems = []
    for column, kind, normalise in (
        ("plates", "plate", normalise_plate),
        ("cards", "card", client_credentials.card_uid),
    ):
        for value in fields[column]:
            try:
                key = (kind, normalise(value))
            except RuleError:
                continue  # create_client reports the bad value itself
            if key in seen:
                if kind == "plate":
                    message = _(
                        "номер %(value)s уже есть в строке %(line)s", value=key[1], line=seen[key]
                    )
                else:
                    message = _(
                        "карта %(value)s уже есть в строке %(line)s", value=key[1], line=seen[key]
                    )
                problems.append(f"line {line}: {message}")
            else:
                seen[key] = line
    return problems


def import_clients(
    data: bytes, *, site_name: str = "", progress: bool = True, shared_phones: bool = False
) -> int:
    """Import every row of the CSV ``data`` or none; return how many clients were created.
    ``site_name`` (optional) is the home site of every imported client; ``shared_phones``
    confirms phones other clients have."""
    site_id = _site_id(site_name)
    rows = _rows(data)
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    with db_proxy.atomic():
        bar = tqdm(rows, desc="import", unit="row", file=sys.stderr, disable=not progress)
        for line, row in bar:
            fields = _client_fields(row)
            repeats = _repeats(line, fields, seen)
            if repeats:
                problems.extend(repeats)
                continue
            try:
                clientbook.create_client(None, site_id=site_id, confirmed=shared_phones, **fields)
            except (DomainError, RuleError) as error:
                problems.append(f"line {line}: {error.message}")
        if problems:
            raise ImportFailed(problems)  # leaving the block rolls every row back
    return len(rows)
