"""SMS through one interface, with the backend chosen in configuration (``sms_backend``).

``file`` appends each message as one JSON line ``{"phone": "+7…", "text": "…"}`` to
``sms_file`` (default ``sms-outbox.jsonl`` in the data directory): the demo and the tests read
the codes from there. ``smsru`` sends through SMS.ru's HTTP API (``SmsRuSender`` below)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import requests

from cloud.config import CloudConfig

DEFAULT_SMSRU_URL = "https://sms.ru/sms/send"


class SmsError(Exception):
    """A message was not accepted for delivery; the text says why (never the message itself)."""


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Hand one message to the backend; raise ``SmsError`` if it was not accepted."""


class FileSmsSender:
    """Appends one JSON line per message; one lock so lines from threads never interleave."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, phone: str, text: str) -> None:
        line = json.dumps({"phone": phone, "text": text}, ensure_ascii=False) + "\n"
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as outbox:
                outbox.write(line)


# --- SMS.ru ----------------------------------------------------------------------------------
# SMS through SMS.ru's HTTP API (``POST https://sms.ru/sms/send`` with ``json=1``).
#
# The request: ``api_id`` (the account's key), ``to`` (the number, digits only), ``msg``
# (UTF-8 text), optionally ``from`` (a sender name the provider approved), ``json=1``. The
# answer: ``{"status": "OK"|"ERROR", "status_code": N, "sms": {"<number>": {"status",
# "status_code", "sms_id"|"status_text"}}, "balance": …}``; a message is accepted only when the
# request and its number both say ``OK`` (code 100). Every other code becomes an ``SmsError``
# naming the code and its meaning from SMS.ru's list; the message text and the key never
# appear in it (the text holds a log-in code).

ACCEPTED = 100
# SMS.ru's documented codes of sms/send (the answers a sender can meet).
REFUSALS = {
    200: "неправильный api_id",
    201: "не хватает средств на лицевом счёте",
    202: "неправильно указан номер телефона получателя, либо на него нет маршрута",
    203: "нет текста сообщения",
    204: "имя отправителя не согласовано с администрацией",
    205: "сообщение слишком длинное (превышает 8 СМС)",
    206: "превышен дневной лимит на отправку сообщений",
    207: "на этот номер нет маршрута для доставки сообщений",
    208: "параметр time указан неправильно",
    209: "номер в стоп-листе",
    210: "используется GET, где необходимо использовать POST",
    211: "метод не найден",
    212: "текст сообщения необходимо передать в кодировке UTF-8",
    213: "указано более 100 номеров в списке получателей",
    220: "сервис временно недоступен, попробуйте чуть позже",
    230: "превышен общий лимит количества сообщений на этот номер в день",
    231: "превышен лимит одинаковых сообщений на этот номер в минуту",
    232: "превышен лимит одинаковых сообщений на этот номер в день",
    233: "превышен лимит отправки повторных сообщений с кодом на этот номер",
    300: "неправильный token (возможно, истёк срок действия или изменился IP)",
    301: "неправильный api_id, либо логин/пароль",
    302: "пользователь авторизован, но аккаунт не подтверждён",
    500: "ошибка на сервере SMS.ru, повторите запрос",
}


def _refusal(code: object) -> SmsError:
    meaning = REFUSALS.get(code, "неизвестный код") if isinstance(code, int) else "нет кода"
    return SmsError(f"SMS.ru: {code} — {meaning}")


class SmsRuSender:
    """One POST per message; the session keeps the connection for the next code."""

    def __init__(
        self, api_id: str, url: str = DEFAULT_SMSRU_URL, sender: str = "", timeout: float = 10.0
    ) -> None:
        if not api_id:
            raise SmsError("SMS.ru: задайте sms_api_key (api_id из личного кабинета)")
        self.api_id, self.url, self.sender, self.timeout = api_id, url, sender, timeout
        self.http = requests.Session()

    def send(self, phone: str, text: str) -> None:
        number = "".join(ch for ch in phone if ch.isdigit())
        form = {"api_id": self.api_id, "to": number, "msg": text, "json": "1"}
        if self.sender:
            form["from"] = self.sender
        answer = self._post(form)
        if answer.get("status") != "OK" or answer.get("status_code") != ACCEPTED:
            raise _refusal(answer.get("status_code"))
        result = (answer.get("sms") or {}).get(number)
        if not isinstance(result, dict):
            raise SmsError("SMS.ru: в ответе нет этого номера")
        if result.get("status") != "OK" or result.get("status_code") != ACCEPTED:
            raise _refusal(result.get("status_code"))

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = self.http.post(self.url, data=form, timeout=self.timeout)
        except requests.RequestException as error:
            raise SmsError(f"SMS.ru недоступен: {type(error).__name__}") from None
        if response.status_code != 200:
            raise SmsError(f"SMS.ru ответил HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise SmsError("SMS.ru ответил не JSON") from None
        if not isinstance(answer, dict):
            raise SmsError("SMS.ru ответил не объектом JSON")
        return answer


def sms_file_path(config: CloudConfig) -> Path:
    return Path(config.sms_file) if config.sms_file else config.data_dir / "sms-outbox.jsonl"


def sms_sender(config: CloudConfig) -> SmsSender:
    """The backend ``config.sms_backend`` names."""
    if config.sms_backend == "file":
        return FileSmsSender(sms_file_path(config))
    if config.sms_backend == "smsru":
        return SmsRuSender(
            config.sms_api_key, config.sms_api_url or DEFAULT_SMSRU_URL, config.sms_sender_name
        )
    raise SmsError(f"unknown sms_backend {config.sms_backend!r}")
