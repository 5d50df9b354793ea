"""Encryption at rest for OAuth tokens (Fernet: AES-128-CBC + HMAC-SHA256), keyed from configuration."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Encrypts with the first key, decrypts with any (so keys can be rotated by prepending a new one)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError(
                "stored tokens cannot be decrypted with the configured LEDGERSYNC_SECRET_KEY; "
                "restore the old key (comma-separated keys are all tried) or reconnect"
            ) from exc


def load_keys(key_file: Path | None = None) -> list[str]:
    """Keys from LEDGERSYNC_SECRET_KEY (comma-separated), else a key file created on first use (mode 0600).

    The file default suits the embedded single-machine setup; at scale every worker must get the same
    LEDGERSYNC_SECRET_KEY from the environment or a secret manager."""
    env = os.environ.get("LEDGERSYNC_SECRET_KEY")
    if env:
        return [k.strip() for k in env.split(",") if k.strip()]
    path = key_file or Path(".ledgersync") / "secret.key"
    if path.exists():
        return [path.read_text().strip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return [key]
