"""ATOL Online, API v5 (FFD 1.2), through ``requests``: ``getToken``, ``sell`` and
``sell_refund`` (``<url>/<group_code>/<operation>``), ``report/<uuid>``.

The token (24 hours) is asked for once per provider and again when the service answers
10 (no token) or 11 (expired). The answers' error codes, as the API's description lists them:

- 12 wrong login or password, 14 user blocked, 20 group does not match the token, 21 group
  not on this protocol: the set-up is wrong (``ProviderSetupError``);
- 1, 13, 31, 32, 40, 41: the receipt is refused, nothing registered (``ReceiptRefused``);
- 33: a document with this external id exists already: its uuid is in the answer, and it is
  ours (sent before, the answer lost), so it counts as accepted;
- 30 (no such uuid) in a report: nothing registered under it, as refused;
- 34 in a report, or status ``wait``: not processed yet; 50 and any 5xx: try again later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from cloud.fiscal.provider import (
    FiscalData,
    ProviderSetupError,
    ProviderUnavailable,
    ReceiptDocument,
    ReceiptItem,
    ReceiptRefused,
    Report,
)
from cloud.fiscal.settings import FiscalSettings

TIMEOUT = (5, 30)  # connect, read (seconds)
TIME_FORMAT = "%d.%m.%Y %H:%M:%S"  # the API's dd.mm.yyyy HH:MM:SS
SETUP_ERRORS = {12, 14, 20, 21}
REFUSALS = {1, 13, 31, 32, 40, 41}
TOKEN_ERRORS = {10, 11}
EXISTS = 33
NO_SUCH_UUID = 30
NOT_YET = 34


def roubles(kopecks: int) -> float:
    """Kopecks as the API's roubles number (exact: a float prints its shortest form)."""
    return kopecks / 100


def atol_body(document: ReceiptDocument, settings: FiscalSettings) -> dict[str, Any]:
    """The ``sell``/``sell_refund`` request body of ``document``."""
    total = roubles(document.amount_kopecks)
    contact = document.contact or settings.email
    client = {"phone": contact} if contact.startswith("+") else {"email": contact}
    return {
        "external_id": document.external_id,
        "timestamp": document.at.strftime(TIME_FORMAT),
        "receipt": {
            "client": client,
            "company": {
                "email": settings.email,
                "sno": settings.sno,
                "inn": settings.inn,
                "payment_address": settings.payment_address,
            },
            "items": [_item(item) for item in document.items],
            "payments": [
                {"type": payment.type, "sum": roubles(payment.amount_kopecks)}
                for payment in document.payments
            ],
            "total": total,
        },
    }


def _item(item: ReceiptItem) -> dict[str, Any]:
    amount = roubles(item.amount_kopecks)
    return {
        "name": item.name,
        "price": amount,
        "quantity": 1.0,
        "measure": 0,
        "sum": amount,
        "payment_method": item.payment_method,
        "payment_object": item.payment_object,
        "vat": {"type": item.vat},
    }


class AtolProvider:
    """``FiscalProvider`` for ATOL Online v5 at ``settings.atol_url``."""

    def __init__(self, settings: FiscalSettings, session: requests.Session | None = None):
        self.settings = settings
        self.base = settings.atol_url.rstrip("/")
        self.http = session or requests.Session()
        self.token = ""

    # --- the operations ---------------------------------------------------------------------

    def register(self, document: ReceiptDocument) -> str:
        url = f"{self.base}/{self.settings.atol_group_code}/{document.operation}"
        answer = self._with_token("POST", url, atol_body(document, self.settings))
        error = answer.get("error")
        if error is None or _code(error) == EXISTS:
            uuid = answer.get("uuid")
            if not uuid:
                raise ProviderUnavailable("ATOL: an answer without the document's uuid")
            return str(uuid)
        raise _failure(error)

    def report(self, provider_uuid: str) -> Report:
        url = f"{self.base}/{self.settings.atol_group_code}/report/{provider_uuid}"
        answer = self._with_token("GET", url, None)
        error = answer.get("error")
        status = answer.get("status")
        if status == "done":
            return Report("done", fiscal=self._fiscal(answer.get("payload") or {}))
        if error is not None and _code(error) == NO_SUCH_UUID:
            return Report("fail", error=_text(error))
        if status == "fail":
            return Report("fail", error=_text(error) if error else "ATOL: fail")
        if status == "wait" or (error is not None and _code(error) == NOT_YET):
            return Report("wait")
        if error is not None:
            raise _failure(error)
        raise ProviderUnavailable(f"ATOL: an unknown status {status!r}")

    # --- HTTP ------------------------------------------------------------------------------

    def _with_token(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """The answer to the request with a token; a new token once if it was refused."""
        if not self.token:
            self._get_token()
        answer = self._call(method, url, body, {"Token": self.token})
        error = answer.get("error")
        if error is not None and _code(error) in TOKEN_ERRORS:
            self._get_token()
            answer = self._call(method, url, body, {"Token": self.token})
        return answer

    def _get_token(self) -> None:
        body = {"login": self.settings.atol_login, "pass": self.settings.atol_password}
        answer = self._call("POST", f"{self.base}/getToken", body, {})
        error = answer.get("error")
        if error is not None or not answer.get("token"):
            raise ProviderSetupError(f"ATOL getToken: {_text(error) if error else 'no token'}")
        self.token = str(answer["token"])

    def _call(
        self, method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> dict[str, Any]:
        """The JSON answer (an error answer too: the API puts its codes in the body)."""
        try:
            response = self.http.request(
                method,
                url,
                json=body,
                headers={**headers, "Accept": "application/json"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as error:
            raise ProviderUnavailable(f"ATOL unreachable: {error}") from error
        if response.status_code >= 500:
            raise ProviderUnavailable(f"ATOL answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as error:
            raise ProviderUnavailable(
                f"ATOL answered {response.status_code} without JSON"
            ) from error
        if not isinstance(answer, dict):
            raise ProviderUnavailable("ATOL answered JSON that is not an object")
        return answer

    def _fiscal(self, payload: dict[str, Any]) -> FiscalData:
        try:
            moment = _moment(str(payload["receipt_datetime"]), ZoneInfo(self.settings.timezone))
            return FiscalData(
                fiscal_document_number=int(payload["fiscal_document_number"]),
                fiscal_sign=int(payload["fiscal_document_attribute"]),
                fn_number=str(payload["fn_number"]),
                registered_at=moment,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderUnavailable(
                f"ATOL: a done report without fiscal data ({error})"
            ) from error


def _moment(text: str, zone: ZoneInfo) -> datetime:
    """A report's time (the register's local time): dd.mm.yyyy HH:MM:SS, or without seconds."""
    for layout in (TIME_FORMAT, "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=zone)
        except ValueError:
            continue
    raise ValueError(f"receipt_datetime {text!r}")


def _code(error: Any) -> int | None:
    try:
        return int(error.get("code"))
    except (AttributeError, TypeError, ValueError):
        return None


def _text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    return f"[{error.get('code')}] {error.get('text', '')}".strip()[:500]


def _failure(error: Any) -> Exception:
    """The exception an error answer means."""
    code = _code(error)
    if code in SETUP_ERRORS or code in TOKEN_ERRORS:
        return ProviderSetupError(f"ATOL: {_text(error)}")
    if code in REFUSALS:
        return ReceiptRefused(f"ATOL: {_text(error)}")
    return ProviderUnavailable(f"ATOL: {_text(error)}")
