"""What ``make demo`` presents to the person trying it: the card to tap and the QR token to show
at a demo post (``aquastand-cloud demo-credentials``) and the member to log in to the client
cabinet as (``demo-cabinet``), all read from the demo data (cloud/demodata.py)."""

from __future__ import annotations

from cloud.clients.credentials import ensure_qr
from cloud.config import CloudConfig
from cloud.demodata import DEMO_WASHERS
from cloud.models import Client, ClientPhone, Credential


def _active_card(client: Client) -> str:
    card = (
        Credential.select()
        .where(
            (Credential.client == client.id)
            & (Credential.kind == "card")
            & ~Credential.lost
            & Credential.unlinked_at.is_null()
        )
        .order_by(Credential.id.desc())
        .first()
    )
    if card is None:
        raise LookupError(f"{client.name} has no card to tap")
    return str(card.value)


def demo_credentials(config: CloudConfig, post: int = 1) -> tuple[str, str]:
    """What ``make demo`` presents at its demo post number ``post`` (1-based): the card of the
    member whose session it opens there, and the QR token (issued if there is none yet) of the
    member to start the next one. LookupError if the demo data is not there."""
    if not 1 <= post <= len(DEMO_WASHERS):
        raise LookupError(f"the demo has posts 1 to {len(DEMO_WASHERS)}")
    tapper_name, scanner_name = DEMO_WASHERS[post - 1]
    members = {
        client.name: client
        for client in Client.select().where(
            (Client.kind == "member")
            & Client.name.in_([tapper_name, scanner_name])
            & Client.deleted_at.is_null()
        )
    }
    if len(members) < 2:
        raise LookupError("no demo members: run demo-data first")
    return _active_card(members[tapper_name]), ensure_qr(None, members[scanner_name], config)


def cabinet_member() -> tuple[str, str]:
    """The demo member to log in to the client cabinet as (name, phone): the one whose QR code
    ``make demo`` prints for its first post, so the cabinet's QR starts a session there."""
    name = DEMO_WASHERS[0][1]
    client = Client.get_or_none((Client.name == name) & Client.deleted_at.is_null())
    phone = ClientPhone.get_or_none(ClientPhone.client == client) if client else None
    if phone is None:
        raise LookupError("no demo members: run demo-data first")
    return name, str(phone.phone)
