"""Encryption at rest for tokens and secrets (Fernet: AES-128-CBC + HMAC-SHA256), keyed from configuration."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ledgersync.store.database import holds_secrets, private_dir, sqlite_path, state_dir

KEY_ENV = "LEDGERSYNC_SECRET_KEY"
KEY_FILE = "secret.key"


class SecretKeyError(ValueError):
    """The deployment's encryption keys do not fit its store: said in one sentence with what to do."""


class MissingKeyFile(SecretKeyError):
    """A database that holds encrypted secrets, and no key: a fresh key would silently orphan them."""


class UndecryptableSecret(SecretKeyError):
    """A stored secret that none of the configured keys decrypts."""


class SecretBox:
    """Encrypts with the first key, decrypts with any (so keys can be rotated by prepending a new one).

    `source` says where the keys came from, for the error when stored values do not decrypt."""

    def __init__(self, keys: list[str], source: str = "the configured keys") -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except ValueError:
            raise SecretKeyError(
                f"{source} is not a valid key: each key is 32 url-safe base64-encoded bytes "
                "(make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`)"
            ) from None
        self.source = source

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise UndecryptableSecret(
                f"stored tokens cannot be decrypted with {self.source}; restore the key they were encrypted "
                f"with (in {KEY_ENV}, comma-separated keys are all tried) or reconnect"
            ) from exc


def key_file_for(database_url: str | None) -> Path:
    """The key file of a deployment: beside its SQLite file (else `.ledgersync/secret.key` here)."""
    return state_dir(database_url) / KEY_FILE


def _env_keys() -> list[str]:
    env = os.environ.get(KEY_ENV)
    return [k.strip() for k in env.split(",") if k.strip()] if env else []


def load_keys(key_file: Path | None = None, *, database_url: str | None = None) -> list[str]:
    """Keys from LEDGERSYNC_SECRET_KEY (comma-separated), else the key file beside the database, created
    (0600, in an owner-only folder) on first use. A missing key file next to a database that already holds
    encrypted secrets is an error (MissingKeyFile), never a silent new key.

    The file default suits the embedded single-machine setup; at scale every worker must get the same
    LEDGERSYNC_SECRET_KEY from the environment or a secret manager."""
    env = _env_keys()
    if env:
        return env
    path = key_file or key_file_for(database_url)
    if path.exists():
        return [path.read_text().strip()]
    if holds_secrets(database_url):
        where = sqlite_path(database_url)
        db = str(where.resolve()) if where is not None else "the database"
        raise MissingKeyFile(
            f"{db} holds encrypted tokens but its key file {path.resolve()} is missing; restore that file "
            f"beside the database or set {KEY_ENV} to the key it was encrypted with (a new key could not "
            "decrypt them)"
        )
    private_dir(path.parent)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return [key]


def open_box(key_file: Path | None = None, *, database_url: str | None = None) -> SecretBox:
    """The SecretBox of a deployment, from LEDGERSYNC_SECRET_KEY or its key file (see load_keys)."""
    source = f"{KEY_ENV}" if _env_keys() else f"the key file {(key_file or key_file_for(database_url)).resolve()}"
    return SecretBox(load_keys(key_file, database_url=database_url), source=source)
