"""The Ed25519 key that signs client QR codes: created once, kept owner-only in the data
directory, never leaves the central service (stands get only the public key)."""

from __future__ import annotations

import os

from cloud.config import CloudConfig
from sync import qrtoken


def ensure_qr_key(config: CloudConfig) -> bytes:
    path = config.qr_key_path
    if not path.exists():
        config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(qrtoken.generate_private_key_pem())
    return path.read_bytes()


def public_key(config: CloudConfig) -> bytes:
    return qrtoken.public_key_pem(ensure_qr_key(config))
