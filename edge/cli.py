"""``aquastand-edge``: commands of the stand process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import click

from edge.config import load_config
from edge.store import Store
from sync.directory import validate_directory
from sync.errors import RuleError


@click.group()
@click.version_option(version("aquastand"), prog_name="aquastand-edge")
def main() -> None:
    """Aquastand stand: NFC and QR sessions, local store, attendant touchscreen."""


@main.command("load-directory")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Load it even if it is older than the one held")
def load_directory(file: Path, force: bool) -> None:
    """Load a directory exported by `aquastand-cloud export-directory` (all or nothing)."""
    try:
        config = load_config()
    except ValueError as error:
        raise click.ClickException(f"configuration: {error}") from error
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.ClickException(f"{file} is not a JSON file: {error}") from error
    try:
        directory = validate_directory(document)
        store = Store(config.database_path)
        try:
            counts = store.load_directory(
                directory, datetime.now(UTC), site_id=config.site_id, allow_older=force
            )
        finally:
            store.close()
    except RuleError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"loaded directory version {directory.version} of site {directory.site_id}: "
        + ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
    )
