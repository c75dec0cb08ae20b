"""The shapes of the clients' JSON API (cloud/clients/api.py): request bodies with the same
rules as the pages (each field validated by the service's own cleaning function) and answers.
Kept apart so the routes read as routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cloud.clients import service as clientbook
from cloud.fields import (
    MAX_AMOUNT_KOPECKS,
    CardUid,
    EmailText,
    Kopecks,
    Phone,
    Plate,
    RowId,
    line,
    non_zero,
    said_by,
    text,
    whole,
)
from cloud.ledger import service as ledger
from cloud.loyalty import bonus
from sync.funds import MAX_OVERDRAFT_KOPECKS, check_overdraft
from sync.lengths import MAX_NAME
from sync.pricing import MAX_DISCOUNT_KOPECKS

Name = Annotated[line(MAX_NAME), said_by(lambda v: clientbook.clean_name(v, required=True), str)]
OptionalName = Annotated[
    line(MAX_NAME, required=False, description="a member's name (a guest's may be empty)"),
    said_by(lambda v: clientbook.clean_name(v, required=False), str),
]
Email = Annotated[EmailText, said_by(clientbook._clean_email, str)]
Note = Annotated[text(clientbook.MAX_NOTE, required=False), said_by(clientbook._clean_note, str)]
BlockReason = Annotated[
    line(clientbook.MAX_BLOCK_REASON, required=False), said_by(clientbook.clean_block_reason, str)
]
Phones = Annotated[
    list[Phone], Field(max_length=clientbook.MAX_PHONES), said_by(clientbook._clean_phones, list)
]
Plates = Annotated[
    list[Plate],
    Field(max_length=clientbook.MAX_CREDENTIALS),
    said_by(clientbook._clean_plates, list),
]
Cards = Annotated[
    list[CardUid],
    Field(max_length=clientbook.MAX_CREDENTIALS),
    said_by(clientbook._clean_cards, list),
]
TopupAmount = Annotated[Kopecks, said_by(ledger.check_topup, int)]
AdjustmentAmount = Annotated[
    non_zero(MAX_AMOUNT_KOPECKS, "kopecks, non-zero; negative takes money off"),
    said_by(ledger.check_adjustment, int),
]
AdjustmentReason = Annotated[text(ledger.MAX_REASON), said_by(ledger.clean_adjustment_reason, str)]
DiscountPercent = Annotated[
    whole(0, 100, "personal discount per session, %"),
    said_by(lambda v: bonus.check_discount(v, 0), int),
]
DiscountKopecks = Annotated[
    whole(0, MAX_DISCOUNT_KOPECKS, "a fixed discount per session, kopecks; not with a percentage"),
    said_by(lambda v: bonus.check_discount(0, v), int),
]
OverdraftLimit = Annotated[
    whole(
        0,
        MAX_OVERDRAFT_KOPECKS,
        "the client's own credit at the stands, kopecks (administrator, owner); "
        "null: the stand's default",
    ),
    said_by(check_overdraft, int),
]

# --- schemas ----------------------------------------------------------------------------------


class CountersOut(BaseModel):
    """The client card's counters, over every session at every site."""

    sessions: int
    total_duration_s: int
    total_spent_kopecks: int = Field(description="sum of the ended sessions' costs")
    last_visit_at: str | None = Field(description="start of the latest session")
    registered_at: str
    comments: int = Field(description="notes and complaints staff wrote about the client")


class FundsOut(BaseModel):
    """What the client has to wash with now, by the stands' rule (sync/funds.py)."""

    available_kopecks: int = Field(
        description="balance + points' worth if the client spends them + own overdraft"
    )
    overdraft_kopecks: int = Field(description="the overdraft counted in available_kopecks")
    overdraft_own: bool = Field(
        description="false: the stand's configured default applies, not counted here"
    )
    tariff_id: int | None = Field(description="the tariff a stand would start the client with")
    tariff_name: str
    start_minimum_kopecks: int | None = Field(
        description="the price of the shortest billed session at that tariff"
    )
    can_start: bool = Field(description="available_kopecks >= start_minimum_kopecks")


class ClientOut(BaseModel):
    """A client. ``plates`` are normalised, ``cards`` are the usable upper-case hex UIDs,
    ``lost_cards`` the disabled ones (still linked, so a stand refuses them). A ``corporate``
    client is one account for several cards, plates and drivers with one balance."""

    id: int
    kind: Literal["member", "guest"]
    name: str
    phones: list[str]
    email: str
    plates: list[str]
    cards: list[str]
    lost_cards: list[str]
    blocked: bool
    blocked_reason: str
    unsubscribed: bool = Field(description="asked not to receive mailings")
    corporate: bool
    balance_kopecks: int
    default_tariff_id: int | None
    home_site_id: int | None
    note: str
    member_since: str | None
    created_at: str
    counters: CountersOut
    points_balance: int = Field(description="bonus points (cloud/loyalty/bonus.py)")
    points_spending: Literal["points_first", "money_first", "off"]
    discount_percent: int = Field(description="personal discount per session, 0..100 %")
    discount_kopecks: int = Field(description="or a fixed discount per session, kopecks")
    overdraft_limit_kopecks: int | None = Field(
        description="the client's own credit at the stands; null: the stand's default"
    )
    funds: FundsOut


class ClientList(BaseModel):
    items: list[ClientOut]
    total: int


class ClientCreate(BaseModel):
    """Only ``kind`` is required; a member needs a name, a guest a plate."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["member", "guest"]
    name: OptionalName = ""
    phones: Phones = Field(default_factory=list)
    email: Email = ""
    plates: Plates = Field(default_factory=list)
    cards: Cards = Field(default_factory=list, description="NFC UIDs")
    default_tariff_id: RowId | None = None
    note: Note = ""
    site_id: RowId | None = Field(
        default=None, description="home site; an attendant's own site when omitted"
    )
    foreign: StrictBool = Field(
        default=False,
        description="the plates are foreign: a plate matching no Russian format is accepted "
        "(else 422 plate_format) and marked foreign",
    )
    confirmed: StrictBool = Field(
        default=False,
        description="save although another client has one of the phones (else 409 phone_taken "
        "with that client's id)",
    )


class ClientPatch(BaseModel):
    """Only the fields given are changed (null: unchanged); ``default_tariff_id: null`` clears
    the tariff."""

    model_config = ConfigDict(extra="forbid")

    name: OptionalName | None = Field(default=None, description="a member's may not be blank")
    email: Email | None = None
    note: Note | None = None
    phones: Phones | None = None
    default_tariff_id: RowId | None = None
    blocked: StrictBool | None = None
    blocked_reason: BlockReason | None = None
    unsubscribed: StrictBool | None = None
    corporate: StrictBool | None = None
    points_spending: Literal["points_first", "money_first", "off"] | None = None
    discount_percent: DiscountPercent | None = None
    discount_kopecks: DiscountKopecks | None = None
    overdraft_limit_kopecks: OverdraftLimit | None = None
    confirmed: StrictBool | None = Field(
        default=None,
        description="save although another client has one of the new phones (else 409 "
        "phone_taken with that client's id)",
    )


class CredentialOut(BaseModel):
    id: int
    kind: Literal["card", "plate", "qr"]
    value: str
    lost: bool
    foreign: bool = Field(description="a plate entered as foreign (matching no Russian format)")
    daily_limit_kopecks: int | None = Field(description="a card's limit per local day")
    created_at: str
    unlinked_at: str | None


class CredentialList(BaseModel):
    items: list[CredentialOut]


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uid: CardUid


class PlateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: Plate
    foreign: StrictBool = Field(
        default=False,
        description="a foreign plate: accepted although it matches no Russian format "
        "(else 422 plate_format)",
    )


class TopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_kopecks: TopupAmount
    method: Literal["cash", "card", "transfer"]
    site_id: RowId | None = Field(
        default=None, description="the site whose cash it is; default: the client's home site"
    )
    confirmed: StrictBool = Field(
        default=False, description="true to take an amount above topup_confirm_kopecks"
    )


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_kopecks: AdjustmentAmount
    reason: AdjustmentReason


class LedgerEntryOut(BaseModel):
    id: int
    kind: Literal["topup", "charge", "adjustment", "refund"]
    amount_kopecks: int
    method: str | None
    reason: str
    session_id: int | None
    site_id: int | None
    created_by_id: int | None
    created_at: str


class LedgerList(BaseModel):
    items: list[LedgerEntryOut]
    total: int


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phones: Phones = Field(default_factory=list)
    email: Email = ""
    cards: Cards = Field(default_factory=list)
    confirmed: StrictBool = Field(
        default=False,
        description="save although another client has one of the phones (else 409 phone_taken "
        "with that client's id)",
    )


class QrOut(BaseModel):
    token: str = Field(
        description='the signed token text to encode in a QR code: "AQ2:" and upper-case base32,'
        " for QR alphanumeric mode at error level M (version 6 or less)"
    )
