"""``aquastand-edge``: commands of the stand process."""

from __future__ import annotations

from importlib.metadata import version

import click


@click.group()
@click.version_option(version("aquastand"), prog_name="aquastand-edge")
def main() -> None:
    """Aquastand stand: NFC and QR sessions, local store, attendant touchscreen."""
