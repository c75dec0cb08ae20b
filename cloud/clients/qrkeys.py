"""The Ed25519 key that signs client QR codes: created once, kept owner-only in the data
directory, never leaves the central service (stands get only the public key); and the QR code a
token is printed as."""

from __future__ import annotations

import segno

from cloud.config import CloudConfig, keep_once
from sync import qrtoken


def ensure_qr_key(config: CloudConfig) -> bytes:
    return keep_once(config.qr_key_path, qrtoken.generate_private_key_pem)


def public_key(config: CloudConfig) -> bytes:
    return qrtoken.public_key_pem(ensure_qr_key(config))


def qr_code(token: str) -> segno.QRCode:
    """The printable QR code of a compact ("AQ2:") token: version 6 or less at level M.

    The mode is given, not guessed, so a token outside the alphanumeric set fails here instead
    of silently growing into byte mode (version 9); the level stays M (segno would otherwise
    raise it when the data leaves room), the level the token's size was designed for.
    """
    return segno.make_qr(token, error="m", mode="alphanumeric", boost_error=False)
