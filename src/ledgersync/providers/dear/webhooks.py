"""Inbound DEAR webhooks: authenticated by the bearer token we registered them with (DEAR signs nothing; the
subscriber chooses basic or bearer credentials or static headers, tag "Webhooks"), then read for what changed.

The payload bodies are not in DEAR's spec (UNVERIFIED): a Customer/Supplier event is read for its ID, a Sale
event for its SaleID, a Purchase event for its PurchaseID (or ID); a list of such objects is read item by item."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from ledgersync.model import Entity
from ledgersync.providers.base import Changes, WebhookRefused

AUTH_HEADER = "Authorization"


def authenticate(token: str | None, headers: Mapping[str, str]) -> None:
    """Refuse anything not carrying our bearer token (compared in constant time)."""
    if not token:
        raise WebhookRefused("this connection has no webhook token, so no webhook can be trusted")
    given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise WebhookRefused("wrong or missing bearer token")


def _items(payload: Any) -> list[Mapping[str, Any]]:
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Mapping)]
    if isinstance(payload, Mapping):
        return [payload]
    return []


def receive(token: str | None, body: bytes, headers: Mapping[str, str]) -> Changes:
    authenticate(token, headers)
    try:
        payload = json.loads(body) if body.strip() else []
    except ValueError:
        raise WebhookRefused("the body is not JSON") from None
    changes: Changes = {}
    for item in _items(payload):
        if item.get("SaleID"):
            # The sale is the invoice; for payments the sale id names no payment, so the engine reads what changed
            # with a delta pull of payments (an id it has not linked), which brings a payment made in DEAR.
            sale = str(item["SaleID"])
            for entity in (Entity.INVOICE, Entity.PAYMENT):
                changes.setdefault(entity, set()).add(sale)
        elif item.get("PurchaseID"):
            for entity in (Entity.PURCHASE_ORDER, Entity.BILL):
                changes.setdefault(entity, set()).add(str(item["PurchaseID"]))
        elif item.get("ID") and "AccountPayable" in item:
            changes.setdefault(Entity.SUPPLIER, set()).add(str(item["ID"]))
        elif item.get("ID") and "Name" in item:
            changes.setdefault(Entity.CONTACT, set()).add(str(item["ID"]))
    return changes


__all__ = ["AUTH_HEADER", "authenticate", "receive"]
