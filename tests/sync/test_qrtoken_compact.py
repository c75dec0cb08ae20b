"""The compact ("AQ2:") QR token: QR version <= 6 at level M in alphanumeric mode, the same
claims and signature key as the long form, which stands still accept, and tampering refused."""

import base64
import random
import string
from typing import Any

import pytest
import segno
from cryptography.hazmat.primitives import serialization

from sync.errors import RuleError
from sync.qrtoken import (
    COMPACT_PREFIX,
    QrClaims,
    generate_private_key_pem,
    new_claims,
    public_key_pem,
    sign,
    sign_v1,
    verify,
)
from tests.sync.conftest import assert_bad_qr

# What a real token carries: a uuid4 token id, a client id of a few thousands, issued now.
REAL = QrClaims(
    token_id="9f1c2e4d6b8a40c2a1e3f5d7b9c0e2f4", client_id=18_342, issued_at=1_796_000_000
)
ALPHANUMERIC = string.digits + string.ascii_uppercase + " $%*+-./:"


@pytest.fixture(scope="module")
def token(private_pem: bytes) -> str:
    return sign(private_pem, REAL)


def qr_version(text: str) -> int:
    """The version of the smallest QR code holding ``text`` at level M (no boosted level)."""
    return segno.make_qr(text, error="m", boost_error=False).version  # type: ignore[no-any-return]


def signed_body(private_pem: bytes, body: bytes) -> str:
    """A correctly signed compact token around arbitrary body bytes (tests the claim checks)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    signature = key.sign(COMPACT_PREFIX.encode() + body)  # type: ignore[call-arg, union-attr]
    return COMPACT_PREFIX + base64.b32encode(body + signature).decode().rstrip("=")


def test_a_real_compact_token_fits_version_6_at_level_m_in_alphanumeric_mode(token: str) -> None:
    assert token.startswith("AQ2:")
    assert set(token) <= set(ALPHANUMERIC)
    code = segno.make_qr(token, error="m", boost_error=False)
    assert code.mode == "alphanumeric"
    assert code.version <= 6
    assert len(token) == 144


def test_a_real_long_token_needs_version_9_and_is_still_accepted(
    private_pem: bytes, public_pem: bytes
) -> None:
    old = sign_v1(private_pem, REAL)
    assert old.startswith("AQ1.")
    assert qr_version(old) == 9
    assert verify(public_pem, old) == REAL


def test_both_forms_carry_the_same_claims(private_pem: bytes, public_pem: bytes) -> None:
    rng = random.Random(18)
    for _ in range(50):
        claims = new_claims(rng.randrange(1, 2**63), rng.randrange(0, 2**40))
        assert verify(public_pem, sign(private_pem, claims)) == claims
        assert verify(public_pem, sign_v1(private_pem, claims)) == claims


@pytest.mark.parametrize(
    ("client_id", "issued_at"), [(1, 0), (2**64 - 1, 2**40 - 1), (255, 2**32), (256, 1)]
)
def test_the_largest_claims_still_fit_version_6(
    private_pem: bytes, public_pem: bytes, client_id: int, issued_at: int
) -> None:
    claims = new_claims(client_id, issued_at)
    token = sign(private_pem, claims)
    assert qr_version(token) <= 6
    assert verify(public_pem, token) == claims


@pytest.mark.parametrize(("client_id", "issued_at"), [(2**64, 0), (1, 2**40)])
def test_claims_beyond_the_compact_fields_are_refused_at_signing(
    private_pem: bytes, client_id: int, issued_at: int
) -> None:
    with pytest.raises(RuleError) as info:
        sign(private_pem, new_claims(client_id, issued_at))
    assert info.value.code == "bad_qr_claims"


def test_signing_is_deterministic(private_pem: bytes, token: str) -> None:
    assert sign(private_pem, REAL) == token


def test_a_token_signed_by_another_key_is_refused(public_pem: bytes) -> None:
    other = generate_private_key_pem()
    forged = sign(other, REAL)
    assert verify(public_key_pem(other), forged) == REAL
    assert_bad_qr(public_pem, forged)


def test_every_single_character_change_is_refused(public_pem: bytes, token: str) -> None:
    for position, original in enumerate(token):
        for replacement in "A", "Z", "2", "7", "0", "a", ":", ".":
            if replacement != original:
                assert_bad_qr(public_pem, token[:position] + replacement + token[position + 1 :])


def test_every_truncation_is_refused(public_pem: bytes, token: str) -> None:
    for length in range(len(token)):
        assert_bad_qr(public_pem, token[:length])
        assert_bad_qr(public_pem, token[len(token) - length :])


def test_a_changed_claim_under_the_old_signature_is_refused(
    private_pem: bytes, public_pem: bytes, token: str
) -> None:
    data = base64.b32decode(token[4:] + "=" * (-len(token[4:]) % 8))
    body, signature = data[:-64], data[-64:]
    other_client = body[:-2] + (18_343).to_bytes(2, "big")
    tampered = base64.b32encode(other_client + signature).decode().rstrip("=")
    assert_bad_qr(public_pem, COMPACT_PREFIX + tampered)


def test_a_long_form_signature_does_not_verify_a_compact_body(
    private_pem: bytes, public_pem: bytes, token: str
) -> None:
    """The two forms sign different bytes, so one form's signature cannot be moved to the other."""
    old_signature = base64.urlsafe_b64decode(sign_v1(private_pem, REAL).split(".")[2] + "==")
    data = base64.b32decode(token[4:] + "=" * (-len(token[4:]) % 8))
    moved = base64.b32encode(data[:-64] + old_signature).decode().rstrip("=")
    assert_bad_qr(public_pem, COMPACT_PREFIX + moved)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: "AQ2:",
        lambda t: t.lower(),
        lambda t: t.replace("AQ2:", "AQ2.", 1),
        lambda t: t.replace("AQ2:", "AQ1.", 1),
        lambda t: t + "=",
        lambda t: t + "A",  # an impossible length
        lambda t: t + "AA",
        lambda t: t[:-1] + ("B" if t[-1] == "A" else "A"),  # a non-canonical last character
        lambda t: t[:20] + " " + t[21:],
        lambda t: t + "A" * 600,
    ],
)
def test_malformed_compact_tokens_are_refused(public_pem: bytes, token: str, make: Any) -> None:
    assert_bad_qr(public_pem, make(token))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        bytes(21),  # no client id
        bytes.fromhex(REAL.token_id) + bytes(5) + b"\x00\x05",  # a leading zero byte
        bytes.fromhex(REAL.token_id) + bytes(5) + b"\x00",  # client id 0
        bytes.fromhex(REAL.token_id) + bytes(5) + b"\x01" * 9,  # longer than 8 bytes
    ],
)
def test_signed_but_invalid_bodies_are_refused(
    private_pem: bytes, public_pem: bytes, body: bytes
) -> None:
    assert_bad_qr(public_pem, signed_body(private_pem, body))


def test_the_signed_body_helper_makes_real_tokens(
    private_pem: bytes, public_pem: bytes, token: str
) -> None:
    body = bytes.fromhex(REAL.token_id) + REAL.issued_at.to_bytes(5, "big") + b"\x47\xa6"
    assert signed_body(private_pem, body) == token
    assert verify(public_pem, token) == REAL
