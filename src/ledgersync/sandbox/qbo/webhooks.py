"""QBO webhooks: signed (intuit-signature) legacy eventNotifications or CloudEvents, retries, delivery log."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..common.codec import iso_now
from ..common.webhooks import WebhookDispatcherBase, hmac_sha256_b64
from .state import App, QboSandbox

_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged"}


def sign(body: bytes, verifier: str) -> str:
    """intuit-signature: base64(HMAC-SHA256(raw body, verifier token))."""
    return hmac_sha256_b64(body, verifier)


def legacy_payload(events: list[dict[str, Any]]) -> dict[str, Any]:
    by_realm: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_realm.setdefault(e["realmId"], []).append(
            {"name": e["name"], "id": e["id"], "operation": e["operation"], "lastUpdated": e["lastUpdated"]}
        )
    return {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": ents}} for realm, ents in by_realm.items()
        ]
    }


def cloudevents_payload(client_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    source = "intuit." + hashlib.sha256(client_id.encode()).hexdigest()[:12]
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": source,
            "type": f"qbo.{e['name'].lower()}.{_VERBS.get(e['operation'], e['operation'].lower())}.v1",
            "datacontenttype": "application/json",
            "time": e["lastUpdated"],
            "intuitentityid": e["id"],
            "intuitaccountid": e["realmId"],
            "data": {},
        }
        for e in events
    ]


class WebhookDispatcher(WebhookDispatcherBase[App]):
    """Collects change events and POSTs them per app from a background task, retrying failures."""

    signature_header = "intuit-signature"
    default_timeout = 3.0

    def __init__(self, sandbox: QboSandbox) -> None:
        super().__init__(sandbox)
        self.sb: QboSandbox = sandbox

    def _secret(self, app: App) -> str:
        return app.webhook_verifier or ""

    def enqueue(self, realm: str, events: list[tuple[str, str, str]]) -> None:
        wanted = set(self.sb.config.get("webhook_entities", []))
        events = [e for e in events if e[0] in wanted]
        if not events:
            return
        stamp = iso_now()
        queued = False
        for conn in list(self.sb.connections.values()):
            if conn["realmId"] != realm:
                continue
            app = self.sb.apps.get(conn["client_id"])
            if app is None or not app.webhook_url or not app.webhook_verifier:
                continue
            for name, rid, op in events:
                self.pending.setdefault(app.client_id, []).append(
                    {"realmId": realm, "name": name, "id": rid, "operation": op, "lastUpdated": stamp}
                )
                queued = True
        if queued:
            self._wake_worker()

    async def _run(self) -> None:
        while True:
            batches = await self._next_batches()
            for client_id, events in batches.items():
                app = self.sb.apps.get(client_id)
                if app is None or not app.webhook_url or not app.webhook_verifier:
                    continue
                fmt = app.webhook_format if app.webhook_format in ("legacy", "cloudevents") else "legacy"
                payload: Any = (
                    cloudevents_payload(client_id, events) if fmt == "cloudevents" else legacy_payload(events)
                )
                entry: dict[str, Any] = {
                    "id": len(self.sb.deliveries) + 1,
                    "client_id": client_id,
                    "url": app.webhook_url,
                    "format": fmt,
                    "event_count": len(events),
                    "payload": payload,
                    "attempts": [],
                    "status": "pending",
                }
                self._start_delivery(app, entry)
