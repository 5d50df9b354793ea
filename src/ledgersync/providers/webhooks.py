"""What inbound-webhook parsers share: the base64 HMAC-SHA256 signature Xero and Intuit both use, and JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ledgersync.providers.base import WebhookRefused


def hmac_b64(body: bytes, key: str) -> str:
    """base64 HMAC-SHA256 of the raw body with `key`."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def check_signature(body: bytes, signature: str | None, key: str | None) -> None:
    """The signature must be the HMAC of these exact bytes, compared in constant time; WebhookRefused if not
    (also when the connection has no key: an unsigned platform call cannot be told from a forged one)."""
    if not key or not signature or not hmac.compare_digest(hmac_b64(body, key).encode(), signature.encode()):
        raise WebhookRefused("signature does not match")


def json_body(body: bytes) -> Any:
    """The parsed body; None for one that is signed but not JSON (nothing to do, and it must not be retried)."""
    try:
        return json.loads(body) if body.strip() else {}
    except ValueError:
        return None


__all__ = ["check_signature", "hmac_b64", "json_body"]
