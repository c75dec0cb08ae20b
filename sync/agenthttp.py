"""The sync agent's HTTP details (sync/agent.py): enrolment, the central service's error
bodies, and the replies' fields the agent reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from sync.errors import RuleError

API_PREFIX = "/sync/v1"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0


class CentralUnreachable(Exception):
    """The central service could not be reached or gave no usable answer."""


@dataclass(frozen=True)
class Enrolment:
    stand_id: int
    site_id: int
    token: str


def api_url(central_url: str, path: str) -> str:
    return central_url.rstrip("/") + API_PREFIX + path


def error_message(response: requests.Response) -> str:
    try:
        body = response.json()
        message = body["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return f"HTTP {response.status_code}"


def enrol(central_url: str, code: str, timeout_s: float = READ_TIMEOUT_S) -> Enrolment:
    """Exchange a one-time enrolment code for the stand's token. RuleError with the central
    service's reason when it refuses the code; CentralUnreachable when there is no answer."""
    try:
        response = requests.post(
            api_url(central_url, "/enrol"),
            json={"code": code},
            timeout=(CONNECT_TIMEOUT_S, timeout_s),
        )
    except requests.RequestException as error:
        raise CentralUnreachable(f"{central_url}: {error}") from error
    if response.status_code != 200:
        if response.status_code >= 500:
            raise CentralUnreachable(f"{central_url}: HTTP {response.status_code}")
        raise RuleError(error_message(response), "enrol_refused")
    try:
        body = response.json()
        stand_id, site_id, token = body["stand_id"], body["site_id"], body["token"]
    except (ValueError, KeyError, TypeError) as error:
        raise CentralUnreachable(f"{central_url}: not an enrolment reply") from error
    if not (isinstance(stand_id, int) and isinstance(site_id, int) and isinstance(token, str)):
        raise CentralUnreachable(f"{central_url}: not an enrolment reply")
    return Enrolment(stand_id, site_id, token)


def with_device_faults(alarm: str, health: Mapping[str, Any]) -> str:
    """The agent's alarm, and a device the stand runs without (its GPIO lights), so that the
    stands page shows it: the stand keeps running rather than restarting into it."""
    lights = health.get("lights", {})
    if not isinstance(lights, Mapping) or lights.get("state") != "failed":
        return alarm
    fault = f"Свет и звук поста не работают: {lights.get('last_error', '')}"
    return "; ".join(part for part in (alarm, fault) if part)[:500]


def expected_seq(refused: object) -> int | None:
    """The seq a ``gap`` refusal says the central service waits for."""
    if not isinstance(refused, dict) or refused.get("code") != "gap":
        return None
    expected = refused.get("expected_seq")
    return expected if isinstance(expected, int) and not isinstance(expected, bool) else None


def error_message_of(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return "no reason given"
