"""The SMS.ru backend over real HTTP against a local server that answers as SMS.ru documents:
an accepted message, and each refusal a sender meets turned into an ``SmsError`` that names
the code and never the key or the text (which holds a log-in code)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.config import CloudConfig
from cloud.notify.sms import SmsError, SmsRuSender, sms_sender
from tests.emulators.smsru import SmsRuEmulator, SmsRuState

KEY = "5A2B-secret-api-id"
CODE_TEXT = "Аквастенд: код для входа 482913"


@pytest.fixture
def smsru() -> Iterator[SmsRuEmulator]:
    with SmsRuEmulator(SmsRuState(api_id=KEY)) as emulator:
        yield emulator


def test_a_message_is_posted_with_the_number_as_digits_and_the_text_in_utf8(
    smsru: SmsRuEmulator, tmp_path: Path
) -> None:
    config = CloudConfig(data_dir=tmp_path, sms_backend="smsru", sms_api_key=KEY)
    config.sms_api_url, config.sms_sender_name = smsru.url, "AQUASTAND"
    sender = sms_sender(config)
    assert isinstance(sender, SmsRuSender)

    sender.send("+7 (900) 123-45-67", CODE_TEXT)

    assert smsru.state.sent == [{"to": "79001234567", "msg": CODE_TEXT, "from": "AQUASTAND"}]


@pytest.mark.parametrize(
    ("change", "phone", "text", "code"),
    [
        ({"api_id": "another-key"}, "+79001234567", CODE_TEXT, 200),
        ({"balance": 1.0}, "+79001234567", CODE_TEXT, 201),
        ({}, "+74951234567", CODE_TEXT, 202),  # a landline: no route for SMS
        ({}, "+79001234567", "", 203),
        ({}, "+79001234567", "я" * 600, 205),
        ({"outage": 220}, "+79001234567", CODE_TEXT, 220),
    ],
)
def test_each_documented_refusal_is_an_error_naming_its_code_not_the_secrets(
    smsru: SmsRuEmulator, change: dict[str, object], phone: str, text: str, code: int
) -> None:
    for name, value in change.items():
        setattr(smsru.state, name, value)
    with pytest.raises(SmsError) as refused:
        SmsRuSender(KEY, smsru.url).send(phone, text)
    message = str(refused.value)
    assert f"SMS.ru: {code} — " in message
    assert KEY not in message and "482913" not in message
    assert smsru.state.sent == []


def test_the_same_code_twice_within_a_minute_is_refused_by_the_provider(
    smsru: SmsRuEmulator,
) -> None:
    sender = SmsRuSender(KEY, smsru.url)
    sender.send("+79001234567", CODE_TEXT)
    with pytest.raises(SmsError, match="231"):
        sender.send("+79001234567", CODE_TEXT)
    assert len(smsru.state.sent) == 1


def test_an_http_error_and_a_provider_that_is_down_are_errors_too(smsru: SmsRuEmulator) -> None:
    smsru.state.outage = 503
    with pytest.raises(SmsError, match="HTTP 503"):
        SmsRuSender(KEY, smsru.url).send("+79001234567", CODE_TEXT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(SmsError, match="недоступен"):
        SmsRuSender(KEY, f"http://127.0.0.1:{closed}/sms/send", timeout=2).send(
            "+79001234567", CODE_TEXT
        )


def test_without_a_key_the_backend_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(SmsError, match="sms_api_key"):
        sms_sender(CloudConfig(data_dir=tmp_path, sms_backend="smsru"))
