"""Sessions at this stand and the money moved here: opening and closing sessions, the local
ledger, and balances and bonus points as the stand counts them (see the package's notes)."""

from __future__ import annotations

from datetime import datetime

import peewee as pw

from edge.store.base import StoreBase
from edge.store.models import LocalLedger, LocalSession
from edge.store.sql import (
    CLOSE_SESSION_SQL,
    DIR_BALANCE_SQL,
    DIR_POINTS_SQL,
    LOCAL_BALANCE_SQL,
    OPEN_SESSION_SQL,
    instance,
)
from sync.bonus import DEFAULT_POINT_VALUE_KOPECKS

LEDGER_KINDS = ("charge", "topup")


class Sessions(StoreBase):
    """Sessions, ledger entries, balances and points."""

    def session(self, session_uuid: str) -> LocalSession | None:
        """A session of this stand, open or ended."""
        t = self.tables
        return t.LocalSession.get_or_none(t.LocalSession.uuid == session_uuid)

    def sessions_of(self, client_id: int, limit: int = 10) -> list[LocalSession]:
        """The client's sessions at this stand, newest first."""
        t = self.tables
        query = t.LocalSession.select().where(t.LocalSession.client_id == client_id)
        return list(query.order_by(t.LocalSession.started_at.desc()).limit(limit))

    def open_session_of(self, client_id: int) -> LocalSession | None:
        t = self.tables
        row = self._fetch(OPEN_SESSION_SQL, (client_id,))
        return None if row is None else instance(t.LocalSession, row)

    def add_session(self, session: LocalSession) -> LocalSession:
        """Store a new session (built by the caller), in the caller's transaction; returns it
        as a row of this store."""
        return self._insert(self.tables.LocalSession(**session.__data__))

    def close_session(
        self,
        session_uuid: str,
        *,
        ended_at: datetime,
        duration_s: int,
        cost_kopecks: int,
        end_method: str,
        ended_by: str,
        auto_ended: bool,
        comment: str,
    ) -> bool:
        """Record the end of an open session; False if it is not open (any more)."""
        t = self.tables
        cursor = self.database.execute_sql(
            CLOSE_SESSION_SQL,
            (
                t.LocalSession.ended_at.db_value(ended_at),
                duration_s,
                cost_kopecks,
                end_method,
                ended_by,
                auto_ended,
                comment,
                session_uuid,
            ),
        )
        return cursor.rowcount == 1

    def open_sessions(self) -> list[LocalSession]:
        """Open sessions, oldest first."""
        t = self.tables
        query = t.LocalSession.select().where(t.LocalSession.ended_at.is_null())
        return list(query.order_by(t.LocalSession.started_at, t.LocalSession.uuid))

    def credential_spend(
        self, client_id: int, kind: str, value: str, since: datetime, until: datetime
    ) -> int:
        """What the client's ended sessions started here with this credential between
        ``since`` (inclusive) and ``until`` cost (a card's spend on a day, ``sync.limits``)."""
        t = self.tables
        spent = (
            t.LocalSession.select(pw.fn.COALESCE(pw.fn.SUM(t.LocalSession.cost_kopecks), 0))
            .where(
                (t.LocalSession.client_id == client_id)
                & (t.LocalSession.credential_kind == kind)
                & (t.LocalSession.credential_value == value)
                & (t.LocalSession.started_at >= since)
                & (t.LocalSession.started_at < until)
                & t.LocalSession.ended_at.is_null(False)
            )
            .scalar()
        )
        return int(spent)

    def points_of(self, client_id: int) -> int:
        """The bonus points this stand may spend for the client: the central points balance
        last seen less its own spends not settled yet, never below zero (a local client has
        none)."""
        if client_id < 0:
            return 0
        row = self._fetch(DIR_POINTS_SQL, (client_id, client_id))
        assert row is not None
        return int(row[0])

    def points_value_kopecks(self) -> int:
        """What one bonus point is worth (from the directory)."""
        return self._int("points_value_kopecks", DEFAULT_POINT_VALUE_KOPECKS)

    def balance_of(self, client_id: int) -> int:
        """The central balance last seen plus the local entries it does not include yet."""
        sql = LOCAL_BALANCE_SQL if client_id < 0 else DIR_BALANCE_SQL
        row = self._fetch(sql, (client_id, client_id))
        assert row is not None  # an aggregate always gives a row
        return int(row[0])

    def add_ledger_entry(
        self,
        event_id: str,
        client_id: int,
        kind: str,
        amount_kopecks: int,
        created_at: datetime,
        method: str | None = None,
        session_uuid: str | None = None,
        amount_points: int = 0,
    ) -> LocalLedger:
        t = self.tables
        if kind not in LEDGER_KINDS:
            raise ValueError(f"unknown ledger kind {kind!r}")
        return self._insert(
            t.LocalLedger(
                event_id=event_id,
                client_id=client_id,
                kind=kind,
                amount_kopecks=amount_kopecks,
                amount_points=amount_points,
                method=method,
                session_uuid=session_uuid,
                created_at=created_at,
            )
        )
