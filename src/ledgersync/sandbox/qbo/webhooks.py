"""QBO webhooks: signed (intuit-signature) legacy eventNotifications or CloudEvents, retries, delivery log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from .state import App, QboSandbox

_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged"}


def sign(body: bytes, verifier: str) -> str:
    """intuit-signature: base64(HMAC-SHA256(raw body, verifier token))."""
    return base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest()).decode()


def _iso_now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


class WebhookDispatcher:
    """Collects change events and POSTs them per app from a background task, retrying failures."""

    def __init__(self, sandbox: QboSandbox) -> None:
        self.sb = sandbox
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.wakeup: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.retry_tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=float(self.sb.config.get("webhook_timeout", 3.0)))
        return self.client

    def enqueue(self, realm: str, events: list[tuple[str, str, str]]) -> None:
        wanted = set(self.sb.config.get("webhook_entities", []))
        events = [e for e in events if e[0] in wanted]
        if not events:
            return
        stamp = _iso_now()
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
            if self.task is None or self.task.done():
                self.wakeup = asyncio.Event()
                self.task = asyncio.get_running_loop().create_task(self._run())
            assert self.wakeup is not None
            self.wakeup.set()

    async def _run(self) -> None:
        assert self.wakeup is not None
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            await asyncio.sleep(float(self.sb.config.get("webhook_batch_window", 0.05)))
            batches, self.pending = self.pending, {}
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
                self.sb.deliveries.append(entry)
                t = asyncio.get_running_loop().create_task(self._deliver(app, entry))
                self.retry_tasks.add(t)
                t.add_done_callback(self.retry_tasks.discard)

    async def _deliver(self, app: App, entry: dict[str, Any]) -> None:
        body = json.dumps(entry["payload"], separators=(",", ":")).encode()
        delays = [0.0, *[float(d) for d in self.sb.config.get("webhook_retry_delays", [])]]
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            headers = {"Content-Type": "application/json", "intuit-signature": sign(body, app.webhook_verifier or "")}
            status: int | None
            error: str | None = None
            try:
                resp = await self._client().post(entry["url"], content=body, headers=headers)
                status = resp.status_code
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            entry["attempts"].append({"attempt": attempt, "at": _iso_now(), "status_code": status, "error": error})
            if status is not None and 200 <= status < 300:
                entry["status"] = "delivered"
                return
            entry["status"] = "retrying" if attempt < len(delays) else "failed"

    async def close(self) -> None:
        for t in [self.task, *self.retry_tasks]:
            if t is not None:
                t.cancel()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
