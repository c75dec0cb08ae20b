"""``aquastand-edge``: commands of the stand process."""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import click

from edge.camera import drop_frame, drop_qr_text
from edge.config import EdgeConfig, load_config
from edge.screen import StateServer
from edge.stand import Stand, simulated, simulated_nfc_device
from edge.store import Store
from edge.watchdog import Watchdog
from hardware.nfc import emulate_card
from sync.agent import CentralUnreachable, enrol
from sync.directory import validate_directory
from sync.errors import RuleError
from sync.logs import setup_logging
from sync.privatefiles import make_private_dir

READY_WAIT_S = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# sysexits.h's EX_CONFIG: the stand's unit does not restart a stand that cannot run as
# configured (RestartPreventExitStatus=78) - it would only fail again every few seconds.
EX_CONFIG = 78
# Libraries whose INFO lines would repeat every second (APScheduler logs each job it runs).
QUIET_LOGGERS = {"apscheduler": logging.WARNING}


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
            with store.atomic():
                counts = store.load_directory(
                    directory, datetime.now(UTC), site_id=config.site_id, allow_older=force
                )
                # The sync agent's cursor belongs to the copy just replaced: its next poll
                # starts over from 0 and replaces the file's copy with the central one.
                store.forget_cursor()
        finally:
            store.close()
    except RuleError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"loaded directory version {directory.version} of site {directory.site_id}: "
        + ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), replacing it whole: a
    temporary file in the same directory is written, synced and renamed over it."""
    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@main.command("enrol")
@click.option("--central", "central_url", required=True, help="The central service's URL")
@click.option("--code", required=True, help="The one-time code the central app showed")
def enrol_stand(central_url: str, code: str) -> None:
    """Exchange a one-time enrolment code for this stand's token (kept in the data directory,
    owner-only) and record the stand, its site and the central URL for the sync agent."""
    if not central_url.startswith(("http://", "https://")):
        raise click.BadParameter("an http:// or https:// URL", param_hint="--central")
    config = _config(None)
    try:
        enrolment = enrol(central_url, code)
    except RuleError as error:
        raise click.ClickException(
            f"the central service refused the code: {error.message}"
        ) from error
    except CentralUnreachable as error:
        raise click.ClickException(f"cannot reach the central service: {error}") from error
    write_private(config.token_path, enrolment.token + "\n")
    record = {
        "stand_id": enrolment.stand_id,
        "site_id": enrolment.site_id,
        "central_url": central_url.rstrip("/"),
    }
    write_private(config.enrolment_path, json.dumps(record, indent=2) + "\n")
    click.echo(
        f"enrolled as stand {enrolment.stand_id} of site {enrolment.site_id}"
        f" at {central_url}; token in {config.token_path}"
    )


class NotConfigured(click.ClickException):
    """The stand cannot run as configured (exit status :data:`EX_CONFIG`)."""

    exit_code = EX_CONFIG


def _config(config_file: Path | None, **overrides: object) -> EdgeConfig:
    try:
        return load_config(config_file, **overrides)
    except ValueError as error:
        raise click.ClickException(f"configuration: {error}") from error


@main.command("run")
@click.option("--simulate", is_flag=True, help="MockFactory pins, nfcpy udp reader, image camera")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML configuration file (default: AQUASTAND_EDGE_CONFIG or <data dir>/edge.toml)",
)
def run(simulate: bool, config_file: Path | None) -> None:
    """Run the stand: reader, camera, feedback, engine and the state endpoint, until stopped.

    Under systemd (``Type=notify``) it says READY=1 once serving and feeds the watchdog while
    its loops run (:mod:`edge.watchdog`)."""
    try:
        config = load_config(config_file)
    except ValueError as error:
        raise NotConfigured(f"configuration: {error}") from error
    if simulate:
        config = simulated(config)
    # SIGTERM and SIGINT are blocked in every thread and taken by the main thread alone with
    # sigtimedwait: no handler runs at an arbitrary point (a handler setting an Event can
    # deadlock on the lock the interrupted code holds).
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    log_handler = setup_logging(levels=QUIET_LOGGERS)
    _dump_stacks_on_abort()
    try:
        try:
            stand = Stand(config)
        except ValueError as error:
            raise NotConfigured(str(error)) from error
        with stand:
            try:
                server = StateServer(stand)
            except OSError as error:
                raise click.ClickException(
                    f"cannot listen on 127.0.0.1:{config.port}: {error}"
                ) from error
            with server:
                _serve(stand, server)
    finally:
        # A second request to stop, come while stopping, is done already: take it off.
        for pending in signal.sigpending() & STOP_SIGNALS:
            signal.sigtimedwait({pending}, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        logging.getLogger().removeHandler(log_handler)
    click.echo("stopped")


def _serve(stand: Stand, server: StateServer) -> None:
    """Start ``stand`` and its screen, say so, and feed the watchdog until SIGTERM or SIGINT."""
    config = stand.config
    server.start()
    stand.start()
    stand.wait_reader(READY_WAIT_S)
    reader = stand.reader.health().state if stand.reader else "absent"
    click.echo(
        f"ready: {server.url}/api/state nfc={config.nfc_device} (reader {reader})"
        f" camera={config.camera}"
        + (f" inbox={stand.camera_inbox}" if config.camera == "directory" else "")
        + f" sync={config.central_url if stand.agent else 'off (not enrolled)'}",
    )
    sys.stdout.flush()
    watchdog = Watchdog(lambda: stand.stopped_loops() + server.stopped_loops())
    watchdog.ready(f"serving on {server.url}")
    while signal.sigtimedwait(STOP_SIGNALS, watchdog.check_every_s) is None:
        watchdog.beat()
    watchdog.stopping()
    click.echo("stopping")


def _dump_stacks_on_abort() -> None:
    """Have a fatal signal (systemd's watchdog kills with SIGABRT) print every thread's stack
    to stderr, the journal: what the hung loop was doing. Not where stderr is no file."""
    with contextlib.suppress(AttributeError, ValueError, OSError):  # stderr without a fileno
        faulthandler.enable()


@main.command("tap")
@click.argument("uid")
@click.option("--device", help="nfcpy udp path of the stand's reader (default: from config)")
@click.option("--hold", default=3.0, show_default=True, help="Seconds the card stays on")
def tap(uid: str, device: str | None, hold: float) -> None:
    """Present card UID (hex: 4/7 bytes Type A, 8 FeliCa if polled) to a simulated stand."""
    if hold <= 0:
        raise click.BadParameter("must be positive", param_hint="--hold")
    path = device or simulated_nfc_device(_config(None))
    if not path.startswith("udp:"):
        raise click.BadParameter("an nfcpy udp path, udp:HOST:PORT", param_hint="--device")
    try:
        emulate_card(path, uid, duration_s=hold)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot present the card on {path}: {error}") from error
    click.echo(f"tapped {uid.upper()} on {path}")


@main.command("scan")
@click.argument(
    "image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--text", "payload", help="Render PAYLOAD as a QR code instead of an image file")
def scan(image: Path | None, payload: str | None) -> None:
    """Show IMAGE (or a QR code of --text PAYLOAD) to a simulated stand's camera."""
    if (image is None) == (payload is None):
        raise click.UsageError("give either IMAGE or --text PAYLOAD")
    inbox = _config(None).camera_path
    if image is not None:
        placed = drop_frame(inbox, image.read_bytes(), image.suffix or ".img")
    else:
        assert payload is not None
        placed = drop_qr_text(inbox, payload)
    click.echo(f"placed {placed.name} in {inbox}")
