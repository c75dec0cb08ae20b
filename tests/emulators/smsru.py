"""A local server that answers ``POST /sms/send`` as SMS.ru documents it (``json=1``).

What it checks, with SMS.ru's codes: the method (210 for GET), ``api_id`` (200), the text
(203 none, 205 longer than 8 SMS), the balance (201), each number (202: not a Russian mobile
number), the same text to the same number within a minute (231). ``outage`` makes it answer
code 220 (service temporarily unavailable) or an HTTP error. Accepted messages are kept in
``sent`` for the test to read.

Run it for a demo: ``python -m tests.emulators.smsru --port 8025 --api-id demo``."""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

PRICE_PER_PART = 2.5  # roubles
CYRILLIC_PART, LATIN_PART = 67, 153  # characters per part of a multi-part message


@dataclass
class SmsRuState:
    api_id: str = "test-api-id"
    balance: float = 100.0
    outage: int | None = None  # an SMS.ru code (220) or an HTTP status (>= 400) for every request
    sent: list[dict[str, str]] = field(default_factory=list)
    last_sent: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _parts(text: str) -> int:
    per_part = LATIN_PART if text.isascii() else CYRILLIC_PART
    return max(1, -(-len(text) // per_part))


def _error(code: int, text: str) -> Any:
    return jsonify({"status": "ERROR", "status_code": code, "status_text": text})


def _one_number(state: SmsRuState, number: str, text: str, sender: str) -> dict[str, Any]:
    if not (len(number) == 11 and number.startswith("79") and number.isdigit()):
        return {"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан номер"}
    now = time.monotonic()
    if now - state.last_sent.get((number, text), -1e9) < 60:
        return {"status": "ERROR", "status_code": 231, "status_text": "Превышен лимит одинаковых"}
    state.last_sent[(number, text)] = now
    state.balance -= PRICE_PER_PART * _parts(text)
    state.sent.append({"to": number, "msg": text, "from": sender})
    return {"status": "OK", "status_code": 100, "sms_id": f"{len(state.sent):06d}-{number[-4:]}"}


def create_app(state: SmsRuState) -> Flask:
    app = Flask(__name__)

    @app.route("/sms/send", methods=["GET", "POST"])
    def send() -> Any:
        with state.lock:
            if state.outage is not None:
                if state.outage >= 400:
                    return "Service Unavailable", state.outage
                return _error(state.outage, "Сервис временно недоступен")
            if request.method != "POST":
                return _error(210, "Используется GET, где необходимо использовать POST")
            form = request.form
            if form.get("api_id") != state.api_id:
                return _error(200, "Неправильный api_id")
            text = form.get("msg", "")
            if not text:
                return _error(203, "Нет текста сообщения")
            if _parts(text) > 8:
                return _error(205, "Сообщение слишком длинное")
            numbers = [n for n in form.get("to", "").split(",") if n]
            if state.balance < PRICE_PER_PART * _parts(text) * max(1, len(numbers)):
                return _error(201, "Не хватает средств на лицевом счету")
            results = {n: _one_number(state, n, text, form.get("from", "")) for n in numbers}
            return jsonify(
                {"status": "OK", "status_code": 100, "sms": results, "balance": state.balance}
            )

    return app


class SmsRuEmulator:
    """The emulator on 127.0.0.1 in a thread; ``url`` is its sms/send address."""

    def __init__(self, state: SmsRuState | None = None, port: int = 0) -> None:
        self.state = state or SmsRuState()
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, create_app(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SmsRuEmulator:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--api-id", default="demo")
    args = parser.parse_args()
    make_server("127.0.0.1", args.port, create_app(SmsRuState(api_id=args.api_id))).serve_forever()


if __name__ == "__main__":
    main()
