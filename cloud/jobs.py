"""``aquastand-cloud`` commands that scheduled work runs (systemd timers, systemd/README.md):
one pass over a queue or a check, then exit; each safe to stop and to run again."""

from __future__ import annotations

import click

from cloud.clidb import open_database as _open_database
from cloud.clidb import require_current_schema as _require_current_schema
from cloud.errors import DomainError
from sync.errors import RuleError


@click.command("send-mailings")
def send_mailings() -> None:
    """Send the queued mailings' messages through the configured SMTP server (run every
    minute by aquastand-mailings.timer). Stopped (SIGTERM, Ctrl-C) between two messages, it
    leaves the rest queued; the next run sends only those, never one twice."""
    import signal
    import threading

    from cloud import create_app
    from cloud.clock import app_clock
    from cloud.marketing.mailings import send_queued

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        with app.app_context():
            report = send_queued(config, app_clock(), stop)
    except (DomainError, RuleError) as error:
        raise click.ClickException(error.message) from error
    except KeyboardInterrupt:
        raise click.ClickException("stopped; the unsent messages stay queued") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.extensions["aquastand_db"].close()
    click.echo(
        f"sent {report.sent}, failed {report.failed}, skipped {report.skipped}"
        + (
            f", {report.interrupted} interrupted earlier marked failed"
            if report.interrupted
            else ""
        )
        + (" (stopped early, the rest stay queued)" if stop.is_set() else "")
    )


@click.command("expire-points")
def expire_points() -> None:
    """Expire bonus points not used within ``points_expiry_days`` (first in, first out; see
    cloud/loyalty/bonus.py). Safe to run at any time and as often as you like: cron it daily."""
    from cloud.db import utcnow
    from cloud.loyalty.bonus import expire_all
    from cloud.loyalty.settings import effective_rules

    config, database = _open_database()
    _require_current_schema(database)
    try:
        with database.connection_context():
            # The owner's saved settings over the file's (cloud/loyalty/settings.py).
            changed, points = expire_all(effective_rules(config), utcnow())
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    finally:
        database.close()
    click.echo(f"expired {points} points of {changed} clients")


@click.command("send-receipts")
@click.option("--every", type=float, default=0, help="Seconds between passes; 0: one pass")
def send_receipts(every: float) -> None:
    """Send the queued fiscal receipts to the cloud register and ask for the results of those
    sent (cloud/fiscal/sender.py); run every minute by aquastand-receipts.timer. Stopped
    (SIGTERM, Ctrl-C) between two receipts, it leaves the rest for the next pass."""
    import signal
    import threading

    from cloud import create_app
    from cloud.clock import app_now
    from cloud.fiscal.sender import provider_for
    from cloud.fiscal.sender import send_receipts as one_pass
    from cloud.fiscal.settings import EXTENSION

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    settings = app.extensions[EXTENSION]
    provider = provider_for(settings)
    if provider is None:
        click.echo("fiscal_provider is 'none': no receipts are queued or sent")
        return
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        while not stop.is_set():
            with app.app_context():
                try:
                    report = one_pass(provider, settings, app_now(), stop=stop)
                finally:
                    app.extensions["aquastand_db"].close()
            click.echo(
                f"sent {report.sent}, done {report.done}, waiting {report.waiting}, "
                f"refused {report.refused}, failed {report.failed}"
                + (f"; stopped: {report.stopped}" if report.stopped else "")
            )
            if every <= 0:
                break
            stop.wait(every)
    except KeyboardInterrupt:
        raise click.ClickException("stopped; the rest wait for the next pass") from None
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("reconcile-payments")
def reconcile_payments() -> None:
    """Ask the payment provider about online top-ups still pending and refunds not yet
    answered, and credit or refund what it says succeeded, exactly once (cloud/payments/).
    Safe beside the notifications and at any time: run it every few minutes."""
    from cloud import create_app
    from cloud.clock import app_now
    from cloud.payments.refunds import reconcile_refunds
    from cloud.payments.service import make_provider, reconcile

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    try:
        with app.app_context():
            provider = make_provider(config)
            report = reconcile(provider, app_now())
            refunds_left = reconcile_refunds(provider, app_now())
    except (DomainError, ValueError) as error:
        raise click.ClickException(getattr(error, "message", str(error))) from error
    finally:
        app.extensions["aquastand_db"].close()
    click.echo(
        f"asked {report.asked}, credited {report.credited}, unanswered {report.unanswered}, "
        f"given up {report.given_up}; refunds unanswered {refunds_left}"
    )


@click.command("check-alerts")
def check_alerts() -> None:
    """Look for what the alert recipients are told of (a stand offline or in alarm, a long
    session, a held top-up, failing receipts, a failed integrity check), open and close the
    incidents, and mail what waits (cloud/alerts/); run every 2 minutes by
    aquastand-alerts.timer. Two runs at once send each mail once. Fails (for systemctl
    --failed) while mails wait and no SMTP server is configured."""
    from cloud import create_app
    from cloud.alerts.service import check_alerts as one_pass
    from cloud.clock import app_clock

    config, database = _open_database()
    _require_current_schema(database)
    app = create_app(config)
    try:
        with app.app_context():
            report = one_pass(config, app_clock())
    finally:
        app.extensions["aquastand_db"].close()
    mail = report.mail
    click.echo(
        f"opened {report.changes.opened}, closed {report.changes.closed}; mails sent "
        f"{mail.sent}, failed {mail.failed} (sent again next run), nobody to tell {mail.nobody}"
        + (f", {mail.interrupted} interrupted earlier not sent again" if mail.interrupted else "")
    )
    if mail.not_configured:
        raise click.ClickException("mails wait: set smtp_host and smtp_sender")


COMMANDS = (send_mailings, expire_points, send_receipts, reconcile_payments, check_alerts)
