"""What a client has to wash with, seen centrally by the stands' own rule (``sync.funds``), and
the client's own overdraft (credit) limit, which the directory sends to every stand.

Available is the central balance, what the client's points are worth if they spend them, and
their own overdraft; a client without one gets the stand's configured default there, which the
central service does not know, so it counts nothing for them here (``overdraft_own`` False).
Whether they can start is judged at the tariff a stand would start them with: their own
default tariff if it is active and in force, else that of their home site's stands (the site's
default tariff, cloud/catalog/pricing.py), else the oldest active tariff in force, as
``cloud.standsync.directory.default_tariff_of`` gives it to stands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.catalog.tariffs import TariffState, overview
from cloud.clock import app_now
from cloud.config import CloudConfig
from cloud.db import db_proxy, utcnow
from cloud.errors import ValidationFailed
from cloud.models import Client, Site, stored_setting
from sync.errors import RuleError
from sync.funds import available_kopecks, can_start, check_overdraft, start_minimum
from sync.pricing import Discount
from sync.schedule import Start


@dataclass(frozen=True)
class Funds:
    """A client's money for washing now; ``start_minimum_kopecks`` and ``tariff_id`` are None
    when no tariff is in force (nobody can start then)."""

    available_kopecks: int
    overdraft_kopecks: int  # the limit counted in ``available_kopecks``
    overdraft_own: bool  # False: the stand's default applies there, not counted here
    tariff_id: int | None
    tariff_name: str
    start_minimum_kopecks: int | None
    can_start: bool


def _tariff_for(
    client: Client, in_force: dict[int, TariffState], site_defaults: dict[int, int | None]
) -> TariffState | None:
    preferred = (client.default_tariff_id, site_defaults.get(client.home_site_id or 0))
    chosen = [in_force[t] for t in preferred if t is not None and t in in_force]
    return chosen[0] if chosen else (in_force[min(in_force)] if in_force else None)


def funds_of(
    clients: Iterable[Client],
    point_value_kopecks: int,
    now: datetime,
    timezone: str = CloudConfig.timezone,
) -> dict[int, Funds]:
    """Each client's ``Funds`` by id (the tariffs read once for all of them)."""
    in_force = {s.tariff.id: s for s in overview(now, active_only=True) if s.current is not None}
    site_defaults = dict(Site.select(Site.id, Site.default_tariff).tuples())
    found: dict[int, Funds] = {}
    for client in clients:
        own = client.overdraft_limit_kopecks
        overdraft = 0 if own is None else int(own)
        available = available_kopecks(
            money_kopecks=int(client.balance_kopecks),
            points=int(client.points_balance),
            points_spending=client.points_spending,
            point_value_kopecks=point_value_kopecks,
            overdraft_kopecks=overdraft,
        )
        state = _tariff_for(client, in_force, site_defaults)
        minimum, startable = None, False
        if state is not None and state.current is not None:
            rates = state.current.rates()
            discount = Discount(client.discount_percent, int(client.discount_kopecks))
            start = Start(now, timezone)  # a start now, at the rate of this hour
            minimum = start_minimum(rates, client.kind, discount, start)
            startable = can_start(available, rates, client.kind, discount, start)
        found[client.id] = Funds(
            available_kopecks=available,
            overdraft_kopecks=overdraft,
            overdraft_own=own is not None,
            tariff_id=state.tariff.id if state else None,
            tariff_name=state.tariff.name if state else "",
            start_minimum_kopecks=minimum,
            can_start=startable,
        )
    return found


def funds_dicts(clients: list[Client]) -> dict[int, dict[str, Any]]:
    """The API form of each client's funds now, with the service's point value."""
    config = current_app.config["AQ"]
    # The owner's point value (the loyalty settings page), else the configuration file's.
    value = stored_setting("points_value_kopecks", config.points_value_kopecks)
    found = funds_of(clients, value, app_now(), config.timezone)
    return {key: asdict(funds) for key, funds in found.items()}


def set_overdraft(client: Client, limit_kopecks: int | None) -> Client:
    """Set the client's own overdraft limit (None: the stand's default); the stands get it with
    the next directory page (the change is recorded by the database's triggers)."""
    if limit_kopecks is not None:
        try:
            check_overdraft(limit_kopecks)
        except RuleError:
            raise ValidationFailed(
                _("Кредитный лимит — от 0 до 100 000 ₽"), "bad_overdraft"
            ) from None
    before = audit.fields_of(client, "overdraft_limit_kopecks")
    client.overdraft_limit_kopecks = limit_kopecks
    client.updated_at = utcnow()
    with db_proxy.atomic():
        client.save(only=[Client.overdraft_limit_kopecks, Client.updated_at])
        after = audit.fields_of(client, "overdraft_limit_kopecks")
        audit.record("client.overdraft", audit.client_target(client), before, after)
    return client
