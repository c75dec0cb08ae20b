"""The Ed25519 key that signs client QR codes: created once, kept owner-only in the data
directory, never leaves the central service (stands get only the public key)."""

from __future__ import annotations

from cloud.config import CloudConfig, keep_once
from sync import qrtoken


def ensure_qr_key(config: CloudConfig) -> bytes:
    return keep_once(config.qr_key_path, qrtoken.generate_private_key_pem)


def public_key(config: CloudConfig) -> bytes:
    return qrtoken.public_key_pem(ensure_qr_key(config))
