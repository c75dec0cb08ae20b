"""Two ``aquastand-cloud serve`` instances behind nginx (the shipped site file) on one
PostgreSQL: one is killed in the middle of a fleet's run and no event is lost or doubled; a
change made through one instance is seen by a stand polling the other at its next poll."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import peewee as pw
import requests
import pytest
from flask import Flask

from bench.nginxfront import Instances, NginxFront, upstream_counts
from cloud.models import Client, LedgerEntry, Session, StandEvent
from tests.deploy.frontfleet import (
    FleetStand,
    make_fleet,
    run_fleet,
    session_cost,
    session_events,
    stand_headers,
)

pytestmark = pytest.mark.postgresql

STANDS = 30
SESSIONS = 8
PERIOD_S = 1.5


def _instances(central: Flask, count: int, workers: int) -> Instances:
    url = central.config["DATABASE_URL_FOR_INSTANCES"]
    return Instances(url, central.config["AQ"].data_dir, count=count, workers=workers)


def test_an_instance_killed_mid_run_loses_and_doubles_no_event(
    central: Flask, tmp_path: Path
) -> None:
    fleet = make_fleet(STANDS)
    with (
        _instances(central, 2, workers=2) as instances,
        NginxFront(instances.ports, tmp_path / "nginx") as front,
    ):
        runs, threads = run_fleet(front.url, front.ca_file, fleet, SESSIONS, PERIOD_S)
        time.sleep(0.5 + 2.5 * PERIOD_S)  # two and a half rounds in
        before = upstream_counts(front.access_lines())
        doomed, survivor = (f"127.0.0.1:{port}" for port in instances.ports)
        instances.members[0].kill()
        for thread in threads:
            thread.join(timeout=120)
        lines = front.access_lines()
    assert all(not thread.is_alive() for thread in threads)
    # Both instances served the fleet before the kill; after it nginx found the dead one
    # refusing and sent those requests on to the other (a line naming both).
    assert before.get(doomed, 0) > 0 and before.get(survivor, 0) > 0, before
    assert any(f"up={doomed}, {survivor}" in line for line in lines), lines[-20:]

    sent = [event_id for run in runs for event_id in run.acked_ids]
    assert [len(run.acked_ids) for run in runs] == [2 * SESSIONS] * STANDS
    assert len(set(sent)) == len(sent) == 2 * SESSIONS * STANDS
    stored = [row.event_uuid for row in StandEvent.select(StandEvent.event_uuid)]
    assert sorted(stored) == sorted(sent)  # every acknowledged event once, nothing else
    assert Session.select().where(Session.ended_at.is_null(False)).count() == SESSIONS * STANDS
    # Each session's end charged its client once: one entry per ended event, the balance the
    # sum of the fleet's prices.
    charges = (
        LedgerEntry.select(LedgerEntry.event, pw.fn.COUNT(LedgerEntry.id))
        .where(LedgerEntry.kind == "charge")
        .group_by(LedgerEntry.event)
        .tuples()
    )
    assert sorted(count for _event, count in charges) == [1] * (SESSIONS * STANDS)
    expected = -sum(session_cost(n) for n in range(SESSIONS))
    for stand in fleet.stands:
        total = (
            LedgerEntry.select(pw.fn.SUM(LedgerEntry.amount_kopecks))
            .where(LedgerEntry.client == stand.client_id)
            .scalar()
        )
        assert total == expected, Client.get_by_id(stand.client_id).name
