"""The code's layout as the house style asks: modules readable in one sitting, and the
import-linter contracts inside ``cloud/`` naming the same web and service modules."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cloud", "edge", "hardware", "sync")
MAX_LINES = 530  # "around 500 lines" (issue 14), with a little slack for a table module


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _tails(layer: str) -> set[str]:
    return {part.strip().strip("()") for part in layer.split(":")}


def _wildcard_tails(modules: list[str]) -> set[str]:
    return {m.removeprefix("cloud.*.") for m in modules if m.startswith("cloud.*.")}


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    too_long = {name: n for name, n in long.items() if n > MAX_LINES}
    assert too_long == {}


def test_the_layer_contract_and_the_forbidden_contract_name_the_same_modules() -> None:
    contracts = _contracts()
    web, services = contracts["inside an area, services never import its pages or API"]["layers"]
    forbidden = contracts["no service imports a page or API module of any area"]
    assert _wildcard_tails(forbidden["source_modules"]) == _tails(services)
    assert _wildcard_tails(forbidden["forbidden_modules"]) == _tails(web)


def test_every_area_package_is_a_container_of_the_layer_contract() -> None:
    contracts = _contracts()
    containers = set(
        contracts["inside an area, services never import its pages or API"]["containers"]
    )
    areas = {
        f"cloud.{path.parent.name}"
        for path in (ROOT / "cloud").glob("*/__init__.py")
        if path.parent.name not in ("api", "models", "notify")  # shared plumbing, not areas
    }
    assert containers == areas
