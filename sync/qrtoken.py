"""Client QR tokens signed with Ed25519.

Only the central service holds the private key; stands hold the public key and verify
offline. A printed QR code never expires; revocation is per token id (see DESIGN).

Two token texts carry the same claims under the same key; :func:`verify` accepts both.

- Compact (``"AQ2:"``, issued since issue 18): ``"AQ2:" + base32(body + signature)``, upper
  case without padding, so the whole text is in the QR alphanumeric character set (5.5 bits
  a character instead of 8) and a token fits QR version 6 at error level M (154 characters;
  a token is 142 to 153). ``body`` is the token id's 16 bytes, the issue time as 5 bytes and
  the client id as 1 to 8 bytes (big-endian, no leading zero byte); the signature covers the
  ASCII ``"AQ2:"`` followed by ``body``.
- Long (``"AQ1."``, printed before issue 18; version 9, 53x53 modules):
  ``"AQ1." + b64url(payload) + "." + b64url(signature)`` where the payload is the compact JSON
  ``{"t": token_id, "c": client_id, "i": issued_at}``, base64url has no padding, and the
  signature covers the ASCII bytes ``"AQ1." + b64url(payload)``. Stands accept it until every
  printed code has been reissued.
"""

import base64
import binascii
import functools
import json
import re
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.errors import RuleError

PREFIX = "AQ1"
COMPACT_PREFIX = "AQ2:"
MAX_TOKEN_LEN = 512
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_BASE32 = re.compile(r"[A-Z2-7]+")
_TOKEN_ID_BYTES = 16
_ISSUED_AT_BYTES = 5  # unix seconds up to the year 36812
_MAX_CLIENT_ID_BYTES = 8
_TOKEN_ID = re.compile(r"[0-9a-f]{32}")
_SIGNATURE_LEN = 64


@dataclass(frozen=True)
class QrClaims:
    """What a client's QR token asserts."""

    token_id: str  # 32 hex chars (uuid4().hex)
    client_id: int
    issued_at: int  # unix seconds


def _bad_qr() -> RuleError:
    return RuleError("QR-код недействителен", "bad_qr")


def _valid_claims(token_id: object, client_id: object, issued_at: object) -> bool:
    return (
        isinstance(token_id, str)
        and _TOKEN_ID.fullmatch(token_id) is not None
        and type(client_id) is int
        and client_id > 0
        and type(issued_at) is int
        and issued_at >= 0
    )


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise RuleError on anything else."""
    if not _B64URL.fullmatch(text):
        raise _bad_qr()
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _bad_qr() from None
    if _b64encode(data) != text:  # non-canonical trailing bits or impossible length
        raise _bad_qr()
    return data


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).rstrip(b"=").decode("ascii")


def _b32decode(text: str) -> bytes:
    """Decode canonical unpadded upper-case base32; raise RuleError on anything else."""
    if not _BASE32.fullmatch(text):
        raise _bad_qr()
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise _bad_qr() from None
    if _b32encode(data) != text:  # non-canonical trailing bits or impossible length
        raise _bad_qr()
    return data


@functools.lru_cache(maxsize=8)
def _private_key(private_pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise RuleError("Некорректный ключ подписи QR-кодов", "bad_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise RuleError("Ключ подписи QR-кодов должен быть Ed25519", "bad_key")
    return key


@functools.lru_cache(maxsize=8)
def _public_key(public_pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise RuleError("Некорректный ключ проверки QR-кодов", "bad_key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise RuleError("Ключ проверки QR-кодов должен быть Ed25519", "bad_key")
    return key


def generate_private_key_pem() -> bytes:
    """Generate a new Ed25519 private key as unencrypted PKCS#8 PEM (central service only)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(private_pem: bytes) -> bytes:
    """Return the SubjectPublicKeyInfo PEM of the public key matching `private_pem`."""
    return (
        _private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def new_claims(client_id: int, now: int) -> QrClaims:
    """Return claims for a fresh token of `client_id` issued at unix time `now`."""
    claims = QrClaims(token_id=uuid.uuid4().hex, client_id=client_id, issued_at=now)
    if not _valid_claims(claims.token_id, claims.client_id, claims.issued_at):
        raise RuleError("Некорректные данные для QR-кода", "bad_qr_claims")
    return claims


def sign(private_pem: bytes, claims: QrClaims) -> str:
    """Return the compact ("AQ2:") signed token text to encode in a QR code.

    >>> token = sign(private_pem, new_claims(42, 1_700_000_000))
    >>> segno.make_qr(token, error="m", mode="alphanumeric", boost_error=False).version <= 6
    """
    if not _valid_claims(claims.token_id, claims.client_id, claims.issued_at):
        raise RuleError("Некорректные данные для QR-кода", "bad_qr_claims")
    client_len = max(1, (claims.client_id.bit_length() + 7) // 8)
    if client_len > _MAX_CLIENT_ID_BYTES or claims.issued_at >= 1 << (8 * _ISSUED_AT_BYTES):
        raise RuleError("Некорректные данные для QR-кода", "bad_qr_claims")
    body = (
        bytes.fromhex(claims.token_id)
        + claims.issued_at.to_bytes(_ISSUED_AT_BYTES, "big")
        + claims.client_id.to_bytes(client_len, "big")
    )
    signature = _private_key(private_pem).sign(COMPACT_PREFIX.encode("ascii") + body)
    return COMPACT_PREFIX + _b32encode(body + signature)


def sign_v1(private_pem: bytes, claims: QrClaims) -> str:
    """Return the long ("AQ1.") token text of codes printed before the compact form.

    The central service no longer issues it; it stays to show (and test) what stands accept.
    """
    if not _valid_claims(claims.token_id, claims.client_id, claims.issued_at):
        raise RuleError("Некорректные данные для QR-кода", "bad_qr_claims")
    payload = {"t": claims.token_id, "c": claims.client_id, "i": claims.issued_at}
    body = f"{PREFIX}.{_b64encode(json.dumps(payload, separators=(',', ':')).encode())}"
    signature = _private_key(private_pem).sign(body.encode("ascii"))
    return f"{body}.{_b64encode(signature)}"


def verify(public_pem: bytes, token: str) -> QrClaims:
    """Check a scanned token's format and signature and return its claims.

    Raises RuleError(code "bad_qr") for any malformed, forged or tampered token (and
    RuleError(code "bad_key") if `public_pem` itself is unusable). Revocation is checked
    by the caller against the directory.
    """
    key = _public_key(public_pem)
    if not isinstance(token, str):
        raise _bad_qr()
    token = token.strip()
    if len(token) > MAX_TOKEN_LEN:
        raise _bad_qr()
    if token.startswith(COMPACT_PREFIX):
        return _verify_compact(key, token[len(COMPACT_PREFIX) :])
    return _verify_v1(key, token)


def _verify_compact(key: Ed25519PublicKey, text: str) -> QrClaims:
    data = _b32decode(text)
    body, signature = data[:-_SIGNATURE_LEN], data[-_SIGNATURE_LEN:]
    client_bytes = body[_TOKEN_ID_BYTES + _ISSUED_AT_BYTES :]
    if not 1 <= len(client_bytes) <= _MAX_CLIENT_ID_BYTES or client_bytes[0] == 0:
        raise _bad_qr()  # also catches a token too short to hold a signature
    try:
        key.verify(signature, COMPACT_PREFIX.encode("ascii") + body)
    except InvalidSignature:
        raise _bad_qr() from None
    claims = QrClaims(
        token_id=body[:_TOKEN_ID_BYTES].hex(),
        client_id=int.from_bytes(client_bytes, "big"),
        issued_at=int.from_bytes(body[_TOKEN_ID_BYTES : _TOKEN_ID_BYTES + _ISSUED_AT_BYTES], "big"),
    )
    if not _valid_claims(claims.token_id, claims.client_id, claims.issued_at):
        raise _bad_qr()
    return claims


def _verify_v1(key: Ed25519PublicKey, token: str) -> QrClaims:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise _bad_qr()
    payload_bytes = _b64decode(parts[1])
    signature = _b64decode(parts[2])
    if len(signature) != _SIGNATURE_LEN:
        raise _bad_qr()
    try:
        key.verify(signature, f"{PREFIX}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise _bad_qr() from None
    try:
        payload = json.loads(payload_bytes.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _bad_qr() from None
    if not isinstance(payload, dict) or set(payload) != {"t", "c", "i"}:
        raise _bad_qr()
    if not _valid_claims(payload["t"], payload["c"], payload["i"]):
        raise _bad_qr()
    return QrClaims(token_id=payload["t"], client_id=payload["c"], issued_at=payload["i"])
