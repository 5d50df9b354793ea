"""HTTP client for one Xero tenant: request building, Xero's published limits and its request id."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ledgersync.providers.base import CallInfo, TokenStore
from ledgersync.providers.budget import DAY, MINUTE, Budget, BudgetBackend, Call, Policy
from ledgersync.providers.session import PlatformSession
from ledgersync.providers.xero.errors import XeroErrors
from ledgersync.providers.xero.mapping import dumps
from ledgersync.providers.xero.oauth import XeroOAuth

MAX_KEY = 128


def xero_policies(
    *, concurrent: int = 5, per_minute: int = 60, per_day: int = 5000, app_per_minute: int = 10_000
) -> tuple[Policy, ...]:
    """Xero's published limits (developer.xero.com/faq/limits): per tenant 5 calls in flight, 60 a minute and
    5,000 a day; 10,000 a minute per app across its tenants. Names are Xero's X-Rate-Limit-Problem values
    ("minute" and "day" are documented; "concurrent" and "appminute" are UNVERIFIED)."""
    source = "developer.xero.com/faq/limits"
    return (
        Policy("minute", per_minute, MINUTE, remaining_headers=("X-MinLimit-Remaining",), source=source),
        Policy("day", per_day, DAY, remaining_headers=("X-DayLimit-Remaining",), park=True, source=source),
        Policy("concurrent", concurrent, 0.0, source=source),
        Policy(
            "appminute",
            app_per_minute,
            MINUTE,
            scope="app",
            # X-AppLimit-Remaining is an older spelling some answers have carried (UNVERIFIED).
            remaining_headers=("X-AppMinLimit-Remaining", "X-AppLimit-Remaining"),
            source=source,
        ),
    )


XERO_POLICIES = xero_policies()


def idempotency_key_for(keys: Sequence[str]) -> str:
    """One Idempotency-Key (<= 128 chars) for a call carrying these writes' keys.

    The same writes in the same order always give the same key, so a retried batch replays safely."""
    if len(keys) == 1 and len(keys[0]) <= MAX_KEY:
        return keys[0]
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    return f"batch-{len(keys)}-{digest}"


class XeroClient(PlatformSession):
    """Calls to Xero's Accounting API for one tenant. Thread-safe; one per connection.

    Every call goes through the tenant's budget and the TokenStore and is sent by the shared retry loop with
    Xero's error interpreter: the access token is refreshed shortly before expiry and once on a 401, transient
    failures are retried a bounded number of times within a bounded total time, and failures become
    ProviderErrors carrying canonical SyncErrors."""

    def __init__(
        self,
        tenant_id: str,
        tokens: TokenStore,
        oauth: XeroOAuth,
        *,
        budget: BudgetBackend | None = None,
        policies: Sequence[Policy] = XERO_POLICIES,
        max_wait: float = 90.0,
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
        self._init_session(
            tokens,
            oauth,
            interpreter=XeroErrors(),
            budget=Budget(
                policies,
                app=f"xero:{oauth.client_id}",
                tenant=tenant_id,
                backend=budget,
                sleep=sleep,
                max_wait=max_wait,
            ),
            max_attempts=max_attempts,
            max_retry_seconds=max_retry_seconds,
            refresh_margin=refresh_margin,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            jitter=jitter,
            sleep=sleep,
            clock=clock,
            http=http,
            transport=transport,
            timeout=timeout,
            on_call=on_call,
        )

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
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        """Send one call and return its parsed JSON (None for an allowed 404 or an empty body). `content` is a
        raw body (an attachment's bytes) sent as `content_type` instead of `body`'s JSON; a file's bytes come
        back as bytes."""
        is_write = method.upper() in ("PUT", "POST")
        if is_write and not idempotency_key:
            raise ValueError("every Xero write needs an Idempotency-Key")
        send_headers = {"xero-tenant-id": self.tenant_id, "Accept": "application/json", **(headers or {})}
        if body is not None:
            content = dumps(body).encode()
            send_headers["Content-Type"] = "application/json"
        elif content is not None:
            send_headers["Content-Type"] = content_type or "application/octet-stream"
        if idempotency_key:
            send_headers["Idempotency-Key"] = idempotency_key[:MAX_KEY]
        call = Call(method, path, is_write=is_write, allow_not_found=allow_not_found)
        url = f"{self.api_url}/{path.lstrip('/')}"
        return self._call(call, url, params=dict(params or {}), content=content, headers=send_headers)

    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        return response.headers.get("xero-correlation-id") if response is not None else None
