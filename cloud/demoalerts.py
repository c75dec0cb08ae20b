"""The demo's alert recipients (issue 20): the owner gets every kind of alert, the
administrator the stands' troubles, at addresses of the reserved ``.example`` domain (the demo
configures no SMTP server: ``check-alerts`` records the incidents, the Alerts page shows them)."""

from __future__ import annotations

from cloud.alerts.recipients import set_choice
from cloud.models import ALERT_KINDS, User

OWNER_EMAIL = "owner@aquastand.example"
ADMIN_EMAIL = "admin@aquastand.example"
ADMIN_KINDS = ("stand_offline", "stand_alarm")


def add_alert_recipients(staff: dict[str, User]) -> None:
    """Make the demo's owner and administrator alert recipients."""
    set_choice(None, staff["owner"].id, OWNER_EMAIL, ALERT_KINDS)
    set_choice(None, staff["administrator"].id, ADMIN_EMAIL, ADMIN_KINDS)
