"""The QR signing keys and the refusal check both QR token test modules use."""

from __future__ import annotations

from typing import Any

import pytest

from sync.errors import RuleError
from sync.qrtoken import generate_private_key_pem, public_key_pem, verify


@pytest.fixture(scope="module")
def private_pem() -> bytes:
    return generate_private_key_pem()


@pytest.fixture(scope="module")
def public_pem(private_pem: bytes) -> bytes:
    return public_key_pem(private_pem)


def assert_bad_qr(public_pem: bytes, token: Any) -> None:
    """``token`` is refused as an invalid QR code, with the message a person sees."""
    with pytest.raises(RuleError) as info:
        verify(public_pem, token)
    assert info.value.code == "bad_qr"
    assert info.value.message == "QR-код недействителен"
