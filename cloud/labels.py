"""What the pages call the stored codes: client kinds, payment methods, ledger entry kinds and
credential kinds, translated at the time of the request."""

from __future__ import annotations

from flask_babel import gettext as _


def kind_labels() -> dict[str, str]:
    return {"member": _("Участник клуба"), "guest": _("Гость")}


def method_labels() -> dict[str, str]:
    return {
        "cash": _("Наличные"),
        "card": _("Карта"),
        "transfer": _("Перевод"),
        "online": _("Онлайн"),  # cloud/payments/: never offered to staff
    }


def entry_labels() -> dict[str, str]:
    return {
        "topup": _("Пополнение"),
        "charge": _("Списание за сессию"),
        "adjustment": _("Корректировка"),
        "refund": _("Возврат"),
    }


def credential_labels() -> dict[str, str]:
    return {"card": _("Карта"), "plate": _("Номер автомобиля"), "qr": _("QR-код")}
