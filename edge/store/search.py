"""Finding clients from the screen's one search box: by plate, phone or name."""

from __future__ import annotations

import json

import peewee as pw

from edge.store.base import StoreBase
from edge.store.models import AnyClient


class ClientSearch(StoreBase):
    """``find_clients`` over the directory's clients and those registered here."""

    def find_clients(
        self,
        *,
        plate: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[AnyClient]:
        """Clients whose plate contains ``plate`` (normalised), who have the phone ``phone``
        (normalised) or whose name contains ``name`` (any case, Cyrillic too); only clients
        whose details the stand has (those of other sites are for taps only)."""
        t = self.tables
        found: dict[int, AnyClient] = {}
        if plate:
            for model in (t.DirCredential, t.LocalCredential):
                rows = model.select(model.client).where(
                    (model.kind == "plate") & model.value.contains(plate)
                )
                for row in rows.limit(limit):
                    client = self.client(row.client_id)
                    if client is not None and client.details:
                        found.setdefault(int(client.id), client)
        if phone:
            needle = json.dumps(phone)
            for model in (t.DirClient, t.LocalClient):
                # instr, not LIKE: the value must not go through the JSON field's converter.
                query = model.select().where(
                    (pw.fn.instr(model.phones, needle) > 0) & model.details
                )
                for client in query.limit(limit):
                    found.setdefault(int(client.id), client)
        if name:
            # SQLite's lower() knows only ASCII; casefold in Python finds Cyrillic in any case.
            wanted = name.casefold()
            for model in (t.DirClient, t.LocalClient):
                for row in model.select(model.id, model.name).where(model.name != "").tuples():
                    if wanted in str(row[1]).casefold():
                        client = self.client(int(row[0]))
                        if client is not None and client.details:
                            found.setdefault(int(client.id), client)
        return sorted(found.values(), key=lambda c: (str(c.name).casefold(), int(c.id)))[:limit]
