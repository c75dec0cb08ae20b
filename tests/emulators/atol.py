"""ATOL Online, API v5, as its published description tells it: a development tool for the
tests and ``make demo``, never for production.

    emulator = AtolEmulator()
    url = emulator.start()      # http://127.0.0.1:PORT/possystem/v5, in a thread
    emulator.refuse = 1         # the register refuses the next document (report: fail)
    emulator.stop()

or from a shell: ``python -m tests.emulators.atol --port 8010``.

What it serves (``/possystem/v5``):

- ``POST getToken`` ``{"login", "pass"}``: ``{"error": null, "token", "timestamp"}``; wrong
  credentials: error 12 (401).
- ``POST <group_code>/sell`` and ``sell_refund`` with the ``Token`` header: the document is
  checked (error 32 with the fields at fault, 400), queued, and answered
  ``{"uuid", "status": "wait", "error": null, "timestamp"}``. An ``external_id`` seen before in
  the group: error 33 (400) with the uuid of the document already there: it registers once.
  No token: 10 (401); an unknown one: 11 (401); another group: 20 (401).
- ``GET <group_code>/report/<uuid>``: ``status: "wait"`` for the first ``waits`` polls, then
  ``done`` with the fiscal data (``payload``), or ``fail`` with the register's error (type
  ``driver``) for a document the register refused. An unknown uuid: 30 (400).
- Faults on demand: ``down`` (every request 503 without JSON: the service down),
  ``refuse`` (the register refuses the next N documents), ``lose_answers`` (the next N
  documents are registered but their answers lost: 502).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import signal
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

PREFIX = "/possystem/v5"
MOSCOW = ZoneInfo("Europe/Moscow")
FN_NUMBER = "9999078902004321"
OPERATIONS = ("sell", "sell_refund")
PAYMENT_METHODS = (
    "full_prepayment",
    "prepayment",
    "advance",
    "full_payment",
    "partial_payment",
    "credit",
    "credit_payment",
)
VATS = ("none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat105", "vat107", "vat110", "vat120")
SNOS = ("osn", "usn_income", "usn_income_outcome", "esn", "patent")


def _now_text() -> str:
    return datetime.now(UTC).astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M:%S")


def _error(code: int, text: str, http_status: int, **extra: Any) -> Any:
    body = {
        "error": {"error_id": str(uuid.uuid4()), "code": code, "text": text, "type": "system"},
        "timestamp": _now_text(),
        **extra,
    }
    return jsonify(body), http_status


@dataclass
class Document:
    """A document handed over: its request, its fate and the polls so far."""

    uuid: str
    group_code: str
    operation: str
    external_id: str
    body: dict[str, Any]
    refused: bool
    polls: int = 0
    payload: dict[str, Any] | None = None


@dataclass
class AtolEmulator:
    """The service with one user and one group; its state is open to the test driving it."""

    login: str = "aquastand"
    password: str = "aquastand-demo"
    group_code: str = "aquastand-demo"
    waits: int = 1
    refuse: int = 0
    lose_answers: int = 0
    down: bool = False
    documents: dict[str, Document] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- what tests ask ---------------------------------------------------------------------

    def by_external_id(self, external_id: str) -> list[Document]:
        return [d for d in self.documents.values() if d.external_id == external_id]

    @property
    def registered(self) -> list[Document]:
        """The documents the register fiscalised."""
        return [d for d in self.documents.values() if d.payload is not None]

    # --- the service ------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask(__name__)
        app.add_url_rule(f"{PREFIX}/getToken", "token", self._get_token, methods=["POST"])
        app.add_url_rule(
            f"{PREFIX}/<group>/report/<doc_uuid>", "report", self._report, methods=["GET"]
        )
        app.add_url_rule(f"{PREFIX}/<group>/<operation>", "sell", self._sell, methods=["POST"])
        app.before_request(self._before)
        return app

    def _before(self) -> Any:
        self.calls.append(f"{request.method} {request.path.removeprefix(PREFIX)}")
        if self.down:
            return "Service Unavailable", 503
        return None

    def _get_token(self) -> Any:
        body = request.get_json(silent=True) or {}
        if body.get("login") != self.login or body.get("pass") != self.password:
            return _error(12, "Неверный логин или пароль", 401, token="")
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return jsonify({"error": None, "token": token, "timestamp": _now_text()})

    def _authorised(self, group: str) -> Any:
        token = request.headers.get("Token", "")
        if not token:
            return _error(10, "Не распознан токен запроса", 401)
        if token not in self.tokens:
            return _error(11, "Переданный токен не активен", 401)
        if group != self.group_code:
            return _error(20, "Код группы, указанный в запросе, не соответствует токену.", 401)
        return None

    def _sell(self, group: str, operation: str) -> Any:
        refusal = self._authorised(group)
        if refusal is not None:
            return refusal
        if operation not in OPERATIONS:
            return _error(31, f'Операция "{operation}" не поддерживается.', 400)
        body = request.get_json(silent=True)
        faults = invalid_fields(body)
        if faults:
            text = "Ошибка валидации входного чека. Ошибочные поля : " + ", ".join(faults)
            return _error(32, text, 400, status="fail")
        assert isinstance(body, dict)
        with self._lock:
            existing = [
                d
                for d in self.documents.values()
                if d.group_code == group and d.external_id == body["external_id"]
            ]
            if existing:
                text = (
                    f"В системе существует чек с external_id : {body['external_id']} "
                    f"и group_code: {group}"
                )
                return _error(33, text, 400, uuid=existing[0].uuid, status="wait")
            document = Document(
                str(uuid.uuid4()), group, operation, body["external_id"], body, self.refuse > 0
            )
            self.refuse = max(self.refuse - 1, 0)
            self.documents[document.uuid] = document
            if self.lose_answers > 0:
                self.lose_answers -= 1
                return "Bad Gateway", 502
        return jsonify(
            {"uuid": document.uuid, "status": "wait", "error": None, "timestamp": _now_text()}
        )

    def _report(self, group: str, doc_uuid: str) -> Any:
        refusal = self._authorised(group)
        if refusal is not None:
            return refusal
        with self._lock:
            document = self.documents.get(doc_uuid)
            if document is None or document.group_code != group:
                return _error(30, f'Передан некорректный UUID : "{doc_uuid}".', 400, status="fail")
            document.polls += 1
            answer: dict[str, Any] = {
                "uuid": document.uuid,
                "error": None,
                "status": "wait",
                "payload": None,
                "timestamp": _now_text(),
                "group_code": group,
                "daemon_code": "emulator-1",
                "device_code": "EMULATOR-1",
                "external_id": document.external_id,
                "callback_url": "",
            }
            if document.polls <= self.waits:
                return jsonify(answer)
            if document.refused:
                answer["status"] = "fail"
                answer["error"] = {
                    "error_id": str(uuid.uuid4()),
                    "code": 244,
                    "text": "Ошибка ККТ: чек отклонён кассой",
                    "type": "driver",
                }
                return jsonify(answer)
            if document.payload is None:
                document.payload = self._fiscalise(document)
            answer["status"] = "done"
            answer["payload"] = document.payload
            return jsonify(answer)

    def _fiscalise(self, document: Document) -> dict[str, Any]:
        number = next(self._numbers)
        sign = int(hashlib.sha256(document.uuid.encode()).hexdigest()[:8], 16)
        return {
            "total": document.body["receipt"]["total"],
            "fns_site": "www.nalog.gov.ru",
            "fn_number": FN_NUMBER,
            "shift_number": 1,
            "receipt_datetime": _now_text(),
            "fiscal_receipt_number": number,
            "fiscal_document_number": number,
            "ecr_registration_number": "0000000001012345",
            "fiscal_document_attribute": sign,
            "ofd_inn": "7704211201",
        }

    # --- running it -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a thread; the API's base URL."""
        self._server = make_server(host, port, self.app(), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"http://{host}:{self._server.server_port}{PREFIX}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def invalid_fields(body: Any) -> list[str]:
    """The fields of a sell request the API's description would refuse."""
    if not isinstance(body, dict):
        return ["body"]
    faults = [name for name in ("external_id", "timestamp") if not body.get(name)]
    receipt = body.get("receipt")
    if not isinstance(receipt, dict):
        return [*faults, "receipt"]
    client = receipt.get("client") or {}
    if not (client.get("email") or client.get("phone")):
        faults.append("receipt.client")
    company = receipt.get("company") or {}
    for name in ("email", "inn", "payment_address"):
        if not company.get(name):
            faults.append(f"receipt.company.{name}")
    if company.get("sno") not in SNOS:
        faults.append("receipt.company.sno")
    faults += _item_faults(receipt.get("items"))
    items_sum = sum(item.get("sum", 0) for item in receipt.get("items") or [])
    payments = receipt.get("payments") or []
    paid = sum(payment.get("sum", 0) for payment in payments)
    if not payments or any(payment.get("type") not in range(10) for payment in payments):
        faults.append("receipt.payments")
    total = receipt.get("total")
    if not isinstance(total, int | float) or round(total - items_sum, 2) or round(total - paid, 2):
        faults.append("receipt.total")
    return faults


def _item_faults(items: Any) -> list[str]:
    if not isinstance(items, list) or not items:
        return ["receipt.items"]
    faults = []
    for index, item in enumerate(items):
        where = f"receipt.items[{index}]"
        if not item.get("name") or len(item["name"]) > 128:
            faults.append(f"{where}.name")
        if item.get("payment_method") not in PAYMENT_METHODS:
            faults.append(f"{where}.payment_method")
        if item.get("payment_object") not in range(1, 34):
            faults.append(f"{where}.payment_object")
        if (item.get("vat") or {}).get("type") not in VATS:
            faults.append(f"{where}.vat")
        price, quantity = item.get("price", -1), item.get("quantity", 0)
        if price < 0 or round(price * quantity - item.get("sum", -1), 2):
            faults.append(f"{where}.sum")
    return faults


def main() -> None:
    parser = argparse.ArgumentParser(description="ATOL Online API v5 emulator (development)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--login", default="aquastand")
    parser.add_argument("--password", default="aquastand-demo")
    parser.add_argument("--group", default="aquastand-demo")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the demo
    emulator = AtolEmulator(login=args.login, password=args.password, group_code=args.group)
    server = make_server(args.host, args.port, emulator.app(), threaded=True)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: server.shutdown())
    print(
        f"ATOL Online v5 emulator: http://{args.host}:{server.server_port}{PREFIX} "
        f"(login {args.login}, group {args.group})",
        flush=True,
    )
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        thread.join()


if __name__ == "__main__":
    main()
