"""The store-backed TokenStore: encrypted tokens, and refreshes that happen once however many ask at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken
from ledgersync.store.repo import Store
from ledgersync.store.tables import utcnow

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(conn_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(conn_id, threading.Lock())


class StoreTokenStore:
    """Threads of one process queue on an in-process lock; processes queue on the connection's row lock.
    Whoever gets the lock first re-reads the token: if another refreshed it meanwhile, that one is used."""

    def __init__(self, store: Store, conn_id: str) -> None:
        # Never fenced: what the platform said about the credentials is true whoever holds the sync lease.
        self.store = store.unfenced
        self.conn_id = conn_id
        self.refreshes = 0
        # The last token decrypted, by its ciphertext: every call re-reads the row (another process may have
        # refreshed it or marked the connection), and decrypts only when it changed.
        self._opened: tuple[bytes, OAuthToken] | None = None

    def load(self) -> OAuthToken:
        status, reason, blob = self.store.token_with_status(self.conn_id)
        if status == "needs_reconnect":
            raise ProviderError(_reconnect_error(reason or "the platform refused the connection"))
        if not blob:
            raise ProviderError(_reconnect_error("the connection has no tokens"))
        opened = self._opened
        if opened is not None and opened[0] == blob:
            return opened[1]
        token = self.store.open_token(blob)
        self._opened = (blob, token)
        return token

    def refresh(self, stale: OAuthToken, do_refresh: Callable[[OAuthToken], OAuthToken]) -> OAuthToken:
        with _lock_for(self.conn_id), self.store.connection_row_lock(self.conn_id) as s:
            current = self.store.load_token(self.conn_id, s)
            if current is None:
                raise ProviderError(_reconnect_error("the connection has no tokens"))
            if current.access_token != stale.access_token and not current.expires_within(60):
                return current
            fresh = do_refresh(current)
            # Saved in the same transaction that holds the lock: a crash right after the platform rotated
            # the refresh token loses it, which Xero's 30-minute grace on the old token covers.
            self.store.save_token(self.conn_id, fresh, s)
            self.refreshes += 1
        self.store.log("token_refresh", connection_id=self.conn_id, message="access token refreshed")
        return fresh

    def mark_needs_reconnect(self, reason: str) -> None:
        self.store.update_connection(self.conn_id, status="needs_reconnect", status_reason=reason)
        self.store.log(
            "connection",
            connection_id=self.conn_id,
            outcome="needs_reconnect",
            message=reason,
        )


def _reconnect_error(reason: str) -> SyncError:
    return SyncError(
        code=ErrorCode.AUTH_REVOKED,
        message=f"The connection needs to be re-authorised: {reason}.",
        hint="Use Refresh link (ledgersync connect) to reconnect; every link is kept and sync resumes.",
    )


__all__ = ["StoreTokenStore", "utcnow"]
