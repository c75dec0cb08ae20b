"""The file SMS backend: one JSON line per message, readable by the demo and the tests."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cloud.config import CloudConfig
from cloud.notify.sms import FileSmsSender, SmsError, sms_file_path, sms_sender


def test_each_message_is_one_json_line_in_the_data_directory(tmp_path: Path) -> None:
    config = CloudConfig(data_dir=tmp_path)
    sender = sms_sender(config)
    sender.send("+79001234567", "Код: 123456")
    sender.send("+79007654321", "Код: 654321\nвторая строка")
    lines = sms_file_path(config).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"phone": "+79001234567", "text": "Код: 123456"},
        {"phone": "+79007654321", "text": "Код: 654321\nвторая строка"},
    ]
    assert sms_file_path(config) == tmp_path / "sms-outbox.jsonl"
    assert sms_file_path(config).stat().st_mode & 0o077 == 0


def test_lines_from_threads_never_interleave(tmp_path: Path) -> None:
    sender = FileSmsSender(tmp_path / "out.jsonl")
    threads = [
        threading.Thread(
            target=lambda n=n: [sender.send(f"+7900{n:07d}", "x" * 5000) for _ in range(20)]
        )
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 160
    assert all(json.loads(line)["text"] == "x" * 5000 for line in lines)


def test_an_unknown_backend_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SmsError, match="carrier-pigeon"):
        sms_sender(CloudConfig(data_dir=tmp_path, sms_backend="carrier-pigeon"))
