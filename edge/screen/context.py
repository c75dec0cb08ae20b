"""What every page of the touchscreen shares: the blueprint, the stand's parts, texts and
names, the tariffs' rates, the status bar and the template globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from edge.ratecard import RateCard, offered_rate_cards, session_rate_card
from edge.refusals import REFUSAL_TEXTS, Refused, refusal_text
from edge.screen.pins import PinGuard
from edge.store import AnyClient, LocalSession
from sync.errors import RuleError
from sync.lengths import MAX_COMMENT, MAX_NAME

if TYPE_CHECKING:
    from edge.stand import StandParts

LANGUAGES = ("ru", "en")
EXTENSION = "aquastand_screen"
# Polls that keep the dashboard live; they do not count as a touch unless the page says so.
JSON_ENDPOINTS = ("screen.live", "screen.cards", "screen.tapped_card")

# Domain messages are Russian and name the value typed; other languages get these by code
# (a refusal by the engine, ``Refused``, gets its text from ``edge.refusals``).
ERRORS = {
    "bad_plate": _l("Некорректный номер автомобиля"),
    "plate_format": _l(
        "Номер не похож на российский (частный А123ВС77, такси АВ12377, прицеп АВ123477, "
        "мотоцикл 1234АВ77, транзитный АВ123С77, дипломатический 123CD177 или 123D12377, "
        "полиция А123477). Для иностранного номера отметьте «Иностранный номер»."
    ),
    "bad_phone": _l("Некорректный номер телефона"),
    "bad_amount": _l("Некорректная сумма"),
    "bad_method": _l("Выберите способ оплаты: наличные, карта или перевод"),
    "bad_comment": _l("Введите текст комментария (не длиннее %(n)d символов)", n=MAX_COMMENT),
    "bad_name": _l("Введите имя клиента (не длиннее %(n)d символов)", n=MAX_NAME),
    "bad_card_uid": _l("Некорректный номер карты: нужен UID из 4, 7, 8 или 10 байт"),
    "credential_taken": _l("Этот номер или карта уже принадлежит другому клиенту"),
    "unknown": _l("Клиент не найден"),
    "already_open": _l("У клиента уже идёт сеанс"),
    "not_open": _l("Сеанс не найден или уже завершён"),
    "shift_open": _l("Смена уже открыта"),
    "no_shift": _l("Смена не открыта"),
}
METHOD_NAMES = {"cash": _l("Наличные"), "card": _l("Карта"), "transfer": _l("Перевод")}
KIND_NAMES = {"member": _l("Член клуба"), "guest": _l("Гость")}
DEVICE_STATES = {
    "ok": _l("в порядке"),
    "connecting": _l("подключается"),
    "failed": _l("ошибка"),
    "stopped": _l("остановлен"),
}
END_METHODS = {
    "card": _l("картой"),
    "qr": _l("QR-кодом"),
    "screen": _l("с экрана"),
    "dashboard": _l("с экрана"),
    "auto": _l("автоматически"),
}

bp = Blueprint("screen", __name__)


@dataclass
class ScreenContext:
    parts: StandParts
    state: Callable[[], dict[str, Any]]
    pins: PinGuard


def screen_context() -> ScreenContext:
    context: ScreenContext = current_app.extensions[EXTENSION]
    return context


def stand_parts() -> StandParts:
    return screen_context().parts


def now_s() -> float:
    """Monotonic seconds: a wall clock set after boot must neither lock nor unlock the
    screen (the session also keeps the boot id, so a reboot locks it)."""
    return stand_parts().engine.clock.monotonic_ns() / 1e9


def seen_now() -> list[object]:
    return [stand_parts().engine.clock.boot_id, now_s()]


def clock_text(seconds: int) -> str:
    """Elapsed time as H:MM:SS."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def error_text(error: RuleError) -> str:
    """The message of ``error`` in the screen's language."""
    if str(get_locale()) == "ru":
        return error.message
    if isinstance(error, Refused):
        return refusal_text(gettext(REFUSAL_TEXTS[error.code]), error.params)
    return str(ERRORS[error.code]) if error.code in ERRORS else error.message


def display_name(client: AnyClient | None, plate: str | None) -> str:
    if client is not None and client.name:
        return str(client.name)
    if client is not None and not client.details and client.kind == "member":
        return gettext("Клиент другой площадки") + (f" {plate}" if plate else "")
    return gettext("Гость") + (f" {plate}" if plate else "")


def rate_cards(running: LocalSession | None = None) -> list[RateCard]:
    """The rates of the tariffs a start may take now, or those of the ``running`` session, in
    the screen's language (edge/ratecard.py)."""
    parts = stand_parts()
    now, zone = parts.engine.clock.now(), parts.config.timezone
    if running is not None:
        return [session_rate_card(parts.store, running, now, zone, gettext)]
    return offered_rate_cards(parts.store, now, zone, gettext)


# --- status bar -------------------------------------------------------------------------------


def _age_text(loaded_at: datetime | None) -> str:
    if loaded_at is None:
        return gettext("не загружен")
    minutes = int((stand_parts().engine.clock.now() - loaded_at).total_seconds() // 60)
    if minutes < 1:
        return gettext("только что")
    if minutes < 60:
        return gettext("%(n)d мин назад", n=minutes)
    if minutes < 48 * 60:
        return gettext("%(n)d ч назад", n=minutes // 60)
    return gettext("%(n)d дн назад", n=minutes // (24 * 60))


def status() -> dict[str, Any]:
    """The status bar: connection, directory age, events waiting, devices."""
    state = screen_context().state()
    devices = state["devices"]

    def device(name: str) -> dict[str, str]:
        raw = str(devices.get(name, {}).get("state", "stopped"))
        return {"state": raw, "text": str(DEVICE_STATES.get(raw, raw))}

    outbox = int(state["outbox"])
    return {
        "online": bool(state["online"]),
        "online_text": gettext("на связи") if state["online"] else gettext("нет связи"),
        "directory": _age_text(stand_parts().store.directory_loaded_at()),
        "stale": stand_parts().engine.directory_is_stale(),
        "outbox": outbox,
        "outbox_text": gettext("Событий к отправке: %(n)d", n=outbox),
        "reader": device("reader"),
        "camera": device("camera"),
        # The LED, buzzer and relay: shown only when their GPIO failed (the stand runs on).
        "lights": {
            "state": str(devices.get("lights", {}).get("state", "ok")),
            "error": str(devices.get("lights", {}).get("last_error", "")),
        },
    }


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "status": status,
        "idle_s": stand_parts().config.screen_idle_lock_s,
        "kind_names": KIND_NAMES,
        "method_names": METHOD_NAMES,
        "end_methods": END_METHODS,
        "max_comment": MAX_COMMENT,
    }
