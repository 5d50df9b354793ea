"""What every platform client shares: the connection's token with single-flight refresh, the stop after a
refused refresh, backoff with jitter, and sending one HTTP call with its report for the event log."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import CallInfo, OAuthFlow, OAuthToken, TokenStore


def loads_exact(content: bytes | str) -> Any:
    """Parse a platform's JSON without ever passing money through float."""
    return json.loads(content, parse_float=Decimal)


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class PlatformSession:
    """Base of the platform clients. Subclasses call `_init_session` and then use `_token`, `_refresh`,
    `_raise_if_disconnected`, `_backoff` and `_send`; they name the platform's request id in `_request_id`."""

    tokens: TokenStore
    oauth: OAuthFlow
    refresh_margin: float
    backoff_base: float
    backoff_cap: float
    _jitter: Callable[[], float]
    on_call: Callable[[CallInfo], None] | None
    http: httpx.Client

    def _init_session(
        self,
        tokens: TokenStore,
        oauth: OAuthFlow,
        *,
        refresh_margin: float,
        backoff_base: float,
        backoff_cap: float,
        jitter: Callable[[], float] = random.random,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        on_call: Callable[[CallInfo], None] | None = None,
    ) -> None:
        self.on_call = on_call
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout, transport=transport)
        self.tokens = tokens
        self.oauth = oauth
        self.refresh_margin = refresh_margin
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._jitter = jitter
        self._dead_lock = threading.Lock()
        self._dead: SyncError | None = None

    def _do_refresh(self, stale: OAuthToken) -> OAuthToken:
        return self.oauth.refresh(stale)

    def _refresh(self, stale: OAuthToken) -> OAuthToken:
        """Refresh through the TokenStore (one refresh however many callers); a refusal disconnects."""
        try:
            return self.tokens.refresh(stale, self._do_refresh)
        except ProviderError as exc:
            if exc.error.code is ErrorCode.AUTH_REVOKED:
                self._disconnect(exc.error)
            raise

    def _disconnect(self, error: SyncError) -> None:
        with self._dead_lock:
            first = self._dead is None
            self._dead = self._dead or error
        if first:
            self.tokens.mark_needs_reconnect(error.platform_message or error.message)

    def _raise_if_disconnected(self) -> None:
        # After a refused refresh no further call goes out: the connection needs a person to reconnect.
        if self._dead is not None:
            raise ProviderError(self._dead)

    def _token(self) -> OAuthToken:
        token = self.tokens.load()
        if token.expires_within(self.refresh_margin):
            token = self._refresh(token)
        return token

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * float(2 ** (attempt - 1)))
        # Equal jitter: never less than half the step, so retries still back off, but spread across workers.
        return ceiling / 2 + self._jitter() * ceiling / 2

    # -- one call ---------------------------------------------------------------------------------------
    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        """The id the platform (or our request) gives this call, for the event log."""
        return None

    def _send(
        self,
        method: str,
        path: str,
        url: str,
        *,
        params: dict[str, str],
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, params=params, content=content, headers=headers)
        except httpx.TransportError as exc:
            self._report(
                CallInfo(
                    method,
                    path,
                    None,
                    elapsed_ms(started),
                    request_id=self._request_id(None, params),
                    error=type(exc).__name__,
                )
            )
            raise
        self._report(
            CallInfo(
                method,
                path,
                response.status_code,
                elapsed_ms(started),
                request_id=self._request_id(response, params),
            )
        )
        return response

    def _report(self, info: CallInfo) -> None:
        if self.on_call is not None:
            # The event log must never break a sync.
            with contextlib.suppress(Exception):
                self.on_call(info)

    @staticmethod
    def _parse(response: httpx.Response) -> Any:
        if not response.content:
            return None
        return loads_exact(response.content)

    @staticmethod
    def _parse_quietly(response: httpx.Response) -> Any:
        try:
            return loads_exact(response.content) if response.content else None
        except ValueError:
            return response.text

    def close(self) -> None:
        if self._owns_http:
            self.http.close()
