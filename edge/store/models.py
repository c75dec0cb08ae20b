"""The stand's tables as peewee models, and their binding to one store's database.

The models below are the schema: they name no database. Each :class:`~edge.store.Store`
makes its own copy of every model bound to its own file (:class:`Tables`), so two stores in
one process (two stands in a test, a command beside a running stand) never read or write each
other's rows: no process-global proxy that opening a second store would silently rebind.
"""

from __future__ import annotations

from typing import TypeVar

import peewee as pw

from edge.store.fields import JsonField, UtcField
from sync.document import format_utc
from sync.events import Event, validate_event
from sync.pricing import Discount, Kind, Rates, rates_from_json


class BaseModel(pw.Model):
    class Meta:
        database = None  # each Store binds its own copy (``Tables``)
        legacy_table_names = False


class StoreMeta(BaseModel):
    """Single values: schema and directory versions, the QR public key, the next event seq."""

    key = pw.CharField(primary_key=True)
    value = pw.TextField()


# --- the directory copy (replaced as a whole by load_directory) ----------------------------


class DirTariff(BaseModel):
    id = pw.IntegerField(primary_key=True)
    name = pw.CharField()
    active = pw.BooleanField()


class DirTariffVersion(BaseModel):
    id = pw.IntegerField(primary_key=True)
    tariff = pw.ForeignKeyField(DirTariff, backref="versions", on_delete="CASCADE")
    effective_from = UtcField(index=True)
    rates = JsonField()


class DirClient(BaseModel):
    id = pw.IntegerField(primary_key=True)
    kind = pw.CharField()
    name = pw.CharField()
    phones = JsonField()
    blocked = pw.BooleanField()
    default_tariff_id = pw.IntegerField(null=True)
    balance_kopecks = pw.IntegerField()  # the central balance, up to ledger_position
    ledger_position = pw.IntegerField()
    overdraft_limit_kopecks = pw.IntegerField(null=True)
    points_balance = pw.IntegerField(default=0)  # central bonus points, up to ledger_position
    points_spending = pw.CharField(default="off")  # sync.bonus.POINTS_SPENDING
    discount_percent = pw.IntegerField(default=0)  # sync.pricing.Discount
    discount_kopecks = pw.IntegerField(default=0)
    open_session_stand_id = pw.IntegerField(null=True)  # a session open at that stand
    # False: a client of another site (sync.directory.without_details): no name, no phones;
    # taps work, the screen does not show the client.
    details = pw.BooleanField(default=True)


class DirCredential(BaseModel):
    client = pw.ForeignKeyField(DirClient, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField()
    value = pw.CharField()
    lost = pw.BooleanField()
    daily_limit_kopecks = pw.IntegerField(null=True)  # a card's limit per local day

    class Meta:
        indexes = ((("kind", "value"), True),)


class DirClientUuid(BaseModel):
    """A uuid a stand registered a directory client under (``ClientEntry.uuids``)."""

    uuid = pw.CharField(primary_key=True)
    client = pw.ForeignKeyField(DirClient, backref="uuids", on_delete="CASCADE")


class DirStaff(BaseModel):
    id = pw.IntegerField(primary_key=True)
    full_name = pw.CharField()
    role = pw.CharField()
    pin_hash = pw.CharField()


class DirRevokedQr(BaseModel):
    token_id = pw.CharField(primary_key=True)


DIRECTORY_MODELS: list[type[BaseModel]] = [
    DirTariff,
    DirTariffVersion,
    DirClient,
    DirClientUuid,
    DirCredential,
    DirStaff,
    DirRevokedQr,
]


# --- what happened here ---------------------------------------------------------------------


class LocalSession(BaseModel):
    """A session at this stand. ``rates`` are copied from the tariff version at the start, so
    the end is priced the same whatever directory is loaded meanwhile."""

    uuid = pw.CharField(primary_key=True)
    client_id = pw.IntegerField()
    client_kind = pw.CharField()
    tariff_version_id = pw.IntegerField()
    rates = JsonField()
    started_at = UtcField(index=True)
    started_mono_ms = pw.IntegerField()
    boot_id = pw.CharField()
    start_method = pw.CharField()  # card, qr, screen
    started_by = pw.CharField()  # the event actor: staff id, card or qr
    ended_at = UtcField(null=True, index=True)
    duration_s = pw.IntegerField(null=True)
    cost_kopecks = pw.IntegerField(null=True)
    end_method = pw.CharField(null=True)  # card, qr, screen, dashboard, auto
    ended_by = pw.CharField(null=True)
    auto_ended = pw.BooleanField(default=False)
    comment = pw.TextField(default="")
    # What started it: a card UID, a plate or a QR token id (None: a screen start without one).
    credential_kind = pw.CharField(null=True)
    credential_value = pw.CharField(null=True)
    # The client's personal discount at the start, kept like the rates.
    discount_percent = pw.IntegerField(default=0)
    discount_kopecks = pw.IntegerField(default=0)

    def session_rates(self) -> Rates:
        return rates_from_json(self.rates)

    def discount(self) -> Discount:
        return Discount(self.discount_percent, self.discount_kopecks)

    def kind(self) -> Kind:
        return "member" if self.client_kind == "member" else "guest"


# One open session per client at this stand: a second start for the client fails, not forks.
LocalSession.add_index(LocalSession.client_id, unique=True, where=LocalSession.ended_at.is_null())


class LocalLedger(BaseModel):
    """Money moved here (a charge is negative, a top-up positive), with the event that carries
    it to the central service; a charge's ``amount_points`` are the bonus points it spent."""

    event_id = pw.CharField(unique=True)
    client_id = pw.IntegerField(index=True)
    kind = pw.CharField()
    amount_kopecks = pw.IntegerField()
    amount_points = pw.IntegerField(default=0)
    method = pw.CharField(null=True)
    session_uuid = pw.CharField(null=True)
    created_at = UtcField()
    settled = pw.BooleanField(default=False)  # the central balance we hold includes it


class Outbox(BaseModel):
    """Events waiting for (or already given) the central service's acknowledgment."""

    seq = pw.IntegerField(primary_key=True)
    id = pw.CharField(unique=True)
    type = pw.CharField()
    payload = JsonField()
    occurred_at = UtcField()
    boot_id = pw.CharField()
    mono_ms = pw.IntegerField()
    actor = pw.CharField()
    directory_version = pw.IntegerField()
    stand_id = pw.IntegerField()
    acked = pw.BooleanField(default=False, index=True)

    def event(self) -> Event:
        return validate_event(self.envelope())

    def envelope(self) -> dict[str, object]:
        return {
            "id": self.id,
            "stand_id": self.stand_id,
            "seq": self.seq,
            "type": self.type,
            "occurred_at": format_utc(self.occurred_at),
            "boot_id": self.boot_id,
            "mono_ms": self.mono_ms,
            "actor": self.actor,
            "directory_version": self.directory_version,
            "payload": self.payload,
        }


class LocalClient(BaseModel):
    """A client registered at this stand (see the module's notes). The fields mirror
    ``DirClient`` so the engine treats both alike; ``id`` is negative."""

    id = pw.IntegerField(primary_key=True)
    uuid = pw.CharField(unique=True)
    kind = pw.CharField()
    name = pw.CharField()
    phones = JsonField()
    blocked = pw.BooleanField(default=False)
    default_tariff_id = pw.IntegerField(null=True)
    balance_kopecks = pw.IntegerField(default=0)  # nothing central yet
    ledger_position = pw.IntegerField(default=0)
    overdraft_limit_kopecks = pw.IntegerField(null=True)
    created_at = UtcField()
    points_balance = pw.IntegerField(default=0)
    points_spending = pw.CharField(default="off")
    discount_percent = pw.IntegerField(default=0)
    discount_kopecks = pw.IntegerField(default=0)
    details = pw.BooleanField(default=True)  # registered here: a client of this site


class LocalCredential(BaseModel):
    """A plate or card of a local client."""

    client = pw.ForeignKeyField(LocalClient, backref="credentials", on_delete="CASCADE")
    kind = pw.CharField()
    value = pw.CharField()
    lost = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("kind", "value"), True),)


class AddedCard(BaseModel):
    """A card linked here to a directory client (``card.linked``) that the directory copy does
    not hold yet: a tap knows it at once, offline too. The directory rows that bring the card
    (to whomever the central service gave it) drop this one, so the central word is final,
    a later unlink included."""

    value = pw.CharField(primary_key=True)
    client_id = pw.IntegerField(index=True)
    linked_at = UtcField()


class RelinkedClient(BaseModel):
    """A local client re-linked to the central client ``client_id`` (see the module's notes):
    a screen or a caller still holding the old negative id finds the central client."""

    local_id = pw.IntegerField(primary_key=True)
    uuid = pw.CharField(unique=True)
    client_id = pw.IntegerField()


class LocalComment(BaseModel):
    """A comment written on the screen about a client (and maybe one of their sessions)."""

    uuid = pw.CharField(primary_key=True)
    client_id = pw.IntegerField(index=True)
    session_uuid = pw.CharField(null=True)
    text = pw.TextField()
    staff_id = pw.IntegerField()
    created_at = UtcField()


class LocalShift(BaseModel):
    """An attendant's shift at this stand (``shift.opened`` .. ``shift.closed``): its top-ups
    are the attendant's ``topup.recorded`` events numbered between ``opened_seq`` and
    ``closed_seq`` (``edge.store.shifts``)."""

    uuid = pw.CharField(primary_key=True)
    staff_id = pw.IntegerField(index=True)
    opening_kopecks = pw.IntegerField()
    opened_at = UtcField()
    opened_seq = pw.IntegerField()
    counted_kopecks = pw.IntegerField(null=True)
    closed_at = UtcField(null=True)
    closed_seq = pw.IntegerField(null=True)


# One open shift per attendant at this stand: a second opening fails, not forks.
LocalShift.add_index(LocalShift.staff_id, unique=True, where=LocalShift.closed_seq.is_null())


class PinFailures(BaseModel):
    """Wrong PINs of one staff member on this stand's screen (``edge.screen.pins``), kept in
    the database so that a restart does not lift a lock."""

    staff_id = pw.IntegerField(primary_key=True)
    tries = pw.IntegerField(default=0)  # tries since the last lock, each counted before its check
    locks = pw.IntegerField(default=0)  # locks in a row without a right PIN
    locked_until = UtcField(null=True)


ALL_MODELS: list[type[BaseModel]] = [
    StoreMeta,
    *DIRECTORY_MODELS,
    LocalSession,
    LocalLedger,
    Outbox,
    LocalClient,
    LocalCredential,
    LocalComment,
    RelinkedClient,
    AddedCard,
    PinFailures,
    LocalShift,
]

AnyClient = DirClient | LocalClient
AnyCredential = DirCredential | LocalCredential

M = TypeVar("M", bound=BaseModel)


def _bound_copy(model: type[M], database: pw.Database, copies: dict[type, type]) -> type[M]:
    """A subclass of ``model`` bound to ``database``; its foreign keys point at the copies
    already made of the models they reference (so a join or a lazy ``row.client`` stays in
    this database), declared as the original's, in the same column order."""
    attrs: dict[str, object] = {"__module__": model.__module__, "__qualname__": model.__qualname__}
    for field in model._meta.sorted_fields:
        if isinstance(field, pw.ForeignKeyField):
            key = pw.ForeignKeyField(
                copies[field.rel_model],
                backref=field.backref,
                on_delete=field.on_delete,
                on_update=field.on_update,
                column_name=field.column_name,
                null=field.null,
                index=field.index,
                unique=field.unique,
            )
            # The original's place: the column order of CREATE TABLE and of ``select_sql``.
            key._order, key._sort_key = field._order, field._sort_key
            attrs[field.name] = key
    meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
    attrs["Meta"] = meta
    return type(model.__name__, (model,), attrs)  # type: ignore[return-value]


class Tables:
    """Every model bound to one store's database: ``tables.Outbox`` is a subclass of
    :class:`Outbox` whose queries run there; ``tables[Outbox]`` is the same.

        tables = Tables(pw.SqliteDatabase("stand.db"))
        tables.LocalSession.select().count()
    """

    StoreMeta: type[StoreMeta]
    DirTariff: type[DirTariff]
    DirTariffVersion: type[DirTariffVersion]
    DirClient: type[DirClient]
    DirClientUuid: type[DirClientUuid]
    DirCredential: type[DirCredential]
    DirStaff: type[DirStaff]
    DirRevokedQr: type[DirRevokedQr]
    LocalSession: type[LocalSession]
    LocalLedger: type[LocalLedger]
    Outbox: type[Outbox]
    LocalClient: type[LocalClient]
    LocalCredential: type[LocalCredential]
    LocalComment: type[LocalComment]
    RelinkedClient: type[RelinkedClient]
    AddedCard: type[AddedCard]
    PinFailures: type[PinFailures]
    LocalShift: type[LocalShift]

    def __init__(self, database: pw.Database) -> None:
        self._copies: dict[type, type] = {}
        for model in ALL_MODELS:  # a referenced model comes before those referencing it
            self._copies[model] = _bound_copy(model, database, self._copies)
            setattr(self, model.__name__, self._copies[model])
        self.all: list[type[BaseModel]] = [self._copies[model] for model in ALL_MODELS]
        self.directory: list[type[BaseModel]] = [self._copies[m] for m in DIRECTORY_MODELS]

    def __getitem__(self, model: type[M]) -> type[M]:
        bound: type[M] = self._copies[model]
        return bound
