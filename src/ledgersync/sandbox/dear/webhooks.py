"""DEAR webhooks: each event POSTed to every active subscription of its type, with the credentials or headers
the subscriber chose (tag "Webhooks": noauth, basicauth, bearerauth, ExternalHeaders; no signature is
documented). A failed delivery is retried +1, +5, +10, +15, +20 and +25 minutes after the previous attempt on
the sandbox clock (so a test advances /_sandbox/clock instead of waiting); after the last failure the webhook
is deactivated (IsActive false). The payload bodies are not in the spec (UNVERIFIED): Customer/Supplier events
carry the record as GET returns it, Sale events the sale's ids and status."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import httpx

from ..common.codec import dumps, iso_now
from .state import Account, DearSandbox, new_id


def auth_headers(hook: dict[str, Any]) -> dict[str, str]:
    headers = {h["Key"]: h["Value"] for h in hook.get("ExternalHeaders") or []}
    kind = hook.get("ExternalAuthorizationType")
    if kind == "basicauth":
        pair = f"{hook.get('ExternalUserName', '')}:{hook.get('ExternalPassword', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif kind == "bearerauth":
        headers["Authorization"] = f"Bearer {hook.get('ExternalBearerToken', '')}"
    return headers


class WebhookDispatcher:
    def __init__(self, sb: DearSandbox) -> None:
        self.sb = sb
        self.task: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None
        self.wakeup: asyncio.Event | None = None

    def emit(self, acct: Account, kind: str, payload: dict[str, Any]) -> None:
        for hook in list(acct.data["webhook"].values()):
            if hook["Type"] != kind or not hook["IsActive"]:
                continue
            self.sb.deliveries.append(
                {
                    "id": new_id(),
                    "account_id": acct.id,
                    "webhook_id": hook["ID"],
                    "type": kind,
                    "url": hook["ExternalURL"],
                    "payload": payload,
                    "status": "pending",
                    "attempts": [],
                    "next_at": self.sb.now(),
                }
            )
        self._wake()

    def _wake(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self.task is None or self.task.done():
            self.wakeup = asyncio.Event()
            self.task = loop.create_task(self._run())
        assert self.wakeup is not None
        self.wakeup.set()

    def clock_moved(self) -> None:
        self._wake()

    async def _run(self) -> None:
        assert self.wakeup is not None
        while True:
            due = [
                d
                for d in self.sb.deliveries
                if d["status"] in ("pending", "retrying") and d["next_at"] <= self.sb.now()
            ]
            for delivery in due:
                await self._attempt(delivery)
            waiting = [d["next_at"] for d in self.sb.deliveries if d["status"] in ("pending", "retrying")]
            self.wakeup.clear()
            timeout = min(max(0.0, min(waiting) - self.sb.now()), 0.5) if waiting else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        acct = self.sb.accounts.get(delivery["account_id"])
        hook = acct.data["webhook"].get(delivery["webhook_id"]) if acct else None
        if hook is None or not hook["IsActive"]:
            delivery["status"] = "cancelled"
            return
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=float(self.sb.config.get("webhook_timeout", 5.0)))
        body = dumps(delivery["payload"])
        status: int | None = None
        error: str | None = None
        try:
            resp = await self.client.post(
                hook["ExternalURL"], content=body, headers={"Content-Type": "application/json", **auth_headers(hook)}
            )
            status = resp.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery["attempts"].append(
            {"attempt": len(delivery["attempts"]) + 1, "at": iso_now(), "status_code": status, "error": error}
        )
        self.sb.dirty = True
        if status is not None and 200 <= status < 300:
            delivery["status"] = "delivered"
            self.sb.counters["webhooks"]["delivered"] += 1
            return
        self.sb.counters["webhooks"]["failed_attempts"] += 1
        retries = [float(m) for m in self.sb.config.get("webhook_retry_minutes", [])]
        done = len(delivery["attempts"]) - 1
        if done < len(retries):
            delivery["status"] = "retrying"
            delivery["next_at"] = self.sb.now() + retries[done] * 60
            return
        delivery["status"] = "failed"
        hook["IsActive"] = False
        self.sb.counters["webhooks"]["deactivated"] += 1

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.client is not None:
            await self.client.aclose()
            self.client = None


__all__ = ["WebhookDispatcher", "auth_headers", "json"]
