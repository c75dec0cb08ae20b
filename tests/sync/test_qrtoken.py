"""The long ("AQ1.") QR token form printed before the compact one: format, round trip, forgery
and malformed input. Stands still accept it; tests/sync/test_qrtoken_compact.py covers "AQ2:"."""

import base64
import json
import random
import re
import string
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sync.errors import RuleError
from sync.qrtoken import (
    QrClaims,
    generate_private_key_pem,
    new_claims,
    public_key_pem,
    sign_v1,
    verify,
)
from tests.sync.conftest import assert_bad_qr

CLAIMS = QrClaims(
    token_id="0123456789abcdef0123456789abcdef", client_id=42, issued_at=1_700_000_000
)
TOKEN_CHARS = string.ascii_letters + string.digits + "-_."


@pytest.fixture(scope="module")
def token(private_pem: bytes) -> str:
    return sign_v1(private_pem, CLAIMS)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_raw(private_pem: bytes, payload: bytes) -> str:
    """A correctly signed token around arbitrary payload bytes (tests claim checks)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    body = "AQ1." + b64(payload)
    return body + "." + b64(key.sign(body.encode()))  # type: ignore[call-arg, union-attr]


def test_keys_are_pem(private_pem: bytes, public_pem: bytes) -> None:
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert generate_private_key_pem() != private_pem


def test_roundtrip(public_pem: bytes, token: str) -> None:
    assert verify(public_pem, token) == CLAIMS


def test_token_shape(private_pem: bytes, token: str) -> None:
    assert re.fullmatch(r"AQ1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}", token)
    assert len(token) < 200
    payload = token.split(".")[1]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert decoded == b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":1700000000}'
    assert sign_v1(private_pem, CLAIMS) == token  # Ed25519 is deterministic


def test_new_claims() -> None:
    claims = new_claims(7, 1_700_000_123)
    assert claims.client_id == 7
    assert claims.issued_at == 1_700_000_123
    assert re.fullmatch(r"[0-9a-f]{32}", claims.token_id)
    assert len({new_claims(7, 0).token_id for _ in range(100)}) == 100


@pytest.mark.parametrize(("client_id", "now"), [(0, 1), (-1, 1), (1, -1), (True, 1)])
def test_new_claims_rejects(client_id: Any, now: Any) -> None:
    with pytest.raises(RuleError) as info:
        new_claims(client_id, now)
    assert info.value.code == "bad_qr_claims"


def test_roundtrip_many(private_pem: bytes, public_pem: bytes) -> None:
    rng = random.Random(136)
    for _ in range(50):
        claims = new_claims(rng.randrange(1, 2**63), rng.randrange(0, 2**40))
        assert verify(public_pem, sign_v1(private_pem, claims)) == claims


@pytest.mark.parametrize(
    "claims",
    [
        QrClaims("0123456789ABCDEF0123456789ABCDEF", 1, 0),  # upper-case hex
        QrClaims("0123456789abcdef", 1, 0),
        QrClaims("0123456789abcdef0123456789abcdeg", 1, 0),
        QrClaims("", 1, 0),
        QrClaims(CLAIMS.token_id, 0, 0),
        QrClaims(CLAIMS.token_id, -5, 0),
        QrClaims(CLAIMS.token_id, True, 0),
        QrClaims(CLAIMS.token_id, 1, -1),
        QrClaims(CLAIMS.token_id, 1, 1.5),  # type: ignore[arg-type]
        QrClaims(CLAIMS.token_id, "1", 0),  # type: ignore[arg-type]
    ],
)
def test_sign_rejects_bad_claims(private_pem: bytes, claims: QrClaims) -> None:
    with pytest.raises(RuleError) as info:
        sign_v1(private_pem, claims)
    assert info.value.code == "bad_qr_claims"


def test_surrounding_whitespace_is_ignored(public_pem: bytes, token: str) -> None:
    assert verify(public_pem, f"  {token}\r\n") == CLAIMS


def test_signature_from_another_key(public_pem: bytes) -> None:
    other = generate_private_key_pem()
    forged = sign_v1(other, CLAIMS)
    assert verify(public_key_pem(other), forged) == CLAIMS
    assert_bad_qr(public_pem, forged)


def test_tampered_payload(private_pem: bytes, public_pem: bytes, token: str) -> None:
    prefix, _, signature = token.split(".")
    changed = json.dumps({"t": CLAIMS.token_id, "c": 43, "i": CLAIMS.issued_at}).encode()
    assert_bad_qr(public_pem, f"{prefix}.{b64(changed)}.{signature}")
    other_token = sign_v1(private_pem, QrClaims(CLAIMS.token_id, 43, CLAIMS.issued_at))
    swapped = other_token.split(".")[1]
    assert_bad_qr(public_pem, f"{prefix}.{swapped}.{signature}")


def test_every_single_character_change_is_refused(public_pem: bytes, token: str) -> None:
    for position, original in enumerate(token):
        for replacement in "A", "z", "0", "-", "_", ".":
            if replacement != original:
                assert_bad_qr(public_pem, token[:position] + replacement + token[position + 1 :])


def test_every_truncation_is_refused(public_pem: bytes, token: str) -> None:
    for length in range(len(token)):
        assert_bad_qr(public_pem, token[:length])
        assert_bad_qr(public_pem, token[len(token) - length :])


@pytest.mark.parametrize(
    "make",
    [
        lambda t: "",
        lambda t: "AQ1",
        lambda t: "AQ1.",
        lambda t: "AQ1..",
        lambda t: "AQ1...",
        lambda t: t.replace("AQ1", "AQ2", 1),
        lambda t: t.replace("AQ1", "aq1", 1),
        lambda t: t[4:],
        lambda t: "X" + t,
        lambda t: t + ".",
        lambda t: t + ".AAAA",
        lambda t: t + "=",
        lambda t: t + "==",
        lambda t: t.replace(".", ". ", 1),
        lambda t: t.replace("-", "+").replace("_", "/") + "+/",
        lambda t: t[:10] + "é" + t[11:],
        lambda t: t[:10] + "\x00" + t[11:],
        lambda t: t + "A" * 600,
        lambda t: "AQ1." + "A" * 5000 + "." + t.split(".")[2],
        lambda t: t.encode(),
        lambda t: None,
        lambda t: 12345,
        lambda t: ["AQ1", "x", "y"],
    ],
)
def test_malformed(public_pem: bytes, token: str, make: Any) -> None:
    assert_bad_qr(public_pem, make(token))


def test_bad_base64(public_pem: bytes, token: str) -> None:
    prefix, payload, signature = token.split(".")
    assert_bad_qr(public_pem, f"{prefix}.{payload}A.{signature}")  # impossible length
    assert_bad_qr(public_pem, f"{prefix}.{payload}.{signature[:-1]}")
    # a different last character that decodes to the same bytes (non-canonical) is refused
    last = signature[-1]
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    index = alphabet.index(last)
    sibling = alphabet[index ^ 1]
    assert_bad_qr(public_pem, f"{prefix}.{payload}.{signature[:-1]}{sibling}")
    short_signature = b64(base64.urlsafe_b64decode(signature + "==")[:63])
    assert_bad_qr(public_pem, f"{prefix}.{payload}.{short_signature}")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b"42",
        b'"AQ1"',
        b"{}",
        b'{"t":"0123456789abcdef0123456789abcdef","c":42}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":1,"x":0}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":"42","i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":42.0,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":true,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":null,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":0,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":-1,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":NaN,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":-1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":"1"}',
        b'{"t":"0123456789ABCDEF0123456789ABCDEF","c":42,"i":1}',
        b'{"t":"0123456789abcdef","c":42,"i":1}',
        b'{"t":12345,"c":42,"i":1}',
        b'{"t":["0123456789abcdef0123456789abcdef"],"c":42,"i":1}',
        b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":1',
        b"[" * 100 + b"]" * 100,
    ],
)
def test_signed_but_invalid_payload(private_pem: bytes, public_pem: bytes, payload: bytes) -> None:
    assert_bad_qr(public_pem, signed_raw(private_pem, payload))


def test_signed_raw_helper_produces_valid_tokens(
    private_pem: bytes, public_pem: bytes, token: str
) -> None:
    payload = b'{"t":"0123456789abcdef0123456789abcdef","c":42,"i":1700000000}'
    assert signed_raw(private_pem, payload) == token
    assert verify(public_pem, signed_raw(private_pem, payload)) == CLAIMS


def test_fuzz_random_mutations(public_pem: bytes, token: str) -> None:
    rng = random.Random(1137)
    for _ in range(3000):
        chars = list(token)
        for _ in range(rng.randrange(1, 4)):
            operation = rng.randrange(3)
            position = rng.randrange(len(chars) + 1)
            if operation == 0 and chars:
                del chars[min(position, len(chars) - 1)]
            elif operation == 1:
                chars.insert(position, rng.choice(TOKEN_CHARS + "=+/ é\x00"))
            elif chars:
                chars[min(position, len(chars) - 1)] = rng.choice(TOKEN_CHARS)
        mutated = "".join(chars)
        if mutated.strip() == token:
            assert verify(public_pem, mutated) == CLAIMS
        else:
            assert_bad_qr(public_pem, mutated)


def test_fuzz_random_text(public_pem: bytes) -> None:
    rng = random.Random(497)
    alphabet = TOKEN_CHARS + '=+/\\ {}":,\n'
    for _ in range(2000):
        length = rng.randrange(0, 300)
        text = "".join(rng.choice(alphabet) for _ in range(length))
        if rng.random() < 0.5:
            text = "AQ1." + text
        assert_bad_qr(public_pem, text)


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a key",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ],
)
def test_unusable_public_key(pem: bytes, token: str) -> None:
    with pytest.raises(RuleError) as info:
        verify(pem, token)
    assert info.value.code == "bad_key"


def test_public_key_of_another_algorithm(token: str) -> None:
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(RuleError) as info:
        verify(ec_public, token)
    assert info.value.code == "bad_key"


def test_private_key_is_not_a_public_key(private_pem: bytes, token: str) -> None:
    with pytest.raises(RuleError) as info:
        verify(private_pem, token)
    assert info.value.code == "bad_key"


@pytest.mark.parametrize("pem", [b"", b"garbage"])
def test_unusable_private_key(pem: bytes) -> None:
    with pytest.raises(RuleError) as info:
        sign_v1(pem, CLAIMS)
    assert info.value.code == "bad_key"
    with pytest.raises(RuleError):
        public_key_pem(pem)
