"""Who an event names: the staff member behind ``actor`` and the client behind
``client_id``/``client_uuid`` (a uuid a stand registered a client under).

An ``actor`` that is a staff id is accepted only for a person who may log in at the stands
of the event's site (``site_staff``: as the directory hands out PINs); any other is applied
as unknown (no staff member) and the event flagged ``unknown_actor``. ``card``, ``qr`` and
``auto`` name no one and are taken as they are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, cast

import peewee as pw
from flask_babel import gettext as _

from cloud.models import REGISTRATIONS, Client, StandEvent, User
from cloud.standsync.directory import staff_entries
from cloud.standsync.ingest.outcomes import Refused

_MAX_ID = 2**31 - 1


class ClientRef(Protocol):
    """A payload naming a client (``sync.payloads``): exactly one of the two is set."""

    @property
    def client_id(self) -> int | None: ...

    @property
    def client_uuid(self) -> str | None: ...


def site_staff(site_id: int, actors: Iterable[str], managers_everywhere: bool = True) -> set[int]:
    """The staff ids among ``actors`` accepted for events of the site's stands: those who may
    log in at them (``directory.staff_entries``: active, not deleted, with a PIN, and staff of
    this site or, if ``managers_everywhere``, an operator or above)."""
    ids = {int(a) for a in actors if a.isdigit() and int(a) <= _MAX_ID}
    return (
        {entry.id for entry in staff_entries(site_id, ids, managers_everywhere)} if ids else set()
    )


def staff(site_id: int, actor: str, managers_everywhere: bool = True) -> User | None:
    """The staff member an event's ``actor`` names, if accepted at the site (``site_staff``)."""
    accepted = site_staff(site_id, [actor], managers_everywhere)
    return User.get_by_id(int(actor)) if accepted else None


def unknown_actor(actor: str) -> str | None:
    """The note of an event whose ``actor`` names a staff id not accepted (else None)."""
    if not actor.isdigit():
        return None
    note: str = _(
        "Сотрудник №%(id)s не может работать на постах этой площадки: записан как неизвестный",
        id=actor,
    )
    return note


def tuples(query: pw.ModelSelect[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``query`` as tuples (peewee's stubs type ``.tuples()`` as yielding models)."""
    return cast(Iterator[tuple[Any, ...]], iter(query.tuples()))


def clients_by_uuid(uuids: Iterable[str]) -> dict[str, int]:
    """The client id of each uuid a stand registered a client under (see ``client_by_uuid``);
    unknown uuids are left out."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    found: dict[str, int] = dict(
        tuples(Client.select(Client.uuid, Client.id).where(Client.uuid.in_(wanted)))
    )
    missing = [uuid for uuid in wanted if uuid not in found]
    if missing:
        registrations = (
            StandEvent.select(StandEvent.subject_uuid, StandEvent.client)
            .where(
                StandEvent.subject_uuid.in_(missing)
                & StandEvent.type.in_(REGISTRATIONS)
                & StandEvent.client.is_null(False)
            )
            .order_by(StandEvent.id)
        )
        for uuid, client_id in tuples(registrations):
            found.setdefault(uuid, client_id)
    return found


def client_by_uuid(uuid: str) -> Client | None:
    """The client a stand registered under ``uuid``: the one with that uuid, or the existing
    client the registration was attached to."""
    client_id = clients_by_uuid([uuid]).get(uuid)
    return Client.get_by_id(client_id) if client_id is not None else None


def deleted_note(client_id: int) -> str:
    """The note of an event for a deleted client (flag ``deleted_client``): recorded, and
    its applier changes none of the client's money, cards or comments (a session is still
    recorded as the stand ran it)."""
    note: str = _("Клиент №%(id)s удалён: событие записано без действия", id=client_id)
    return note


def unknown_client(p: ClientRef) -> Refused:
    """The refusal of an event naming a client this service does not know."""
    ref = p.client_id or p.client_uuid
    return Refused(_("Клиент %(ref)s неизвестен", ref=ref), "unknown_client")
