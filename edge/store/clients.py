"""Clients registered at this stand (``LocalClient``), their re-linking to the central client
once the directory brings it, credentials and comments over both kinds of client."""

from __future__ import annotations

from datetime import datetime

import peewee as pw

from edge.store.base import StoreBase
from edge.store.models import LocalClient, LocalComment
from sync.errors import RuleError


class LocalClients(StoreBase):
    """Registering, re-linking, and reads over directory and local clients alike."""

    def add_local_client(
        self,
        client_uuid: str,
        kind: str,
        name: str,
        phones: list[str],
        credentials: list[tuple[str, str]],
        created_at: datetime,
    ) -> LocalClient:
        """Create a local client with its ``(kind, value)`` credentials, in the caller's
        transaction; RuleError "credential_taken" if one already belongs to a client."""
        t = self.tables
        with self.atomic():
            for kind_, value in credentials:
                if self.credential(kind_, value) is not None:
                    raise RuleError(
                        f"«{value}» уже принадлежит другому клиенту", "credential_taken"
                    )
            # Below every id used so far, re-linked ones too: an old id never names another.
            lowest = min(
                t.LocalClient.select(pw.fn.MIN(t.LocalClient.id)).scalar() or 0,
                t.RelinkedClient.select(pw.fn.MIN(t.RelinkedClient.local_id)).scalar() or 0,
            )
            client = t.LocalClient.create(
                id=min(int(lowest), 0) - 1,
                uuid=client_uuid,
                kind=kind,
                name=name,
                phones=phones,
                created_at=created_at,
            )
            for kind_, value in credentials:
                t.LocalCredential.create(client=client, kind=kind_, value=value)
        return client

    def relink_local_clients(self) -> int:
        """Re-link the local clients the directory copy now holds under a central id (see
        the module's notes), in the caller's transaction; returns how many. A client with a
        session open both here and under its central id (two rows used meanwhile) waits for
        one of them to end."""
        t = self.tables
        found = (
            t.LocalClient.select(t.LocalClient.id, t.LocalClient.uuid, t.DirClientUuid.client)
            .join(t.DirClientUuid, on=(t.DirClientUuid.uuid == t.LocalClient.uuid))
            .tuples()
        )
        relinked = 0
        with self.atomic():
            for local_id, uuid, central_id in list(found):
                if self.open_session_of(local_id) and self.open_session_of(central_id):
                    continue
                for model in (t.LocalSession, t.LocalLedger, t.LocalComment):
                    model.update(client_id=central_id).where(model.client_id == local_id).execute()
                self._keep_cards_added(local_id, central_id)
                t.LocalClient.delete().where(t.LocalClient.id == local_id).execute()
                t.RelinkedClient.insert(
                    local_id=local_id, uuid=uuid, client_id=central_id
                ).on_conflict_replace().execute()
                relinked += 1
        return relinked

    def _keep_cards_added(self, local_id: int, central_id: int) -> None:
        """A re-linked client's cards the directory does not show yet (linked here after the
        registration) stay known as cards added to the central client."""
        t = self.tables
        registered_at = t.LocalClient.get_by_id(local_id).created_at
        cards = t.LocalCredential.select(t.LocalCredential.value).where(
            (t.LocalCredential.client == local_id) & (t.LocalCredential.kind == "card")
        )
        for (value,) in cards.tuples():
            known = t.DirCredential.get_or_none(
                (t.DirCredential.kind == "card") & (t.DirCredential.value == value)
            )
            if known is None:
                t.AddedCard.insert(
                    value=value, client_id=central_id, linked_at=registered_at
                ).on_conflict_ignore().execute()

    def credentials_of(self, client_id: int, kind: str) -> list[str]:
        """The values of a client's credentials of ``kind`` (lost ones too), in order."""
        t = self.tables
        if client_id < 0:
            query = t.LocalCredential.select(t.LocalCredential.value).where(
                (t.LocalCredential.client == client_id) & (t.LocalCredential.kind == kind)
            )
            return [row.value for row in query.order_by(t.LocalCredential.id)]
        rows = t.DirCredential.select(t.DirCredential.value).where(
            (t.DirCredential.client == client_id) & (t.DirCredential.kind == kind)
        )
        values = [row.value for row in rows.order_by(t.DirCredential.id)]
        if kind == "card":
            added = t.AddedCard.select().where(t.AddedCard.client_id == client_id)
            values += [row.value for row in added.order_by(t.AddedCard.linked_at)]
        return values

    def add_card(self, client_id: int, uid: str, linked_at: datetime) -> None:
        """Link card ``uid`` to the client here, in the caller's transaction: a local client's
        own credential, else an ``AddedCard`` until the directory brings it. RuleError
        "credential_taken" if a client has it already."""
        t = self.tables
        with self.atomic():
            if self.credential("card", uid) is not None:
                raise RuleError(f"«{uid}» уже принадлежит другому клиенту", "credential_taken")
            if client_id < 0:
                t.LocalCredential.create(client=client_id, kind="card", value=uid)
            else:
                t.AddedCard.create(value=uid, client_id=client_id, linked_at=linked_at)

    def first_plates(self, client_ids: set[int]) -> dict[int, str]:
        """Each client's first plate, for those that have one."""
        t = self.tables
        plates: dict[int, str] = {}
        central = (
            t.DirCredential.select()
            .where((t.DirCredential.kind == "plate") & t.DirCredential.client.in_(client_ids))
            .order_by(t.DirCredential.id)
        )
        local = (
            t.LocalCredential.select()
            .where((t.LocalCredential.kind == "plate") & t.LocalCredential.client.in_(client_ids))
            .order_by(t.LocalCredential.id)
        )
        for row in [*central, *local]:
            plates.setdefault(row.client_id, str(row.value))
        return plates

    # --- what the screen shows and writes about a client -----------------------------------

    def add_comment(
        self,
        comment_uuid: str,
        client_id: int,
        text: str,
        staff_id: int,
        created_at: datetime,
        session_uuid: str | None = None,
    ) -> LocalComment:
        t = self.tables
        return t.LocalComment.create(
            uuid=comment_uuid,
            client_id=client_id,
            session_uuid=session_uuid,
            text=text,
            staff_id=staff_id,
            created_at=created_at,
        )

    def comments_of(self, client_id: int, limit: int = 20) -> list[tuple[datetime, str]]:
        """The client's comments written here (on its own or when a session ended), newest
        first, as ``(when, text)``."""
        t = self.tables
        written = [
            (row.created_at, str(row.text))
            for row in t.LocalComment.select()
            .where(t.LocalComment.client_id == client_id)
            .order_by(t.LocalComment.created_at.desc())
            .limit(limit)
        ]
        on_end = [
            (row.ended_at, str(row.comment))
            for row in t.LocalSession.select()
            .where(
                (t.LocalSession.client_id == client_id)
                & t.LocalSession.ended_at.is_null(False)
                & (t.LocalSession.comment != "")
            )
            .order_by(t.LocalSession.ended_at.desc())
            .limit(limit)
        ]
        return sorted([*written, *on_end], key=lambda pair: pair[0], reverse=True)[:limit]
