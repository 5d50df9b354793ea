"""Salted scrypt hashes for secrets that are only ever verified (dashboard passwords, Web Connector passwords)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt at n=2**14, r=8, p=1 (the interactive-login figures of the scrypt paper, ~16 MiB per hash).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A self-describing salted scrypt hash: scrypt$n$r$p$salt$key (base64)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


# Checked when the user is unknown, so a wrong name takes as long as a wrong password.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))

__all__ = ["DUMMY_HASH", "SCRYPT_N", "SCRYPT_P", "SCRYPT_R", "hash_password", "verify_password"]
