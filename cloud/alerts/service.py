"""One pass of the alerts (``aquastand-cloud check-alerts``, every 2 minutes by
aquastand-alerts.timer): probe, open and close the incidents, send the mails that wait.
Safe to run at any time, twice at once included (cloud/alerts/incidents.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.alerts.incidents import Changes, update_incidents
from cloud.alerts.messages import MailReport, send_pending
from cloud.alerts.probes import find_all
from cloud.clock import Clock
from cloud.config import CloudConfig


@dataclass(frozen=True)
class PassReport:
    changes: Changes
    mail: MailReport


def check_alerts(config: CloudConfig, clock: Clock) -> PassReport:
    """Probe at the clock's moment, update the incidents, then send what waits."""
    now = clock.now()
    changes = update_incidents(find_all(config, now), now)
    return PassReport(changes, send_pending(config, clock))
