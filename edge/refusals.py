"""Why the stand refuses a tap, a scan or a start, and what it says: one text per refusal code.

The codes are the shared vocabulary of ``tap.refused`` events (``sync.events.REFUSALS``); the
texts are the stand's own: the central service stores the code and shows no text. They are
Russian, the stand's language of record (the engine's ``Refused`` carries one and the stand's
state reports the last); the touchscreen shows them in the chosen language through its
catalogue. ``N_`` only marks them for extraction (edge/translations/babel.cfg reads this
module): no request chooses a language where a card is tapped. A text may name values
(``%(seconds)d``); the refusal carries them in ``params`` to fill the text in any language.

    raise refusal("blocked", client_id)  # Refused("Клиент заблокирован", "blocked")
    refusal("too_soon_to_end", 1, seconds=42).message  # "… приложите ещё раз через 42 с"
"""

from collections.abc import Callable

from sync.errors import RuleError

Translate = Callable[[str], str]  # a catalogue's gettext, or ``untranslated``


def N_(text: str) -> str:
    """Mark ``text`` for the catalogue (gettext's usual name) and return it untranslated."""
    return text


def untranslated(text: str) -> str:
    """``text`` in the stand's language of record: the ``translate`` where no page asks."""
    return text


REFUSAL_TEXTS = {
    "unknown": N_("Карта или QR-код не найдены"),
    "lost": N_("Карта отмечена как потерянная"),
    "blocked": N_("Клиент заблокирован"),
    "forged": N_("QR-код недействителен"),
    "revoked": N_("QR-код отозван"),
    "insufficient_funds": N_("Недостаточно средств для мойки: пополните баланс"),
    "stale_directory": N_("Нет связи с сервером слишком долго: обратитесь к администратору"),
    "no_tariff": N_("Нет действующего тарифа"),
    "daily_limit": N_("Дневной лимит карты исчерпан"),
    "post_busy": N_("Пост занят"),
    "open_elsewhere": N_("Сеанс клиента уже идёт на другом посту"),
    "too_soon_to_end": N_("Сеанс идёт: чтобы завершить, приложите ещё раз через %(seconds)d с"),
}


class Refused(RuleError):
    """A start, an end or a tap refused by a rule; ``code`` is one of ``sync.events.REFUSALS``."""

    def __init__(
        self,
        message: str,
        code: str,
        client_id: int | None = None,
        params: dict[str, int] | None = None,
    ):
        super().__init__(message, code)
        self.client_id = client_id
        self.params = params or {}


def refusal_text(template: str, params: dict[str, int]) -> str:
    """``template`` (a table text or its translation) with the refusal's values filled in."""
    return template % params if params else template


def refusal(code: str, client_id: int | None = None, **params: int) -> Refused:
    """The refusal ``code`` with its text, naming the client refused if one is known and
    filling in the values its text names (``seconds=42``)."""
    return Refused(refusal_text(REFUSAL_TEXTS[code], params), code, client_id, params)
