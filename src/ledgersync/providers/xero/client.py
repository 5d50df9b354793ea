"""HTTP client for one Xero tenant: tokens, pacing, idempotency keys, bounded retries, error mapping."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import CallInfo, TokenStore
from ledgersync.providers.pacing import Budget, MovingWindowPacer, daily_limit_error
from ledgersync.providers.session import PlatformSession
from ledgersync.providers.xero.errors import (
    RECONNECT_HINT,
    response_error,
    retry_after_seconds,
    transport_error,
)
from ledgersync.providers.xero.mapping import dumps
from ledgersync.providers.xero.oauth import XeroOAuth

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 500/502/504 answer to a write may come after Xero saved it; 503 means Xero did not take the request.
_AMBIGUOUS_WRITE_STATUSES = frozenset({500, 502, 504})
MAX_KEY = 128


def idempotency_key_for(keys: Sequence[str]) -> str:
    """One Idempotency-Key (<= 128 chars) for a call carrying these writes' keys.

    The same writes in the same order always give the same key, so a retried batch replays safely."""
    if len(keys) == 1 and len(keys[0]) <= MAX_KEY:
        return keys[0]
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    return f"batch-{len(keys)}-{digest}"


class XeroClient(PlatformSession):
    """Calls to Xero's Accounting API for one tenant. Thread-safe; one per connection.

    Every call goes through the tenant's pacer and the TokenStore; it refreshes the access token shortly
    before expiry and once on a 401, retries transient failures a bounded number of times within a bounded
    total time, and turns failures into ProviderErrors carrying canonical SyncErrors."""

    def __init__(
        self,
        tenant_id: str,
        tokens: TokenStore,
        oauth: XeroOAuth,
        *,
        pacer: Budget | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        refresh_margin: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        on_call: Callable[[CallInfo], None] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.api_url = oauth.endpoints.api
        self.pacer: Budget = pacer or MovingWindowPacer()
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self._init_session(
            tokens,
            oauth,
            refresh_margin=refresh_margin,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            jitter=jitter,
            http=http,
            transport=transport,
            timeout=timeout,
            on_call=on_call,
        )
        self._sleep = sleep
        self._clock = clock

    # ------------------------------------------------------------ calls

    def get(self, path: str, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params, headers=headers)

    def write(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        idempotency_key: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        return self.request(method, path, params=params, body=body, idempotency_key=idempotency_key)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        allow_not_found: bool = False,
    ) -> Any:
        """Send one call and return its parsed JSON (None for an allowed 404 or an empty body)."""
        self._raise_if_disconnected()
        is_write = method.upper() in ("PUT", "POST")
        if is_write and not idempotency_key:
            raise ValueError("every Xero write needs an Idempotency-Key")
        send_headers = {"xero-tenant-id": self.tenant_id, "Accept": "application/json", **(headers or {})}
        content: bytes | None = None
        if body is not None:
            content = dumps(body).encode()
            send_headers["Content-Type"] = "application/json"
        if idempotency_key:
            send_headers["Idempotency-Key"] = idempotency_key[:MAX_KEY]
        url = f"{self.api_url}/{path.lstrip('/')}"

        started = self._clock()
        attempt = 0
        refreshed_after_401 = False
        outcome_unknown = False
        slept = 0.0
        while True:
            attempt += 1
            pacer_waits = False
            token = self._token()
            try:
                with self.pacer.acquire():
                    response = self._send(
                        method,
                        path,
                        url,
                        params=dict(params or {}),
                        content=content,
                        headers={**send_headers, "Authorization": f"Bearer {token.access_token}"},
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached Xero: safe to retry, nothing to reconcile.
                failure: ProviderError = transport_error(exc, outcome_unknown=outcome_unknown)
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                # Timed out or dropped after sending: a write may have been saved. Retrying with the same
                # Idempotency-Key is Xero's documented way to find out without duplicating it.
                outcome_unknown = outcome_unknown or is_write
                failure = transport_error(exc, outcome_unknown=outcome_unknown)
                delay = self._backoff(attempt)
            else:
                self.pacer.observe(response.headers)
                status = response.status_code
                if status == 401 and not refreshed_after_401:
                    refreshed_after_401 = True
                    self._refresh(token)
                    attempt -= 1
                    continue
                if status < 400 or (status == 404 and allow_not_found):
                    return self._parse(response) if status != 404 else None
                body_json = self._parse_quietly(response)
                if status == 401:
                    raise ProviderError(
                        SyncError(
                            code=ErrorCode.AUTH_EXPIRED,
                            message="Xero refused this connection's sign-in even after renewing it.",
                            hint=RECONNECT_HINT,
                            platform_code="401",
                            platform_message=_first_text(body_json),
                        )
                    )
                if status == 429:
                    retry_after = retry_after_seconds(response.headers)
                    problem = response.headers.get("x-rate-limit-problem")
                    self.pacer.penalise(retry_after, problem)
                    if (problem or "").lower().startswith("day"):
                        raise daily_limit_error(retry_after)
                    failure = ProviderError(response_error(response, body_json, is_write=is_write))
                    # The pacer now holds every call of this tenant for Retry-After; waiting here too would
                    # double it. `delay` still counts against the retry time budget.
                    delay = retry_after
                    pacer_waits = True
                elif status in RETRY_STATUSES:
                    if is_write and status in _AMBIGUOUS_WRITE_STATUSES:
                        outcome_unknown = True
                    failure = ProviderError(response_error(response, body_json, is_write=is_write))
                    delay = self._backoff(attempt)
                else:
                    # 400 and friends: Xero answered definitively, so an earlier unknown outcome is resolved.
                    raise ProviderError(response_error(response, body_json, is_write=is_write))
            elapsed = max(self._clock() - started, slept)
            if attempt >= self.max_attempts or elapsed + delay > self.max_retry_seconds:
                if outcome_unknown and failure.error.code is not ErrorCode.UNKNOWN_OUTCOME:
                    raise ProviderError(
                        failure.error.model_copy(
                            update={
                                "code": ErrorCode.UNKNOWN_OUTCOME,
                                "message": "Xero did not confirm the change, so we don't know whether it was saved.",
                                "hint": "It is checked in Xero before being retried; nothing needs doing.",
                            }
                        )
                    ) from failure
                raise failure
            if not pacer_waits:
                self._sleep(delay)
            slept += delay

    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        return response.headers.get("xero-correlation-id") if response is not None else None


def _first_text(body: Any) -> str | None:
    if isinstance(body, Mapping):
        for key in ("Detail", "Message", "Title"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return body if isinstance(body, str) else None
