"""SMS through one interface, with the backend chosen in configuration (``sms_backend``).

``file`` appends each message as one JSON line ``{"phone": "+7…", "text": "…"}`` to
``sms_file`` (default ``sms-outbox.jsonl`` in the data directory): the demo and the tests read
the codes from there. Real providers implement the same ``send``."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

from cloud.config import CloudConfig


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


def sms_file_path(config: CloudConfig) -> Path:
    return Path(config.sms_file) if config.sms_file else config.data_dir / "sms-outbox.jsonl"


def sms_sender(config: CloudConfig) -> SmsSender:
    """The backend ``config.sms_backend`` names."""
    if config.sms_backend == "file":
        return FileSmsSender(sms_file_path(config))
    raise SmsError(f"unknown sms_backend {config.sms_backend!r}")
