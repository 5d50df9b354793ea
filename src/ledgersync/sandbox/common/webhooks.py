"""Webhook plumbing both sandboxes share: HMAC signing, a batching worker, and POSTs retried on a schedule."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any, Generic, Protocol, TypeVar

import httpx

from .codec import iso_now

AppT = TypeVar("AppT")


class _WebhookState(Protocol):
    config: dict[str, Any]
    deliveries: list[dict[str, Any]]


def hmac_sha256_b64(body: bytes, key: str) -> str:
    """base64(HMAC-SHA256(raw body, key)): the signature both Xero and Intuit put in a header."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


class WebhookDispatcherBase(Generic[AppT]):
    """Queue per app, one batching worker task, and signed deliveries retried per `webhook_retry_delays`.

    A platform subclass sets the signature header and default timeout, builds payloads in `_run`
    and says which secret signs for an app (`_secret`, read afresh on every attempt).
    """

    signature_header: str
    default_timeout: float

    def __init__(self, sandbox: _WebhookState) -> None:
        self.sb = sandbox
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.wakeup: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.retry_tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=float(self.sb.config.get("webhook_timeout", self.default_timeout))
            )
        return self.client

    def _secret(self, app: AppT) -> str:
        raise NotImplementedError

    async def _run(self) -> None:
        raise NotImplementedError

    def _wake_worker(self) -> None:
        """Start the batching worker if it is not running, and tell it events are pending."""
        if self.task is None or self.task.done():
            self.wakeup = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._run())
        assert self.wakeup is not None
        self.wakeup.set()

    async def _next_batches(self) -> dict[str, list[dict[str, Any]]]:
        """Wait for a wake-up, let the burst settle for `webhook_batch_window`, then take all pending events."""
        assert self.wakeup is not None
        await self.wakeup.wait()
        self.wakeup.clear()
        await asyncio.sleep(float(self.sb.config.get("webhook_batch_window", 0.05)))
        batches, self.pending = self.pending, {}
        return batches

    def _start_delivery(self, app: AppT, entry: dict[str, Any]) -> None:
        """Log `entry` in the delivery log and deliver it from its own task."""
        self.sb.deliveries.append(entry)
        t = asyncio.get_running_loop().create_task(self._deliver(app, entry))
        self.retry_tasks.add(t)
        t.add_done_callback(self.retry_tasks.discard)

    async def _post(self, url: str, body: bytes, signature: str) -> tuple[int | None, str | None]:
        try:
            resp = await self._client().post(
                url, content=body, headers={"Content-Type": "application/json", self.signature_header: signature}
            )
            return resp.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def _deliver(self, app: AppT, entry: dict[str, Any]) -> None:
        body = json.dumps(entry["payload"], separators=(",", ":")).encode()
        delays = [0.0, *[float(d) for d in self.sb.config.get("webhook_retry_delays", [])]]
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay)
            status, error = await self._post(entry["url"], body, hmac_sha256_b64(body, self._secret(app)))
            entry["attempts"].append({"attempt": attempt, "at": iso_now(), "status_code": status, "error": error})
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
