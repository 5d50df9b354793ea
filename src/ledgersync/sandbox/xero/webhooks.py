"""Webhook delivery as Xero does it: signed batches, intent-to-receive checks, retries and a delivery log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

import httpx

from .state import App, XeroSandbox


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _entropy() -> str:
    return base64.b32encode(os.urandom(10)).decode().rstrip("=")


def _iso_now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WebhookDispatcher:
    """Collects change events and POSTs them per app in batches from a background task."""

    def __init__(self, sandbox: XeroSandbox) -> None:
        self.sb = sandbox
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.wakeup: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.retry_tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=float(self.sb.config.get("webhook_timeout", 5.0)))
        return self.client

    def enqueue(self, tenant_id: str, events: list[tuple[str, str, str]]) -> None:
        if not events:
            return
        apps = {c["client_id"] for c in self.sb.connections.values() if c["tenantId"] == tenant_id}
        stamp = _iso_now()
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
            self._ensure_worker()
            assert self.wakeup is not None
            self.wakeup.set()

    def _ensure_worker(self) -> None:
        if self.task is None or self.task.done():
            self.wakeup = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self.wakeup is not None
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            # Let events from the same burst land in one delivery, as Xero batches them.
            await asyncio.sleep(float(self.sb.config.get("webhook_batch_window", 0.05)))
            batches, self.pending = self.pending, {}
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
                self.sb.deliveries.append(entry)
                t = asyncio.get_running_loop().create_task(self._deliver(app, entry))
                self.retry_tasks.add(t)
                t.add_done_callback(self.retry_tasks.discard)

    async def _post(self, url: str, body: bytes, signature: str) -> tuple[int | None, str | None]:
        try:
            resp = await self._client().post(
                url, content=body, headers={"Content-Type": "application/json", "x-xero-signature": signature}
            )
            return resp.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def _deliver(self, app: App, entry: dict[str, Any]) -> None:
        body = json.dumps(entry["payload"], separators=(",", ":")).encode()
        delays = [0.0, *[float(d) for d in self.sb.config.get("webhook_retry_delays", [])]]
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            key = app.webhook_key or ""
            status, error = await self._post(entry["url"], body, sign(body, key))
            entry["attempts"].append(
                {"attempt": attempt, "at": _iso_now(), "status_code": status, "error": error}
            )
            if status is not None and 200 <= status < 300:
                entry["status"] = "delivered"
                return
            entry["status"] = "retrying" if attempt < len(delays) else "failed"

    async def intent_to_receive(self, app: App) -> dict[str, Any]:
        """Xero's check: a correctly signed empty batch must get 200, a badly signed one 401."""
        assert app.webhook_url and app.webhook_key
        payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
        body = json.dumps(payload, separators=(",", ":")).encode()
        good_status, good_err = await self._post(app.webhook_url, body, sign(body, app.webhook_key))
        bad_status, bad_err = await self._post(app.webhook_url, body, sign(body, app.webhook_key + "-wrong"))
        result = {
            "ok": good_status == 200 and bad_status == 401,
            "at": _iso_now(),
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

    async def close(self) -> None:
        for t in [self.task, *self.retry_tasks]:
            if t is not None:
                t.cancel()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
