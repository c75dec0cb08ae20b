"""The demo's part of issue 20's entry checks (cloud/clients/entry.py): the company's lorry
from Belarus has a foreign plate, linked with the "foreign plate" tick, so the client page
shows a plate that matches no Russian format."""

from __future__ import annotations

from cloud.clients.credentials import link_plate
from cloud.models import Client

FOREIGN_PLATE = "1234 AB-7"  # a Belarusian plate: no Russian format has a one-digit region


def add_foreign_plate() -> None:
    """Link the foreign plate to the demo's corporate client (the first one)."""
    company = Client.select().where(Client.corporate).order_by(Client.id).first()
    if company is not None:
        link_plate(None, company, FOREIGN_PLATE, foreign=True)
