"""The cloud register behind one small interface, so another (a local register through ATOL's
driver, another OFD's cloud) is one more class::

    provider = AtolProvider(settings)          # cloud/fiscal/atol.py
    accepted = provider.register(document)     # the service's uuid for the document
    result = provider.report(accepted)         # wait, done with fiscal data, or fail

Failures are three exceptions the sender treats apart: the service down or answering
nonsense (``ProviderUnavailable``: try again later, same external id), the receipt refused
(``ReceiptRefused``: nothing registered, send again under a new external id, a limited number
of times), and the set-up wrong (``ProviderSetupError``: bad login or group; every receipt
waits until a person fixes the configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ReceiptItem:
    """One line of a receipt."""

    name: str  # tag 1030
    amount_kopecks: int
    # Tag 1214: advance, full_prepayment, full_payment, partial_payment (part set off, the rest
    # on credit), credit (handed over on credit), credit_payment (a credit paid off).
    payment_method: str
    payment_object: int  # tag 1212: 10 an advance, 4 a service
    vat: str


@dataclass(frozen=True)
class ReceiptPayment:
    """How part of a receipt's total was paid: ``type`` 0 cash, 1 cashless, 2 an advance set
    off ("зачёт аванса"), 3 on credit ("постоплата")."""

    type: int
    amount_kopecks: int


@dataclass(frozen=True)
class ReceiptDocument:
    """A receipt as the sender hands it to a provider: what any register needs. The items
    and the payments each add up to ``amount_kopecks``."""

    external_id: str
    operation: str  # sell or sell_refund
    amount_kopecks: int
    items: tuple[ReceiptItem, ...]
    payments: tuple[ReceiptPayment, ...]
    contact: str  # the buyer's e-mail or phone
    at: datetime  # when the money moved, in the seller's time zone


@dataclass(frozen=True)
class FiscalData:
    """What the register gives back for a registered receipt."""

    fiscal_document_number: int
    fiscal_sign: int
    fn_number: str
    registered_at: datetime


@dataclass(frozen=True)
class Report:
    """The state of a document: ``wait``, ``done`` (with ``fiscal``) or ``fail`` (``error``)."""

    status: str
    fiscal: FiscalData | None = None
    error: str = ""


class FiscalError(Exception):
    """A provider's failure, with the words the provider gave."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProviderUnavailable(FiscalError):
    """The service did not answer, or answered in a way that says nothing of the receipt."""


class ReceiptRefused(FiscalError):
    """The service or the register refused this receipt; nothing was registered."""


class ProviderSetupError(FiscalError):
    """The credentials or the group are wrong: no receipt can go until they are fixed."""


class FiscalProvider(Protocol):
    """A cloud register."""

    def register(self, document: ReceiptDocument) -> str:
        """Hand the document over; the service's id for it. The same ``external_id`` twice
        registers once and answers the same id."""

    def report(self, provider_uuid: str) -> Report:
        """The document's state."""
