"""HTTP client for one DEAR account: header authentication, the 60-a-minute budget and JSON bodies."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import CallInfo, OAuthToken, Tenant, TokenStore
from ledgersync.providers.budget import MINUTE, Budget, BudgetBackend, Call, Policy
from ledgersync.providers.dear.config import DEFAULT_API, DearConfig
from ledgersync.providers.dear.errors import RECONNECT_HINT, DearErrors
from ledgersync.providers.dear.mapping import dumps
from ledgersync.providers.session import PlatformSession


def dear_policies(per_minute: int = 60) -> tuple[Policy, ...]:
    """DEAR's published limit: 60 calls a minute per API application (openapi.yaml info.description)."""
    return (Policy("minute", per_minute, MINUTE, source="openapi.yaml info.description: 60 calls per minute"),)


def api_url(config: DearConfig) -> str:
    if config.base_url:
        return config.base_url.rstrip("/") + "/ExternalApi/v2/"
    return DEFAULT_API


class _NoTokens:
    """DEAR has no tokens: the keys are sent on every call. Satisfies the session's TokenStore/OAuthFlow slots."""

    def load(self) -> OAuthToken:
        raise ProviderError(_missing_keys())

    def refresh(self, stale: OAuthToken, do_refresh: Callable[[OAuthToken], OAuthToken]) -> OAuthToken:
        raise ProviderError(_missing_keys())

    def mark_needs_reconnect(self, reason: str) -> None:
        return None


class _NoOAuth:
    """DEAR has no OAuth: the session's OAuth slot, never used (its keys are not refreshed)."""

    def authorization_url(self, state: str) -> str:
        raise NotImplementedError

    def exchange(self, code: str) -> OAuthToken:
        raise NotImplementedError

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        return []

    def refresh(self, token: OAuthToken) -> OAuthToken:
        raise ProviderError(_missing_keys())


def _missing_keys() -> SyncError:
    return SyncError(
        code=ErrorCode.AUTH_REVOKED,
        message="This DEAR connection has no Account ID and Application Key.",
        hint=RECONNECT_HINT,
    )


class DearClient(PlatformSession):
    """Calls to the Cin7 Core API v2 for one account. Every call carries api-auth-accountid and
    api-auth-applicationkey, goes through the application's budget (60 a minute) and the shared retry loop."""

    def __init__(
        self,
        config: DearConfig,
        *,
        tokens: TokenStore | None = None,
        budget: BudgetBackend | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        on_call: Callable[[CallInfo], None] | None = None,
        max_wait: float = 120.0,
    ) -> None:
        self.config = config
        self.api = api_url(config)
        self.account_id = config.account_id or ""
        self._key = config.secret("application_key") or ""
        self.reconnect = tokens
        none = _NoTokens()
        application = hashlib.sha256(f"{self.account_id}:{self._key}".encode()).hexdigest()[:16]
        self._init_session(
            none,
            _NoOAuth(),
            interpreter=DearErrors(config.rate_limit_wait_seconds),
            budget=Budget(
                dear_policies(config.per_minute),
                app=f"dear:{application}",
                tenant=self.account_id,
                backend=budget,
                sleep=sleep,
                max_wait=max_wait,
            ),
            max_attempts=config.max_attempts,
            # A 503 holds every call for DEAR's minute; the usual retry allowance comes on top of that wait.
            max_retry_seconds=config.max_retry_seconds + config.rate_limit_wait_seconds,
            refresh_margin=0.0,
            backoff_base=0.5,
            backoff_cap=20.0,
            jitter=jitter,
            sleep=sleep,
            clock=clock,
            transport=transport,
            timeout=config.timeout,
            on_call=on_call,
        )

    def _credentials(self) -> tuple[OAuthToken | None, dict[str, str]]:
        if not self.account_id or not self._key:
            raise ProviderError(_missing_keys())
        return None, {"api-auth-accountid": self.account_id, "api-auth-applicationkey": self._key}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow_not_found: bool = False,
    ) -> Any:
        is_write = method.upper() in ("POST", "PUT", "DELETE")
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        if body is not None:
            content = dumps(body)
            headers["Content-Type"] = "application/json"
        call = Call(method.upper(), path.strip("/"), is_write=is_write, allow_not_found=allow_not_found)
        query = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items() if v is not None
        }
        try:
            return self._call(call, self.api + path.strip("/"), params=query, content=content, headers=headers)
        except ProviderError as exc:
            if exc.error.code is ErrorCode.AUTH_REVOKED and self.reconnect is not None:
                # Keys refused: the connection needs a person to enter them again; no further call goes out.
                self._disconnect(exc.error)
                self.reconnect.mark_needs_reconnect(exc.error.platform_message or exc.error.message)
            raise

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def me(self) -> dict[str, Any]:
        found = self.get("me")
        if not isinstance(found, dict):
            raise ProviderError(_missing_keys())
        return found


__all__ = ["DearClient", "api_url", "dear_policies"]
