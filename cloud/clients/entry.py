"""What staff (and clients joining in the cabinet) type that is checked beyond its shape:

- a plate entered now must match a Russian format (``sync.plates``, GOST R 50577-2018) unless
  marked foreign; plates stored before stay valid and lookups only normalise;
- a phone another live client already has is a warning (``PhoneTaken``, 409 with that
  client's id) that the staff member may confirm: two clients sharing a phone (a family car,
  a company's manager) is allowed, but never by accident."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.clients.scope import client_label, is_visible
from cloud.errors import Conflict, Unprocessable
from cloud.models import Client, ClientPhone, User
from sync import plates as plate_rules
from sync.errors import RuleError


def entered_plate(text: str, *, foreign: bool) -> str:
    """The normalised plate, refused (422 ``plate_format``) when it matches no Russian format
    and is not marked foreign; a malformed one is the shared rule's ``bad_plate``."""
    try:
        return plate_rules.check_new_plate(text, foreign=foreign)
    except RuleError as error:
        if error.code != "plate_format":
            raise
        plate = plate_rules.normalise_plate(text)
        raise Unprocessable(
            _(
                "Номер «%(plate)s» не похож на российский (%(formats)s). Для иностранного "
                "номера отметьте «Иностранный номер».",
                plate=plate,
                formats=formats_text(),
            ),
            "plate_format",
        ) from None


# The formats' names in the language of the page (sync.plates.PLATE_FORMATS names them).
FORMAT_LABELS = {
    "private": _l("частный"),
    "taxi": _l("такси и маршрутный транспорт"),
    "trailer": _l("прицеп"),
    "motorcycle": _l("мотоцикл, трактор"),
    "transit": _l("транзитный"),
    "diplomatic_head": _l("дипломатический (глава миссии)"),
    "diplomatic": _l("дипломатический"),
    "diplomatic_staff": _l("технический персонал миссии"),
    "police": _l("полиция"),
    "police_motorcycle": _l("мотоцикл полиции"),
    "military": _l("воинская часть"),
}


def formats_text() -> str:
    """The Russian formats with an example each, in the language of the page."""
    return "; ".join(
        f"{FORMAT_LABELS.get(fmt.name, fmt.label)} {fmt.example}"
        for fmt in plate_rules.PLATE_FORMATS
    )


def is_foreign(plate: str) -> bool:
    """Whether a normalised plate is stored as foreign: it matches no Russian format."""
    return plate_rules.plate_format(plate) is None


class PhoneTaken(Conflict):
    """A phone another live client has; ``details`` carry that client's id for the API
    (``None`` when the caller may not see that client)."""

    def __init__(self, phone: str, holder: Client, visible: bool) -> None:
        if visible:
            message = _(
                "Телефон %(phone)s уже указан у клиента «%(name)s» (№%(id)s). "
                "Если это верно, подтвердите сохранение.",
                phone=phone,
                name=client_label(holder),
                id=holder.id,
            )
        else:
            message = _(
                "Телефон %(phone)s уже указан у клиента другой площадки. "
                "Если это верно, подтвердите сохранение.",
                phone=phone,
            )
        super().__init__(message, "phone_taken")
        self.phone = phone
        self.holder_id: int | None = holder.id if visible else None
        self.details = {"client_id": self.holder_id, "phone": phone}


def check_phones_free(
    actor: User | None,
    phones: Iterable[str],
    *,
    client_id: int | None = None,
    confirmed: bool = False,
) -> None:
    """Raise ``PhoneTaken`` for the first of the normalised ``phones`` that another live
    (not deleted) client has, unless ``confirmed``. The phones ``client_id`` already has
    are not asked about again."""
    if confirmed:
        return
    wanted = list(phones)
    if client_id is not None:
        held = {
            row.phone
            for row in ClientPhone.select(ClientPhone.phone).where(ClientPhone.client == client_id)
        }
        wanted = [phone for phone in wanted if phone not in held]
    if not wanted:
        return
    query = (
        ClientPhone.select(ClientPhone, Client)
        .join(Client)
        .where(ClientPhone.phone.in_(wanted) & Client.deleted_at.is_null())
    )
    if client_id is not None:
        query = query.where(Client.id != client_id)
    row = query.order_by(ClientPhone.id).first()
    if row is not None:
        raise PhoneTaken(row.phone, row.client, is_visible(actor, row.client.id))
