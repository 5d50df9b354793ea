"""What every platform client shares: the connection's token with single-flight refresh, the stop after a
refused refresh, and backoff with jitter between retries."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthFlow, OAuthToken, TokenStore


class PlatformSession:
    """Base of the platform clients. Subclasses call `_init_session` and then use `_token`, `_refresh`,
    `_raise_if_disconnected` and `_backoff`."""

    tokens: TokenStore
    oauth: OAuthFlow
    refresh_margin: float
    backoff_base: float
    backoff_cap: float
    _jitter: Callable[[], float]

    def _init_session(
        self,
        tokens: TokenStore,
        oauth: OAuthFlow,
        *,
        refresh_margin: float,
        backoff_base: float,
        backoff_cap: float,
        jitter: Callable[[], float] = random.random,
    ) -> None:
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
