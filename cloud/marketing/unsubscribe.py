"""The one-click unsubscribe link every mailing carries.

The link holds the client's id signed with the service's secret key (itsdangerous, as Flask's
own cookies are), so it needs no log-in and cannot be forged for another client. It does not
expire: a link in a year-old letter still works. Opening it (GET) only asks; the change is a
POST, from the page's button or from the mail program's own "unsubscribe" button (RFC 8058
``List-Unsubscribe-Post``), so a mail scanner that follows links unsubscribes nobody."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from cloud.config import CloudConfig
from cloud.models import Client

_SALT = "aquastand.unsubscribe"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def unsubscribe_url(config: CloudConfig, secret_key: str, client_id: int) -> str:
    token = _serializer(secret_key).dumps(client_id)
    return f"{config.public_url.rstrip('/')}/unsubscribe/{token}"


def client_for_token(secret_key: str, token: str) -> Client | None:
    """The live client the token was made for, or None for a forged or stale token."""
    try:
        client_id = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(client_id, int):
        return None
    return Client.get_or_none((Client.id == client_id) & Client.deleted_at.is_null())


def unsubscribe(client: Client) -> None:
    """Idempotent: a second click changes nothing."""
    Client.update(unsubscribed=True).where(Client.id == client.id).execute()
