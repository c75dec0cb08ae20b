"""Counters on a client's card (seed 004, "Информация по заказам"): how many sessions, their
total time and cost, the last visit, the registration date and how many comments (notes and
complaints) staff wrote about the client. Computed in SQL for many clients at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import peewee as pw

from cloud.clock import iso_utc
from cloud.models import Client, Comment, Session


def _empty(client: Client) -> dict[str, Any]:
    return {
        "sessions": 0,
        "total_duration_s": 0,
        "total_spent_kopecks": 0,
        "last_visit_at": None,
        "registered_at": iso_utc(client.created_at),
        "comments": 0,
    }


def counters_of(clients: Iterable[Client]) -> dict[int, dict[str, Any]]:
    """Each client's counters by id, in two grouped queries. Every session counts (open ones
    for the visit and the number, ended ones for time and money), at every site."""
    by_id = {client.id: client for client in clients}
    counters = {client_id: _empty(client) for client_id, client in by_id.items()}
    if not by_id:
        return counters
    ids = sorted(by_id)
    sessions = (
        Session.select(
            Session.client,
            pw.fn.COUNT(Session.id),
            pw.fn.COALESCE(pw.fn.SUM(Session.duration_s), 0),
            pw.fn.COALESCE(pw.fn.SUM(Session.cost_kopecks), 0),
            pw.fn.MAX(Session.started_at),
        )
        .where(Session.client.in_(ids))
        .group_by(Session.client)
        .tuples()
    )
    for client_id, count, duration, spent, last in sessions:
        counters[client_id].update(
            sessions=int(count),
            total_duration_s=int(duration),
            total_spent_kopecks=int(spent),
            last_visit_at=iso_utc(Session.started_at.python_value(last)),
        )
    comments = (
        Comment.select(Comment.client, pw.fn.COUNT(Comment.id))
        .where(Comment.client.in_(ids))
        .group_by(Comment.client)
        .tuples()
    )
    for client_id, count in comments:
        counters[client_id]["comments"] = int(count)
    return counters
