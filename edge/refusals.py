"""Why the stand refuses a tap, a scan or a start, and what it says: one text per refusal code.

The codes are the shared vocabulary of ``tap.refused`` events (``sync.events.REFUSALS``); the
texts are the stand's own: the central service stores the code and shows no text. They are
Russian, the stand's language of record (the engine's ``Refused`` carries one and the stand's
state reports the last); the touchscreen shows them in the chosen language through its
catalogue. ``N_`` only marks them for extraction (edge/translations/babel.cfg reads this
module): no request chooses a language where a card is tapped.

    raise refusal("blocked", client_id)  # Refused("Клиент заблокирован", "blocked")
"""

from sync.errors import RuleError


def N_(text: str) -> str:
    """Mark ``text`` for the catalogue (gettext's usual name) and return it untranslated."""
    return text


REFUSAL_TEXTS = {
    "unknown": N_("Карта или QR-код не найдены"),
    "lost": N_("Карта отмечена как потерянная"),
    "blocked": N_("Клиент заблокирован"),
    "forged": N_("QR-код недействителен"),
    "revoked": N_("QR-код отозван"),
    "overdraft": N_("Недостаточно средств на балансе"),
    "stale_directory": N_("Нет связи с сервером слишком долго: обратитесь к администратору"),
    "no_tariff": N_("Нет действующего тарифа"),
    "daily_limit": N_("Дневной лимит карты исчерпан"),
}


class Refused(RuleError):
    """A start, an end or a tap refused by a rule; ``code`` is one of ``sync.events.REFUSALS``."""

    def __init__(self, message: str, code: str, client_id: int | None = None):
        super().__init__(message, code)
        self.client_id = client_id


def refusal(code: str, client_id: int | None = None) -> Refused:
    """The refusal ``code`` with its text, naming the client refused if one is known."""
    return Refused(REFUSAL_TEXTS[code], code, client_id)
