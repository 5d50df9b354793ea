"""Xero's inbound webhooks: x-xero-signature over the raw body, intent to receive, events -> records to refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgersync.model import Entity
from ledgersync.providers.base import Changes
from ledgersync.providers.webhooks import check_signature, json_body

SIGNATURE_HEADER = "x-xero-signature"
# Xero sends webhooks for contacts and invoices only; payments and items are polled.
CATEGORIES = {"CONTACT": Entity.CONTACT, "INVOICE": Entity.INVOICE}


def changes(payload: Any, tenant_id: str | None) -> Changes:
    """Resource ids per entity from a Xero batch; events for another tenant are ignored."""
    out: Changes = {}
    events = payload.get("events") if isinstance(payload, dict) else None
    for ev in events if isinstance(events, list) else []:
        if not isinstance(ev, dict):
            continue
        entity = CATEGORIES.get(str(ev.get("eventCategory", "")).upper())
        rid = ev.get("resourceId")
        if entity is None or not isinstance(rid, str) or not rid:
            continue
        if tenant_id and ev.get("tenantId") not in (None, tenant_id):
            continue
        out.setdefault(entity, set()).add(rid)
    return out


def receive(key: str | None, tenant_id: str | None, body: bytes, headers: Mapping[str, str]) -> Changes:
    """Check the signature (WebhookRefused if wrong) and read the batch. Xero's intent-to-receive is a signed
    empty batch: it names nothing, and answering it 200 (a bad signature 401) is what Xero checks."""
    check_signature(body, headers.get(SIGNATURE_HEADER), key)
    return changes(json_body(body), tenant_id)


__all__ = ["CATEGORIES", "SIGNATURE_HEADER", "changes", "receive"]
