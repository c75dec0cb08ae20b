"""``card.linked``: a card UID is linked to the client; one another client holds is skipped
(flag ``credential_conflict``), and none is linked to a deleted client (flag
``deleted_client``)."""

from __future__ import annotations

from cloud.standsync.ingest.appliers.links import link
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import CardLinked


def apply(a: Applying, p: CardLinked) -> None:
    client = a.live_client(p)
    if client is not None:
        link(a, client, "card", p.uid)


APPLIER = Applier[CardLinked](apply=apply)
