"""Test doubles for the providers: an in-memory single-flight TokenStore and a scripted Xero transport."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken

CONFIG = {
    "client_id": "app-1",
    "client_secret": "secret-1",
    "redirect_uri": "http://127.0.0.1:9/callback",
    "base_url": "http://xero.test",
}


def token(access: str = "at-1", refresh: str = "rt-1", seconds: float = 1800) -> OAuthToken:
    return OAuthToken(access, refresh, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))


class MemoryTokenStore:
    """The TokenStore contract in memory: refreshes are single-flight under one lock."""

    def __init__(self, initial: OAuthToken | None = None) -> None:
        self.token = initial or token()
        self.lock = threading.Lock()
        self.refreshes = 0
        self.reconnect_reason: str | None = None

    def load(self) -> OAuthToken:
        if self.reconnect_reason is not None:
            raise ProviderError(SyncError(code=ErrorCode.AUTH_REVOKED, message=self.reconnect_reason))
        return self.token

    def refresh(self, stale: OAuthToken, do_refresh: Callable[[OAuthToken], OAuthToken]) -> OAuthToken:
        with self.lock:
            if self.token.access_token != stale.access_token and not self.token.expires_within(60):
                return self.token
            fresh = do_refresh(self.token)
            self.token = fresh
            self.refreshes += 1
            return fresh

    def mark_needs_reconnect(self, reason: str) -> None:
        self.reconnect_reason = reason


Handler = Callable[[httpx.Request], httpx.Response]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers or {})


@dataclass
class Script:
    """A MockTransport handler that answers each request from a queue (or a fallback) and records it."""

    responses: list[Handler | httpx.Response | Exception] = field(default_factory=list)
    fallback: Handler | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            request.read()
            self.requests.append(request)
            item = self.responses.pop(0) if self.responses else None
        if item is None:
            if self.fallback is None:
                raise AssertionError(f"unexpected request {request.method} {request.url}")
            return self.fallback(request)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/api.xro/2.0/" in r.url.path]
