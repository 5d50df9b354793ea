"""Webhook delivery as Xero does it: signed batches, intent-to-receive checks, retries and a delivery log."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from ..common.codec import iso_now
from ..common.webhooks import WebhookDispatcherBase, hmac_sha256_b64
from .state import App, XeroSandbox


def sign(body: bytes, key: str) -> str:
    """x-xero-signature: base64(HMAC-SHA256(raw body, webhook key))."""
    return hmac_sha256_b64(body, key)


def _entropy() -> str:
    return base64.b32encode(os.urandom(10)).decode().rstrip("=")


class WebhookDispatcher(WebhookDispatcherBase[App]):
    """Collects change events and POSTs them per app in batches from a background task."""

    signature_header = "x-xero-signature"
    default_timeout = 5.0

    def __init__(self, sandbox: XeroSandbox) -> None:
        super().__init__(sandbox)
        self.sb: XeroSandbox = sandbox

    def _secret(self, app: App) -> str:
        return app.webhook_key or ""

    def enqueue(self, tenant_id: str, events: list[tuple[str, str, str]]) -> None:
        if not events:
            return
        apps = {c["client_id"] for c in self.sb.connections.values() if c["tenantId"] == tenant_id}
        stamp = iso_now()
        queued = False
        for client_id in apps:
            app = self.sb.apps.get(client_id)
            # Xero only delivers once the endpoint has passed intent-to-receive.
            if (
                app is None
                or not app.webhook_url
                or not app.webhook_key
                or not (app.intent_to_receive or {}).get("ok")
            ):
                continue
            for category, etype, rid in events:
                if category not in ("CONTACT", "INVOICE"):
                    continue
                resource = "Contacts" if category == "CONTACT" else "Invoices"
                self.pending.setdefault(client_id, []).append(
                    {
                        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{rid}",
                        "resourceId": rid,
                        "eventDateUtc": stamp,
                        "eventType": etype,
                        "eventCategory": category,
                        "tenantId": tenant_id,
                        "tenantType": "ORGANISATION",
                    }
                )
                queued = True
        if queued:
            self._wake_worker()

    async def _run(self) -> None:
        while True:
            # Events from the same burst land in one delivery, as Xero batches them.
            batches = await self._next_batches()
            for client_id, events in batches.items():
                app = self.sb.apps.get(client_id)
                if app is None or not app.webhook_url or not app.webhook_key:
                    continue
                first = app.webhook_sequence + 1
                app.webhook_sequence += len(events)
                payload = {
                    "events": events,
                    "firstEventSequence": first,
                    "lastEventSequence": app.webhook_sequence,
                    "entropy": _entropy(),
                }
                entry: dict[str, Any] = {
                    "id": len(self.sb.deliveries) + 1,
                    "client_id": client_id,
                    "url": app.webhook_url,
                    "kind": "events",
                    "firstEventSequence": first,
                    "lastEventSequence": app.webhook_sequence,
                    "event_count": len(events),
                    "payload": payload,
                    "attempts": [],
                    "status": "pending",
                }
                self._start_delivery(app, entry)

    async def intent_to_receive(self, app: App) -> dict[str, Any]:
        """Xero's check: a correctly signed empty batch must get 200, a badly signed one 401."""
        assert app.webhook_url and app.webhook_key
        payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
        body = json.dumps(payload, separators=(",", ":")).encode()
        good_status, good_err = await self._post(app.webhook_url, body, sign(body, app.webhook_key))
        bad_status, bad_err = await self._post(app.webhook_url, body, sign(body, app.webhook_key + "-wrong"))
        result = {
            "ok": good_status == 200 and bad_status == 401,
            "at": iso_now(),
            "url": app.webhook_url,
            "signed_status": good_status,
            "signed_error": good_err,
            "badly_signed_status": bad_status,
            "badly_signed_error": bad_err,
        }
        app.intent_to_receive = result
        self.sb.deliveries.append(
            {
                "id": len(self.sb.deliveries) + 1,
                "client_id": app.client_id,
                "url": app.webhook_url,
                "kind": "intent_to_receive",
                "result": result,
                "status": "passed" if result["ok"] else "failed",
            }
        )
        return result
