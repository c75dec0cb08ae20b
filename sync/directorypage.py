"""The directory page: what ``GET /sync/v1/directory`` answers to a stand (what changed since
its cursor: upserts, tombstones and commands), and its validation. The entries it carries and
the full directory document are ``sync.directory``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync.balances import BalanceEntry
from sync.bonus import DEFAULT_POINT_VALUE_KOPECKS
from sync.directory import (
    CREDENTIAL_KINDS,
    QR_TOKEN_ID,
    UUID_TEXT,
    ClientEntry,
    CredentialEntry,
    CredentialKind,
    StaffEntry,
    TariffEntry,
    check_public_key,
    check_unique,
    client_dict,
    credential_dict,
    credential_value,
    parse_clients,
    parse_credentials,
    parse_point_value,
    parse_staff,
    parse_tariffs,
    staff_dict,
    tariff_dict,
)
from sync.document import Fields, format_utc
from sync.lengths import MAX_COMMENT

COMMAND_TYPES = ("end_session", "start_session")
MAX_PAGE_ROWS = 20_000  # per list: a page holds at most 5000 changes, each at most two rows
_PAGE = "Страница справочника"


@dataclass(frozen=True)
class CredentialKey:
    """What identifies a credential at a stand: its kind and value."""

    kind: CredentialKind
    value: str


@dataclass(frozen=True)
class Tombstones:
    """What a stand deletes from its copy: deleted clients, unlinked or reassigned-away
    credentials, tariffs and staff who may no longer log in at the site."""

    clients: tuple[int, ...] = ()
    credentials: tuple[CredentialKey, ...] = ()
    tariffs: tuple[int, ...] = ()
    staff: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "clients": list(self.clients),
            "credentials": [{"kind": k.kind, "value": k.value} for k in self.credentials],
            "tariffs": list(self.tariffs),
            "staff": list(self.staff),
        }


@dataclass(frozen=True)
class StandCommand:
    """An order for the stand, repeated on every poll until done: ``end_session`` asks it to
    end a session (it sends the ordinary session.ended event); ``start_session`` to start one
    for ``client_id`` under the uuid ``session_uuid`` as if the client tapped (its
    session.started event, or ``command.refused`` with the reason)."""

    id: int
    type: str
    session_uuid: str
    comment: str
    issued_by: int | None
    client_id: int | None = None  # start_session only


@dataclass(frozen=True)
class DirectoryPage:
    """One answer of ``GET /sync/v1/directory?cursor=N&limit=M``.

    The stand sends the ``cursor`` of the last page it applied (0: it has none) and applies the
    answer, rows and cursor, in one transaction:

    - ``reset`` true: a walk over everything. The answer to ``cursor=0`` is its first page: the
      stand empties its copy before applying it. Every page of the walk says ``reset`` and all
      but the last say ``more``; the stand asks again at once with the cursor it got. A cursor
      the service does not know (e.g. after a database restore) is answered with an empty page
      with ``cursor`` 0, ``reset`` and ``more``: the stand starts the walk again from 0.
    - ``reset`` false: what changed since the cursor, as current values (not history).
      ``more`` says another page follows at once.

    Within one page no key is both upserted and tombstoned; tombstones may name rows the stand
    never had (ignore them). A credential's client and a client's default tariff arrive in the
    same page or an earlier one. ``cursor`` is opaque: store it, send it back. Upserts replace
    the row with the same id (credentials: the same kind and value)."""

    cursor: int
    more: bool
    reset: bool
    site_id: int
    stand_id: int
    server_time: datetime
    qr_public_key_pem: str
    default_tariff_id: int | None
    clients: tuple[ClientEntry, ...] = ()
    credentials: tuple[CredentialEntry, ...] = ()
    tariffs: tuple[TariffEntry, ...] = ()
    staff: tuple[StaffEntry, ...] = ()
    revoked_qr_token_ids: tuple[str, ...] = ()
    tombstones: Tombstones = Tombstones()
    commands: tuple[StandCommand, ...] = ()
    points_value_kopecks: int = DEFAULT_POINT_VALUE_KOPECKS
    # The stand's last event the central service holds (None: not said). Below what the stand
    # had acknowledged after a restore of the central database from a backup.
    acked_seq: int | None = None
    # Protocol 3's compact balances (sync/balances.py) of clients the page does not upsert: a
    # stand's merged walk of windows holds them (sync/directorywindow.py); a page on the wire
    # (protocol 1) never does.
    balances: tuple[BalanceEntry, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``validate_directory_page`` reads it back to an equal page)."""
        return {
            "cursor": self.cursor,
            "more": self.more,
            "reset": self.reset,
            "site_id": self.site_id,
            "stand_id": self.stand_id,
            "server_time": format_utc(self.server_time),
            "qr_public_key_pem": self.qr_public_key_pem,
            "default_tariff_id": self.default_tariff_id,
            "points_value_kopecks": self.points_value_kopecks,
            "upserts": {
                "clients": [client_dict(c) for c in self.clients],
                "credentials": [credential_dict(c) for c in self.credentials],
                "tariffs": [tariff_dict(t) for t in self.tariffs],
                "staff": [staff_dict(s) for s in self.staff],
                "revoked_qr_token_ids": list(self.revoked_qr_token_ids),
            },
            "tombstones": self.tombstones.to_dict(),
            "commands": [
                {
                    "id": c.id,
                    "type": c.type,
                    "session_uuid": c.session_uuid,
                    "comment": c.comment,
                    "issued_by": c.issued_by,
                    **({} if c.client_id is None else {"client_id": c.client_id}),
                }
                for c in self.commands
            ],
            **({} if self.acked_seq is None else {"acked_seq": self.acked_seq}),
        }


def _ids(fields: Fields, key: str) -> tuple[int, ...]:
    ids: dict[int, None] = {}
    for item in fields.items(key, MAX_PAGE_ROWS):
        if not isinstance(item, int) or isinstance(item, bool) or item < 1:
            raise fields.fail(key, "нужен список целых чисел не меньше 1")
        if item in ids:
            raise fields.fail(key, f"значение {item} повторяется")
        ids[item] = None
    return tuple(ids)


def parse_tombstones(doc: Fields) -> Tombstones:
    """The ``tombstones`` object of a page."""
    fields = doc.nested("tombstones")
    keys: list[CredentialKey] = []
    seen: set[object] = set()
    for item in fields.objects("credentials", MAX_PAGE_ROWS):
        kind = item.choice("kind", CREDENTIAL_KINDS)
        key = CredentialKey(
            kind="card" if kind == "card" else "qr" if kind == "qr" else "plate",
            value=credential_value(item, kind),
        )
        check_unique(item, "value", seen, key)
        keys.append(key)
    return Tombstones(
        clients=_ids(fields, "clients"),
        credentials=tuple(keys),
        tariffs=_ids(fields, "tariffs"),
        staff=_ids(fields, "staff"),
    )


def _commands(doc: Fields) -> tuple[StandCommand, ...]:
    commands: list[StandCommand] = []
    seen: set[object] = set()
    for item in doc.objects("commands", 1000):
        command = StandCommand(
            id=item.integer("id", 1),
            type=item.choice("type", COMMAND_TYPES),
            session_uuid=item.text("session_uuid", 36, UUID_TEXT),
            comment=item.text("comment", MAX_COMMENT),
            issued_by=item.optional_integer("issued_by", 1),
            client_id=item.optional_integer("client_id", 1) if item.has("client_id") else None,
        )
        if command.type == "start_session" and command.client_id is None:
            raise item.fail("client_id", "обязателен для start_session")
        check_unique(item, "id", seen, command.id)
        commands.append(command)
    return tuple(commands)


def _check_disjoint(doc: Fields, what: str, upserted: set[object], dead: set[object]) -> None:
    both = upserted & dead
    if both:
        raise doc.fail(f"tombstones.{what}", f"{sorted(map(str, both))[0]} и обновлён, и удалён")


def validate_directory_page(obj: object) -> DirectoryPage:
    """Check a parsed JSON directory page and return it typed; RuleError(code "bad_document")
    naming the first bad field otherwise."""
    doc = Fields(obj, _PAGE)
    upserts = doc.nested("upserts")
    tariffs = parse_tariffs(upserts)
    clients = parse_clients(upserts, None)
    credentials = parse_credentials(upserts, None)
    staff = parse_staff(upserts)
    tombstones = parse_tombstones(doc)
    _check_disjoint(doc, "clients", {c.id for c in clients}, set(tombstones.clients))
    _check_disjoint(doc, "tariffs", {t.id for t in tariffs}, set(tombstones.tariffs))
    _check_disjoint(doc, "staff", {s.id for s in staff}, set(tombstones.staff))
    _check_disjoint(
        doc,
        "credentials",
        {f"{c.kind}:{c.value}" for c in credentials},
        {f"{k.kind}:{k.value}" for k in tombstones.credentials},
    )
    return DirectoryPage(
        cursor=doc.integer("cursor", 0),
        more=doc.flag("more"),
        reset=doc.flag("reset"),
        site_id=doc.integer("site_id", 1),
        stand_id=doc.integer("stand_id", 1),
        server_time=doc.moment("server_time"),
        qr_public_key_pem=check_public_key(doc, "qr_public_key_pem"),
        default_tariff_id=doc.optional_integer("default_tariff_id", 1),
        clients=clients,
        credentials=credentials,
        tariffs=tariffs,
        staff=staff,
        revoked_qr_token_ids=tuple(
            upserts.texts("revoked_qr_token_ids", 32, QR_TOKEN_ID, MAX_PAGE_ROWS)
        ),
        tombstones=tombstones,
        commands=_commands(doc),
        points_value_kopecks=parse_point_value(doc),
        acked_seq=doc.integer("acked_seq", 0) if doc.has("acked_seq") else None,
    )
