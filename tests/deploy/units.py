"""Reading the repository's systemd unit files as systemd does: sections of ``key=value``
lines, a key given again adding a value (``DeviceAllow=``), ``#`` comments."""

from __future__ import annotations

from pathlib import Path

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("aquastand-edge.service", "aquastand-kiosk.service", "aquastand-cloud.service")
# The central host's scheduled work: <name>.timer starts <name>.service, one aquastand-cloud
# command that runs once and exits.
SCHEDULED = (
    "aquastand-mailings",
    "aquastand-expire-points",
    "aquastand-integrity",
    "aquastand-receipts",
    "aquastand-payments",
    "aquastand-alerts",
)


def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values in order]}}`` of ``systemd/<name>``."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (SYSTEMD_DIR / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(name: str) -> dict[str, list[str]]:
    return read_unit(name)["Service"]


def one(values: dict[str, list[str]], key: str) -> str:
    """The single value of ``key`` (fails if it is missing or given twice)."""
    [value] = values[key]
    return value


def executable(command_line: str) -> str:
    """The program an ``Exec*=`` line runs (its special prefixes ``-@:+!`` removed)."""
    return command_line.lstrip("-@:+!").split()[0]
