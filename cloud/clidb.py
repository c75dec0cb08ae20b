"""Opening the database for a command of ``aquastand-cloud`` (cloud/cli.py, cloud/jobs.py)."""

from __future__ import annotations

from typing import Any

import click
import peewee

from cloud.config import load_config, prepare_data_dir
from cloud.db import bind


def open_database() -> Any:
    config = load_config()
    prepare_data_dir(config)
    return config, bind(config.effective_database_url)


def require_current_schema(database: peewee.Database) -> None:
    """Stop with a clear message unless the database has exactly this program's schema."""
    from cloud.migrations import current_version, latest_version

    try:
        version = current_version(database)
    except peewee.OperationalError as error:
        raise click.ClickException(f"cannot open the database: {error}".strip()) from error
    finally:
        database.close()
    latest = latest_version()
    if version is None:
        raise click.ClickException("the database has no schema yet: run `aquastand-cloud init`")
    if version < latest:
        raise click.ClickException(
            f"the database schema is version {version}, this program needs {latest}: "
            "run `aquastand-cloud init` to upgrade it"
        )
    if version > latest:
        raise click.ClickException(
            f"the database schema is version {version}, newer than this program ({latest}): "
            "install the newer Aquastand"
        )
