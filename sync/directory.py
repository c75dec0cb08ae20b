"""The directory: what the central service sends a stand so it can work on its own.

One document per site: the QR public key, the tariffs with every version, the clients with
the balance they had centrally and the ledger position that balance reflects, their cards,
plates and QR token ids, the revoked QR token ids, the staff who may log in at the site's
stands (with PIN hashes) and the stand's default tariff. It is JSON::

    {"format": 1, "version": 1718000000000, "generated_at": "2024-06-10T06:13:20Z",
     "site_id": 1, "qr_public_key_pem": "-----BEGIN PUBLIC KEY-----...",
     "default_tariff_id": 1,
     "tariffs": [{"id": 1, "name": "Стандарт", "active": true, "versions": [
         {"id": 1, "effective_from": "2024-01-01T00:00:00Z", "rates": {
             "member_per_minute": 1000, "guest_per_minute": 1500, "step_s": 60,
             "min_charge": 5000, "cap": null, "grace_s": 10}}]}],
     "clients": [{"id": 7, "kind": "member", "name": "Иван Петров",
         "phones": ["+79161234567"], "blocked": false, "default_tariff_id": null,
         "balance_kopecks": 25000, "ledger_position": 41, "overdraft_limit_kopecks": null,
         "points_balance": 350, "points_spending": "points_first",
         "discount_percent": 5, "discount_kopecks": 0, "uuids": ["5f0c…"],
         "open_session_stand_id": null}],
     "credentials": [{"client_id": 7, "kind": "card", "value": "04A1B2C3", "lost": false,
         "daily_limit_kopecks": 150000}],
     "revoked_qr_token_ids": ["0123456789abcdef0123456789abcdef"],
     "staff": [{"id": 3, "full_name": "…", "role": "attendant", "pin_hash": "scrypt:…"}]}

``version`` only grows: a stand refuses to replace its copy with an older one. The file
export uses the generation time in milliseconds since the epoch; the sync agent will use the
central cursor. ``ledger_position`` is the id of the last ledger entry the balance includes
(0: none). ``overdraft_limit_kopecks`` null means the stand's configured limit. Card UIDs are
in their stored form (``sync.cards.CARD_UID``: upper-case hex, any length a stand or the central
service ever linked), plates are normalised (``sync.plates``), QR values are token ids.
``daily_limit_kopecks`` (optional, null or absent: none) caps what a card may be charged on one
local day: a stand refuses a start with it once its sessions of that card today reach it.
``points_balance`` is the client's bonus points at the same ledger position,
``points_spending`` the client's preference (``sync.bonus``), ``discount_percent`` or
``discount_kopecks`` the personal discount (``sync.pricing.Discount``); the top-level
``points_value_kopecks`` is what a point is worth. All four client keys and that one may be
absent (a document of an older central service): no points, no discount, 100 kopecks.
A client's ``uuids`` are the ``client_uuid`` values stands registered it under (its own, and
those of registrations attached to it, e.g. a guest registered twice offline): a stand holding
a client it registered itself under one of them re-links it to the central id. Optional (a
directory without it means none).
A client's ``open_session_stand_id`` (optional, null or absent: none) is the stand where the
central service knows a session of the client to be open: another stand refuses the client's
tap start ("open_elsewhere"), so one client washes at one post at a time whenever the stands
can know it (offline, the integrity check lists an overlap).
A client's ``details`` (optional, absent: true) false says the stand's site is not the client's
(neither registered there nor visited: cloud/clients/scope.py): ``name`` is empty and
``phones`` too, the rest is there, so the client's card or QR code works as anywhere; the
stand's screen does not show such a client (``without_details``).
``format`` changes only with an incompatible change; unknown keys are ignored.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.bonus import DEFAULT_POINT_VALUE_KOPECKS, POINTS_SPENDING
from sync.cards import CARD_UID
from sync.document import Fields, format_utc
from sync.errors import RuleError
from sync.lengths import MAX_NAME
from sync.plates import normalise_plate
from sync.pricing import Discount, Kind, Rates, rates_to_json
from sync.schedule import schedule_from_json

FORMAT = 1
ROLES = ("attendant", "operator", "administrator", "owner")
CREDENTIAL_KINDS = ("card", "plate", "qr")
CLIENT_KINDS = ("member", "guest")
QR_TOKEN_ID = re.compile(r"[0-9a-f]{32}")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_CLIENT_UUIDS = 1000
_DOCUMENT = "Справочник"

CredentialKind = Literal["card", "plate", "qr"]


@dataclass(frozen=True)
class TariffVersionEntry:
    """Rates of a tariff from ``effective_from`` on."""

    id: int
    effective_from: datetime
    rates: Rates


@dataclass(frozen=True)
class TariffEntry:
    id: int
    name: str
    active: bool
    versions: tuple[TariffVersionEntry, ...]

    def version_at(self, when: datetime) -> TariffVersionEntry | None:
        """The version in force at ``when``: the latest one effective at or before it."""
        past = [v for v in self.versions if v.effective_from <= when]
        return max(past, key=lambda v: (v.effective_from, v.id)) if past else None


@dataclass(frozen=True)
class ClientEntry:
    id: int
    kind: Kind
    name: str
    phones: tuple[str, ...]
    blocked: bool
    default_tariff_id: int | None
    balance_kopecks: int  # the central balance, including entries up to ledger_position
    ledger_position: int
    overdraft_limit_kopecks: int | None  # None: the stand's configured limit
    # Bonus points (sync.bonus), in the same snapshot as the balance; the personal discount
    # (sync.pricing.Discount). Absent in a document from an older central service: defaults.
    points_balance: int = 0
    points_spending: str = "off"
    discount_percent: int = 0
    discount_kopecks: int = 0

    def discount(self) -> Discount:
        return Discount(self.discount_percent, self.discount_kopecks)

    uuids: tuple[str, ...] = ()  # the client_uuid values stands registered it under
    # The stand where the central service knows a session of the client to be open (None:
    # none). Optional: a document of an older central service says nothing.
    open_session_stand_id: int | None = None
    # False: the client is not of the stand's site (``without_details``): no name, no phones.
    # Optional: a document of an older central service holds every client's details.
    details: bool = True


def without_details(client: ClientEntry) -> ClientEntry:
    """What a stand of a site the client is not of receives: what a tap needs (kind, balance,
    overdraft, blocked, tariff, points, discount, uuids, where a session is open), without the
    name and phones."""
    return replace(client, name="", phones=(), details=False)


@dataclass(frozen=True)
class CredentialEntry:
    client_id: int
    kind: CredentialKind
    value: str
    lost: bool
    daily_limit_kopecks: int | None = None  # a card's limit per local day (None: none)


@dataclass(frozen=True)
class StaffEntry:
    id: int
    full_name: str
    role: str
    pin_hash: str  # werkzeug's hash string of the PIN


@dataclass(frozen=True)
class Directory:
    version: int
    generated_at: datetime
    site_id: int
    qr_public_key_pem: str
    default_tariff_id: int | None
    tariffs: tuple[TariffEntry, ...]
    clients: tuple[ClientEntry, ...]
    credentials: tuple[CredentialEntry, ...]
    revoked_qr_token_ids: tuple[str, ...]
    staff: tuple[StaffEntry, ...]
    points_value_kopecks: int = DEFAULT_POINT_VALUE_KOPECKS

    def to_dict(self) -> dict[str, object]:
        """The JSON form (``validate_directory`` reads it back to an equal Directory)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "generated_at": format_utc(self.generated_at),
            "site_id": self.site_id,
            "qr_public_key_pem": self.qr_public_key_pem,
            "default_tariff_id": self.default_tariff_id,
            "tariffs": [tariff_dict(t) for t in self.tariffs],
            "clients": [client_dict(c) for c in self.clients],
            "credentials": [credential_dict(c) for c in self.credentials],
            "revoked_qr_token_ids": list(self.revoked_qr_token_ids),
            "staff": [staff_dict(s) for s in self.staff],
            "points_value_kopecks": self.points_value_kopecks,
        }


def tariff_dict(tariff: TariffEntry) -> dict[str, object]:
    """The JSON form of a tariff (the directory document's and the directory page's)."""
    return {
        "id": tariff.id,
        "name": tariff.name,
        "active": tariff.active,
        "versions": [
            {
                "id": v.id,
                "effective_from": format_utc(v.effective_from),
                "rates": rates_to_json(v.rates),
            }
            for v in tariff.versions
        ],
    }


def client_dict(client: ClientEntry) -> dict[str, object]:
    return {
        "id": client.id,
        "kind": client.kind,
        "name": client.name,
        "phones": list(client.phones),
        "blocked": client.blocked,
        "default_tariff_id": client.default_tariff_id,
        "balance_kopecks": client.balance_kopecks,
        "ledger_position": client.ledger_position,
        "overdraft_limit_kopecks": client.overdraft_limit_kopecks,
        "points_balance": client.points_balance,
        "points_spending": client.points_spending,
        "discount_percent": client.discount_percent,
        "discount_kopecks": client.discount_kopecks,
        "uuids": list(client.uuids),
        "open_session_stand_id": client.open_session_stand_id,
        "details": client.details,
    }


def credential_dict(credential: CredentialEntry) -> dict[str, object]:
    return {
        "client_id": credential.client_id,
        "kind": credential.kind,
        "value": credential.value,
        "lost": credential.lost,
        "daily_limit_kopecks": credential.daily_limit_kopecks,
    }


def staff_dict(member: StaffEntry) -> dict[str, object]:
    return {
        "id": member.id,
        "full_name": member.full_name,
        "role": member.role,
        "pin_hash": member.pin_hash,
    }


def check_public_key(fields: Fields, key: str) -> str:
    pem = fields.text(key, 2000, empty=False)
    try:
        public = serialization.load_pem_public_key(pem.encode("ascii", "replace"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise fields.fail(key, "нужен открытый ключ Ed25519 в формате PEM") from None
    if not isinstance(public, Ed25519PublicKey):
        raise fields.fail(key, "нужен открытый ключ Ed25519 в формате PEM")
    return pem


def _rates(fields: Fields) -> Rates:
    rates = Rates(
        member_per_minute=fields.integer("member_per_minute"),
        guest_per_minute=fields.integer("guest_per_minute"),
        step_s=fields.integer("step_s"),
        min_charge=fields.integer("min_charge"),
        cap=fields.optional_integer("cap"),
        grace_s=fields.integer("grace_s"),
    )
    try:
        # Optional: a document of an older central service has no schedules.
        rates = replace(rates, schedule=schedule_from_json(fields.obj.get("schedule")))
        rates.validate()
    except RuleError as error:
        raise RuleError(f"{_DOCUMENT}: «{fields.path}» — {error.message}", "bad_document") from None
    return rates


def check_unique(fields: Fields, key: str, seen: set[object], value: object) -> None:
    if value in seen:
        raise fields.fail(key, f"значение {value} повторяется")
    seen.add(value)


def parse_tariffs(doc: Fields) -> tuple[TariffEntry, ...]:
    tariffs: list[TariffEntry] = []
    tariff_ids: set[object] = set()
    version_ids: set[object] = set()
    for item in doc.objects("tariffs"):
        versions: list[TariffVersionEntry] = []
        for v in item.objects("versions"):
            version = TariffVersionEntry(
                id=v.integer("id", 1),
                effective_from=v.moment("effective_from"),
                rates=_rates(v.nested("rates")),
            )
            check_unique(v, "id", version_ids, version.id)
            versions.append(version)
        tariff = TariffEntry(
            id=item.integer("id", 1),
            name=item.text("name", 100, empty=False),
            active=item.flag("active"),
            versions=tuple(versions),
        )
        check_unique(item, "id", tariff_ids, tariff.id)
        tariffs.append(tariff)
    return tuple(tariffs)


def parse_clients(doc: Fields, tariff_ids: set[int] | None) -> tuple[ClientEntry, ...]:
    """The clients; ``tariff_ids`` None: a page, whose tariffs may have come earlier."""
    clients: list[ClientEntry] = []
    seen: set[object] = set()
    seen_uuids: set[object] = set()
    for item in doc.objects("clients"):
        kind = item.choice("kind", CLIENT_KINDS)
        default_tariff_id = item.optional_integer("default_tariff_id", 1)
        known = tariff_ids is None or default_tariff_id is None or default_tariff_id in tariff_ids
        if not known:
            raise item.fail("default_tariff_id", "такого тарифа нет в справочнике")
        client = ClientEntry(
            id=item.integer("id", 1),
            kind="member" if kind == "member" else "guest",
            name=item.text("name", MAX_NAME),
            phones=tuple(item.texts("phones", 20)),
            blocked=item.flag("blocked"),
            default_tariff_id=default_tariff_id,
            balance_kopecks=item.integer("balance_kopecks"),
            ledger_position=item.integer("ledger_position", 0),
            overdraft_limit_kopecks=item.optional_integer("overdraft_limit_kopecks", 0),
            **_loyalty(item),
            uuids=_client_uuids(item, seen_uuids),
            open_session_stand_id=(
                item.integer("open_session_stand_id", 1)
                if item.has("open_session_stand_id")
                else None
            ),
            details=item.flag("details") if item.has("details") else True,
        )
        check_unique(item, "id", seen, client.id)
        clients.append(client)
    return tuple(clients)


def _loyalty(item: Fields) -> dict[str, Any]:
    """A client's points and discount; absent keys (an older central service) are defaults."""
    values: dict[str, Any] = {
        "points_balance": item.integer("points_balance") if item.has("points_balance") else 0,
        "points_spending": (
            item.choice("points_spending", POINTS_SPENDING)
            if item.has("points_spending")
            else "off"
        ),
        "discount_percent": (
            item.integer("discount_percent", 0) if item.has("discount_percent") else 0
        ),
        "discount_kopecks": (
            item.integer("discount_kopecks", 0) if item.has("discount_kopecks") else 0
        ),
    }
    try:
        Discount(values["discount_percent"], values["discount_kopecks"]).validate()
    except RuleError as error:
        raise item.fail("discount_percent", error.message) from None
    return values


def parse_point_value(doc: Fields) -> int:
    if not doc.has("points_value_kopecks"):
        return DEFAULT_POINT_VALUE_KOPECKS
    return doc.integer("points_value_kopecks", 1)


def _client_uuids(item: Fields, seen: set[object]) -> tuple[str, ...]:
    """A client's ``uuids`` (absent: none); one uuid names one client in a document."""
    if not item.has("uuids"):
        return ()
    uuids = tuple(dict.fromkeys(item.texts("uuids", 36, UUID_TEXT, MAX_CLIENT_UUIDS)))
    for uuid in uuids:
        check_unique(item, "uuids", seen, uuid)
    return uuids


def credential_value(item: Fields, kind: str) -> str:
    if kind == "card":
        return item.text("value", 64, CARD_UID)
    if kind == "qr":
        return item.text("value", 32, QR_TOKEN_ID)
    value = item.text("value", 20)
    try:
        plate = normalise_plate(value)
    except RuleError:
        plate = ""
    if plate != value:
        raise item.fail("value", "номер автомобиля должен быть в нормальной форме")
    return value


def parse_credentials(doc: Fields, client_ids: set[int] | None) -> tuple[CredentialEntry, ...]:
    """The credentials; ``client_ids`` None: a page, whose clients may have come earlier."""
    credentials: list[CredentialEntry] = []
    seen: set[object] = set()
    for item in doc.objects("credentials"):
        kind = item.choice("kind", CREDENTIAL_KINDS)
        credential = CredentialEntry(
            client_id=item.integer("client_id", 1),
            kind="card" if kind == "card" else "qr" if kind == "qr" else "plate",
            value=credential_value(item, kind),
            lost=item.flag("lost"),
            daily_limit_kopecks=(
                item.optional_integer("daily_limit_kopecks", 0)
                if item.has("daily_limit_kopecks")
                else None
            ),
        )
        if client_ids is not None and credential.client_id not in client_ids:
            raise item.fail("client_id", "такого клиента нет в справочнике")
        check_unique(item, "value", seen, (credential.kind, credential.value))
        credentials.append(credential)
    return tuple(credentials)


def parse_staff(doc: Fields) -> tuple[StaffEntry, ...]:
    staff: list[StaffEntry] = []
    seen: set[object] = set()
    for item in doc.objects("staff"):
        member = StaffEntry(
            id=item.integer("id", 1),
            full_name=item.text("full_name", MAX_NAME),
            role=item.choice("role", ROLES),
            pin_hash=item.text("pin_hash", 255, empty=False),
        )
        check_unique(item, "id", seen, member.id)
        staff.append(member)
    return tuple(staff)


def validate_directory(obj: object) -> Directory:
    """Check a parsed JSON directory and return it typed; RuleError(code "bad_document")
    naming the first bad field otherwise. References are checked too: every credential's
    client and every default tariff must be in the document."""
    doc = Fields(obj, _DOCUMENT)
    if doc.integer("format") != FORMAT:
        raise doc.fail("format", f"поддерживается только формат {FORMAT}")
    tariffs = parse_tariffs(doc)
    tariff_ids = {t.id for t in tariffs}
    default_tariff_id = doc.optional_integer("default_tariff_id", 1)
    if default_tariff_id is not None and default_tariff_id not in tariff_ids:
        raise doc.fail("default_tariff_id", "такого тарифа нет в справочнике")
    clients = parse_clients(doc, tariff_ids)
    return Directory(
        version=doc.integer("version", 1),
        generated_at=doc.moment("generated_at"),
        site_id=doc.integer("site_id", 1),
        qr_public_key_pem=check_public_key(doc, "qr_public_key_pem"),
        default_tariff_id=default_tariff_id,
        tariffs=tariffs,
        clients=clients,
        credentials=parse_credentials(doc, {c.id for c in clients}),
        revoked_qr_token_ids=tuple(doc.texts("revoked_qr_token_ids", 32, QR_TOKEN_ID, 10_000_000)),
        staff=parse_staff(doc),
        points_value_kopecks=parse_point_value(doc),
    )
