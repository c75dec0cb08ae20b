"""``aquastand-cloud``: commands for the people who run the central service."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import peewee
from gunicorn.app.base import BaseApplication

from cloud import jobs
from cloud.clidb import open_database as _open_database
from cloud.clidb import require_current_schema as _require_current_schema
from cloud.config import CloudConfig
from cloud.errors import DomainError
from sync.errors import RuleError


@click.group()
def main() -> None:
    """Aquastand central service."""


@main.command()
def init() -> None:
    """Create the database or upgrade it to this version's schema (safe to run again)."""
    from cloud import rolluptriggers
    from cloud.clients.qrkeys import ensure_qr_key
    from cloud.migrations import upgrade

    config, database = _open_database()
    try:
        before, after = upgrade(database)
        # The reports' rollups cut in the configured zone (counted again if it changed).
        if rolluptriggers.ensure_zone(database, config.timezone):
            click.echo(f"report rollups counted in {config.timezone}")
    except RuntimeError as error:  # a schema newer than this program: nothing was changed
        raise click.ClickException(str(error)) from error
    except peewee.OperationalError as error:
        raise click.ClickException(f"cannot open the database: {error}".strip()) from error
    finally:
        database.close()
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
@click.option(
    "--role", required=True, type=click.Choice(["attendant", "operator", "administrator", "owner"])
)
@click.option("--site", "sites", multiple=True, help="Site name (repeatable); created if missing")
@click.option("--pin", default="", help="PIN for stand screens (6-8 digits)")
def create_user(name: str, phone: str, role: str, sites: tuple[str, ...], pin: str) -> None:
    """Create a staff member; the password is read from standard input."""
    from cloud.staff.service import create_staff

    _config, _database = _open_database()
    password = sys.stdin.readline().rstrip("\n")
    try:
        user = create_staff(
            name=name, phone=phone, role=role, password=password, pin=pin, site_names=list(sites)
        )
    except (DomainError, RuleError) as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created user {user.id} ({user.full_name}, {user.role})")


@main.command("api-token")
@click.option("--phone", required=True)
@click.option("--days", type=int, default=None, help="how long it works (default: api_token_days)")
def api_token(phone: str, days: int | None) -> None:
    """Print a new API token for the staff member with this phone (alone on the last line)."""
    from cloud.errors import DomainError
    from cloud.models import User
    from cloud.staff.service import issue_token
    from sync.phones import normalise_phone

    config, _database = _open_database()
    try:
        normalised = normalise_phone(phone)
    except RuleError as error:
        raise click.ClickException(str(error)) from error
    user = User.get_or_none((User.phone == normalised) & User.deleted_at.is_null() & User.active)
    if user is None:
        raise click.ClickException("no active user with this phone")
    try:
        days = config.api_token_days if days is None else days
        token = issue_token(None, user, days, datetime.now(UTC))
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"API token for {user.full_name} (shown once, keep it secret):")
    click.echo(token)


class CentralServer(BaseApplication):
    """gunicorn serving the central app, configured here rather than from gunicorn's argv."""

    def __init__(self, config: CloudConfig, options: dict[str, Any]):
        self.aquastand_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from cloud import create_app

        app = create_app(self.aquastand_config)
        # Built before the workers fork (preload): no connection may be shared with them.
        app.extensions["aquastand_db"].close()
        return app


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Processes"
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and the API with gunicorn (run `init` first)."""
    config, database = _open_database()
    _require_current_schema(database)
    from cloud import gunicorn_conf

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "preload_app": gunicorn_conf.preload_app,
        "logconfig_dict": gunicorn_conf.logconfig_dict,
        "access_log_format": gunicorn_conf.access_log_format,
        "proc_name": gunicorn_conf.proc_name,
        "control_socket_disable": gunicorn_conf.control_socket_disable,
        "limit_request_line": gunicorn_conf.limit_request_line,
    }
    CentralServer(config, options).run()


@main.command("demo-data")
@click.option(
    "--url",
    default="http://127.0.0.1:8000/",
    show_default=True,
    help="Address to print for the demo",
)
def demo_data(url: str) -> None:
    """Fill the database with a demo chain: sites, stands, tariffs, staff, clients, sessions.

    Runs once: if the demo site exists, it only prints the logins again."""
    from cloud import create_app
    from cloud.clock import app_now
    from cloud.demodata import DEMO_STAFF, load_demo_data

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    with app.app_context():
        try:
            summary = load_demo_data(ZoneInfo(config.timezone), app_now())
        except (DomainError, RuleError) as error:
            raise click.ClickException(error.message) from error
        finally:
            app.extensions["aquastand_db"].close()
    if summary is None:
        click.echo("demo data already present")
    else:
        click.echo(
            f"demo data created: {summary.sites} sites, {summary.stands} stands, "
            f"{summary.tariffs} tariffs, {summary.staff} staff, {summary.members} members, "
            f"{summary.guests} guests, {summary.sessions} sessions, {summary.topups} top-ups"
        )
    click.echo(f"\nOpen {url} and log in (phone / password; PIN for stand screens):")
    for login in DEMO_STAFF:
        click.echo(
            f"  {login.role:<14} {login.phone}  {login.password:<17} PIN {login.pin}  {login.name}"
        )


@main.command("demo-credentials")
@click.option("--post", default=1, show_default=True, help="The demo post, 1 or 2")
def demo_credentials(post: int) -> None:
    """Print, on one line, the card UID `make demo` taps at its demo post POST to open a
    session there and another demo member's QR token to show there next."""
    from cloud import create_app
    from cloud.democredentials import demo_credentials as credentials

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    with app.app_context():
        try:
            card, token = credentials(config, post)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
        finally:
            app.extensions["aquastand_db"].close()
    click.echo(f"{card} {token}")


@main.command("demo-cabinet")
@click.option("--url", default="http://127.0.0.1:8000/", show_default=True)
def demo_cabinet(url: str) -> None:
    """Print how to log in to the client cabinet as a demo member, and where the SMS go."""
    from cloud import create_app
    from cloud.democredentials import cabinet_member
    from cloud.notify.sms import sms_file_path

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    with app.app_context():
        try:
            name, phone = cabinet_member()
        except LookupError as error:
            raise click.ClickException(str(error)) from None
        finally:
            app.extensions["aquastand_db"].close()
    outbox = sms_file_path(config)
    click.echo(
        f"The client cabinet (a phone-sized web app, installable): open {url}my/ and log in as\n"
        f"the demo member {name} with the phone {phone}. SMS go to a file here\n"
        f"(sms_backend 'file'); the code is on its last line:\n"
        f"  tail -n 1 '{outbox}'\n"
        f"Their QR code in the cabinet is the one printed for the first post below: shown to\n"
        f"that post's camera (the scan command), it starts a session there."
    )


@main.command("import-clients")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--site", default="", help="Home site (name) of every imported client")
@click.option("--quiet", is_flag=True, help="No progress bar")
@click.option(
    "--shared-phones",
    is_flag=True,
    help="Import a phone another client already has (else that row is refused)",
)
def import_clients(file: str, site: str, quiet: bool, shared_phones: bool) -> None:
    """Import clients from a CSV file (kind,name,phones,email,plates,cards,note,foreign; lists
    split by ";"), all rows or none: a bad row is reported with its line number."""
    from pathlib import Path

    from cloud.clients.csvimport import ImportFailed
    from cloud.clients.csvimport import import_clients as run_import

    _config, database = _open_database()
    _require_current_schema(database)
    try:
        count = run_import(
            Path(file).read_bytes(),
            site_name=site,
            progress=not quiet,
            shared_phones=shared_phones,
        )
    except ImportFailed as failure:
        for problem in failure.problems:
            click.echo(problem, err=True)
        raise click.ClickException("nothing was imported") from failure
    finally:
        database.close()
    click.echo(f"imported {count} clients")


@main.command("export-directory")
@click.option("--site", "site_name", required=True, help="Site (name) whose stands load it")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout)"
)
@click.option("--default-tariff", default="", help="Tariff (name) for clients without one")
def export_directory(site_name: str, output: str | None, default_tariff: str) -> None:
    """Write the directory a site's stands work from as JSON, for `aquastand-edge
    load-directory`. The file is readable by its owner only: it holds staff PIN hashes."""
    import json
    import os

    from cloud.db import utcnow
    from cloud.models import Site, Tariff
    from cloud.standsync.directory import build_directory

    config, database = _open_database()
    _require_current_schema(database)
    site = Site.get_or_none(Site.name == site_name)
    if site is None:
        raise click.ClickException(f"no site named {site_name!r}")
    tariff_id = None
    if default_tariff:
        tariff = Tariff.get_or_none(Tariff.name == default_tariff)
        if tariff is None:
            raise click.ClickException(f"no tariff named {default_tariff!r}")
        tariff_id = tariff.id
    try:
        document = build_directory(site.id, config, utcnow(), tariff_id)
    finally:
        database.close()
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(
        f"directory version {document['version']} of site {site_name!r} written to {output}: "
        f"{len(document['clients'])} clients, {len(document['credentials'])} credentials, "
        f"{len(document['tariffs'])} tariffs, {len(document['staff'])} staff",
        err=True,
    )


@main.command("provision-stand")
@click.option("--site", "site_name", required=True, help="Site (name) of the stand")
@click.option("--name", required=True, help="Stand name; created if the site has no such stand")
def provision_stand(site_name: str, name: str) -> None:
    """Print a one-time enrolment code for a stand (alone on the last line); the stand
    exchanges it for its token with `aquastand-edge enrol`. A new code replaces an unused one;
    the stand's current token keeps working until the new code is used."""
    from cloud.db import utcnow
    from cloud.models import Site
    from cloud.standsync.standauth import provision_stand as provision

    _config, database = _open_database()
    _require_current_schema(database)
    try:
        site = Site.get_or_none(Site.name == site_name)
        if site is None:
            raise click.ClickException(f"no site named {site_name!r}")
        provisioned = provision(site, name, utcnow())
    except (DomainError, RuleError) as error:
        raise click.ClickException(error.message) from error
    finally:
        database.close()
    expires = provisioned.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(
        f"enrolment code for stand {provisioned.stand.id} ({provisioned.stand.name!r} at "
        f"{site_name!r}), valid once until {expires}:"
    )
    click.echo(provisioned.code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON")
def check(as_json: bool) -> None:
    """Check the stored data against the business rules (balances, open sessions, cards and
    plates, session charges, stand event numbers, tariffs); exit 1 if anything is wrong."""
    import json

    from cloud import create_app
    from cloud.clock import app_now
    from cloud.integrity.checks import run_checks

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    with app.app_context():
        try:
            results = run_checks(app_now())
        finally:
            app.extensions["aquastand_db"].close()
    failed = [result for result in results if not result.ok]
    if as_json:
        document = {"ok": not failed, "checks": [result.to_dict() for result in results]}
        click.echo(json.dumps(document, ensure_ascii=False, indent=1))
    else:
        for result in results:
            click.echo(f"{'OK  ' if result.ok else 'FAIL'}  {result.title}")
            for violation in result.violations:
                click.echo(f"      - {violation.message}")
            if result.truncated:
                click.echo(f"      … (first {len(result.violations)} shown)")
    if failed:
        raise SystemExit(1)


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file: Path) -> None:
    """Write a backup of the database to FILE (owner-only; a consistent snapshot, the service
    may keep running). SQLite: a database file; PostgreSQL: pg_dump's custom format."""
    from cloud.backup import BackupError, backup

    config, database = _open_database()
    try:
        done = backup(config.effective_database_url, database, file)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    finally:
        database.close()
    click.echo(
        f"backed up {done.database} (schema version {done.version}) to {file}: {done.size} bytes"
    )


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def restore_command(file: Path, yes: bool) -> None:
    """Replace everything in the database with the backup FILE, all or nothing. Stop the
    service first (systemctl stop aquastand-cloud). Refuses a backup newer than this program
    and a database newer than the backup."""
    from cloud.backup import BackupError, backup_version, describe, restore
    from cloud.migrations import latest_version

    config, database = _open_database()
    url = config.effective_database_url
    try:
        version = backup_version(url, file)
        if not yes:
            click.confirm(
                f"Replace everything in {describe(url)} with {file} (schema version {version})?",
                abort=True,
            )
        done = restore(url, database, file)
    except BackupError as error:
        raise click.ClickException(f"{error}; nothing was changed") from error
    finally:
        database.close()
    click.echo(
        f"restored {file} (schema version {done.version}) into {done.database}: "
        "every table replaced by the backup's"
    )
    latest = latest_version()
    if done.version < latest:
        click.echo(
            f"the schema is version {done.version}, this program's is {latest}: run "
            "`aquastand-cloud init` to upgrade it (the service's unit runs it when it starts)"
        )


for _job in jobs.COMMANDS:
    main.add_command(_job)
