"""HTTP client for one MYOB business: MYOB's headers, its limits per API key, and its request id."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from ledgersync.providers.base import CallInfo, TokenStore
from ledgersync.providers.budget import DAY, SECOND, Budget, BudgetBackend, Call, Policy
from ledgersync.providers.myob.errors import MyobErrors
from ledgersync.providers.myob.mapping import dumps
from ledgersync.providers.myob.oauth import MyobOAuth
from ledgersync.providers.session import PlatformSession

API_VERSION = "v2"


def myob_policies(*, per_second: int = 8, per_day: int = 1_000_000) -> tuple[Policy, ...]:
    """MYOB's limits: 8 calls a second and 1,000,000 a day per API key, across every business the key reaches
    (MYOB staff, community.myob.com thread 693742), so both windows are the app's. MYOB sends no remaining-calls
    headers."""
    source = "community.myob.com/t5/.../693742"
    return (
        # A one-second window counted from the answer would cost each call its latency; start it at most 0.1 s
        # after the send (see Policy.latency_cap).
        Policy("second", per_second, SECOND, scope="app", latency_cap=0.1, source=source),
        Policy("day", per_day, DAY, scope="app", park=True, source=source),
    )


class MyobClient(PlatformSession):
    """Calls to the MYOB Business API for one business (company file). Thread-safe; one per connection."""

    def __init__(
        self,
        business_id: str,
        tokens: TokenStore,
        oauth: MyobOAuth,
        *,
        budget: BudgetBackend | None = None,
        policies: Sequence[Policy] | None = None,
        max_wait: float = 90.0,
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
        self.business_id = business_id
        self.api_key = oauth.client_id
        self.api_url = f"{oauth.endpoints.api}/{business_id}"
        self._init_session(
            tokens,
            oauth,
            interpreter=MyobErrors(),
            budget=Budget(
                policies if policies is not None else myob_policies(),
                app=f"myob:{oauth.client_id}",
                tenant=business_id,
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
            transport=transport,
            timeout=timeout,
            on_call=on_call,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        allow_not_found: bool = False,
    ) -> Any:
        """One call under /accountright/{businessId}/; its parsed JSON (None for an empty body or allowed 404)."""
        method = method.upper()
        is_write = method in ("POST", "PUT", "DELETE")
        headers = {
            "x-myobapi-key": self.api_key,
            "x-myobapi-version": API_VERSION,
            "Accept": "application/json",
            "Accept-Encoding": "gzip,deflate",
        }
        content: bytes | None = None
        query = dict(params or {})
        if body is not None:
            content = dumps(body)
            headers["Content-Type"] = "application/json"
        if method in ("POST", "PUT"):
            query.setdefault("returnBody", "true")
        call = Call(method, path, is_write=is_write, allow_not_found=allow_not_found)
        url = f"{self.api_url}/{path.lstrip('/')}"
        return self._call(call, url, params=query, content=content, headers=headers)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def _request_id(self, response: httpx.Response | None, params: dict[str, str]) -> str | None:
        # The .NET SDK reads x-myobapi-requestid into its exceptions.
        return response.headers.get("x-myobapi-requestid") if response is not None else None
