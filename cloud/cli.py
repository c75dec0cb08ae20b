"""``aquastand-cloud``: commands for the people who run the central service."""

from __future__ import annotations

import sys
from typing import Any

import click

from cloud.config import load_config
from cloud.db import bind


def _open_database() -> Any:
    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return config, bind(config.effective_database_url)


@click.group()
def main() -> None:
    """Aquastand central service."""


@main.command()
def init() -> None:
    """Create the database or upgrade it to this version's schema (safe to run again)."""
    from cloud.migrations import upgrade
    from cloud.qrkeys import ensure_qr_key

    config, database = _open_database()
    before, after = upgrade(database)
    ensure_qr_key(config)
    if before is None:
        click.echo(f"created schema version {after}")
    elif before == after:
        click.echo(f"schema is up to date (version {after})")
    else:
        click.echo(f"upgraded schema {before} -> {after}")


@main.command("create-user")
@click.option("--name", required=True, help="Full name")
@click.option("--phone", required=True)
@click.option("--role", required=True, type=click.Choice(["attendant", "operator", "administrator", "owner"]))
@click.option("--site", "sites", multiple=True, help="Site name (repeatable); created if missing")
@click.option("--pin", default="", help="PIN for stand screens (4-8 digits)")
def create_user(name: str, phone: str, role: str, sites: tuple[str, ...], pin: str) -> None:
    """Create a staff member; the password is read from standard input."""
    from cloud.staffbook import create_staff

    _config, _database = _open_database()
    password = sys.stdin.readline().rstrip("\n")
    try:
        user = create_staff(name=name, phone=phone, role=role, password=password, pin=pin, site_names=list(sites))
    except Exception as error:  # domain errors carry a message for the operator
        message = getattr(error, "message", None) or str(error)
        raise click.ClickException(message) from error
    click.echo(f"created user {user.id} ({user.full_name}, {user.role})")


@main.command("api-token")
@click.option("--phone", required=True)
def api_token(phone: str) -> None:
    """Print a new API token for the staff member with this phone (alone on the last line)."""
    from cloud.auth import new_api_token
    from cloud.models import User
    from sync.errors import RuleError
    from sync.phones import normalise_phone

    _config, _database = _open_database()
    try:
        normalised = normalise_phone(phone)
    except RuleError as error:
        raise click.ClickException(str(error)) from error
    user = User.get_or_none((User.phone == normalised) & User.deleted_at.is_null() & User.active)
    if user is None:
        raise click.ClickException("no active user with this phone")
    click.echo(f"API token for {user.full_name} (shown once, keep it secret):")
    click.echo(new_api_token(user))
