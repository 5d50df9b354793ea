"""QuickBooks Online's inbound webhooks: intuit-signature over the raw body; legacy and CloudEvents bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgersync.model import Entity
from ledgersync.providers.base import Changes
from ledgersync.providers.webhooks import check_signature, json_body

SIGNATURE_HEADER = "intuit-signature"
NAMES = {
    "customer": Entity.CONTACT,
    "vendor": Entity.CONTACT,
    "item": Entity.ITEM,
    "invoice": Entity.INVOICE,
    "payment": Entity.PAYMENT,
    "creditmemo": Entity.CREDIT_NOTE,
}


def changes(payload: Any, tenant_id: str | None) -> Changes:
    """Entity ids from Intuit's legacy `eventNotifications` or its CloudEvents list; other realms ignored."""
    out: Changes = {}

    def add(realm: Any, name: Any, rid: Any) -> None:
        entity = NAMES.get(str(name).lower())
        if entity is None or not isinstance(rid, str | int) or str(rid) == "":
            return
        if tenant_id and realm is not None and str(realm) != tenant_id:
            return
        out.setdefault(entity, set()).add(str(rid))

    if isinstance(payload, dict):
        for note in payload.get("eventNotifications") or []:
            if not isinstance(note, dict):
                continue
            change = note.get("dataChangeEvent")
            for ent in (change.get("entities") if isinstance(change, dict) else None) or []:
                if isinstance(ent, dict):
                    add(note.get("realmId"), ent.get("name"), ent.get("id"))
    elif isinstance(payload, list):
        for ev in payload:
            if isinstance(ev, dict) and isinstance(ev.get("type"), str):
                parts = ev["type"].split(".")  # qbo.customer.updated.v1
                if len(parts) >= 3:
                    add(ev.get("intuitaccountid"), parts[1], ev.get("intuitentityid"))
    return out


def receive(verifier: str | None, tenant_id: str | None, body: bytes, headers: Mapping[str, str]) -> Changes:
    """Check the signature with the app's verifier token (WebhookRefused if wrong) and read what changed."""
    check_signature(body, headers.get(SIGNATURE_HEADER), verifier)
    return changes(json_body(body), tenant_id)


__all__ = ["NAMES", "SIGNATURE_HEADER", "changes", "receive"]
