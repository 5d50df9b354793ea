"""What the OAuth2 authorization-code clients of Xero, QuickBooks Online and MYOB share: the app's credentials,
reading the callback, the token answer, the code exchange and refresh, and the errors they raise.

Each platform's `oauth.py` keeps its endpoints, what it reads beyond the code (QuickBooks' realmId, MYOB's
businessId) and how it names the tenants. `providers/connect.OAuth2CodeFlow` is the engine's side: it drives
one of these clients through a connect."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.config import OAuthAppConfig

# Refusals meaning the refresh token (or the app's credentials) will never work again.
DEAD_GRANT = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


def new_state() -> str:
    """An unguessable `state` for one connect attempt; the engine keeps it and compares it on return."""
    return secrets.token_urlsafe(24)


def callback_params(url_or_query: str, platform: str, hint: str) -> dict[str, str]:
    """The parameters of the redirect back from the platform (a URL or its query string); ProviderError
    (AUTH_REVOKED, with `hint`) if the person declined consent."""
    query = urlsplit(url_or_query).query if "?" in url_or_query else url_or_query.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.AUTH_REVOKED,
                message=f"{platform} did not grant access (the connection was cancelled or refused).",
                hint=hint,
                platform_code=params["error"],
                platform_message=params.get("error_description"),
            )
        )
    return params


def incomplete_callback(message: str, hint: str = "Start the connection again.") -> ProviderError:
    """The redirect came back without what the exchange needs (its code, state, the business chosen)."""
    return ProviderError(SyncError(code=ErrorCode.VALIDATION, message=message, hint=hint))


def token_fields(data: Mapping[str, Any], lifetime: float, now: dt.datetime | None = None) -> dict[str, Any]:
    """An OAuthToken's fields from a token endpoint's answer; `lifetime` (seconds) where it omits expires_in."""
    now = now or dt.datetime.now(dt.UTC)
    return {
        "access_token": str(data["access_token"]),
        "refresh_token": str(data.get("refresh_token") or ""),
        "expires_at": now + dt.timedelta(seconds=float(data.get("expires_in") or lifetime)),
        "scope": str(data.get("scope") or ""),
        "token_type": str(data.get("token_type") or "Bearer"),
    }


class OAuth2CodeClient:
    """Base of a platform's OAuthFlow: the app's credentials and the errors of its sign-in calls.

    `platform` is the name messages use ("Xero"), `possessive` its possessive ("QuickBooks'")."""

    platform: ClassVar[str]
    possessive: ClassVar[str]

    def __init__(
        self,
        cfg: OAuthAppConfig,
        default_scopes: str,
        transport: httpx.BaseTransport | None,
        timeout: float | None = None,
    ) -> None:
        self.client_id = cfg.client_id
        self._secret = cfg.client_secret.get_secret_value()
        self.redirect_uri = cfg.redirect_uri
        self.scopes = cfg.scopes or default_scopes
        self._timeout = cfg.timeout if timeout is None else timeout
        self._transport = transport

    def _http(self) -> httpx.Client:
        return httpx.Client(timeout=self._timeout, transport=self._transport)

    def _unreachable(self, exc: Exception) -> ProviderError:
        return ProviderError(
            SyncError(
                code=ErrorCode.UNAVAILABLE,
                message=f"{self.possessive} sign-in service could not be reached.",
                hint="This retries by itself; nothing needs doing.",
                platform_code=type(exc).__name__,
                platform_message=str(exc) or None,
            )
        )

    def _code_refused(self, platform_code: str | None, platform_message: str | None) -> ProviderError:
        return ProviderError(
            SyncError(
                code=ErrorCode.AUTH_REVOKED,
                message=f"{self.platform} did not accept the sign-in (the link was used already or has expired).",
                hint="Start the connection again.",
                platform_code=platform_code,
                platform_message=platform_message,
            )
        )

    def _listing_refused(self, what: str, status: int, hint: str) -> ProviderError:
        """The token was refused on the call that names the tenants (AUTH_EXPIRED)."""
        return ProviderError(
            SyncError(
                code=ErrorCode.AUTH_EXPIRED,
                message=f"{self.platform} did not accept the sign-in when listing {what}.",
                hint=hint,
                platform_code=str(status),
            )
        )


class _Endpoints(Protocol):
    @property
    def authorize(self) -> str: ...

    @property
    def token(self) -> str: ...


class AuthlibCodeClient(OAuth2CodeClient):
    """Xero and QuickBooks Online: the consent URL, code exchange and refresh through Authlib (client secret in
    HTTP Basic). `_renewal_refused` is the platform's error for a refresh token that will never work again."""

    endpoints: _Endpoints

    def _renewal_refused(self, platform_message: str | None) -> SyncError:
        raise NotImplementedError

    def _session(self) -> OAuth2Client:
        # A fresh Authlib client per call: it keeps token state on itself, and refreshes run on many threads.
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self._secret,
            token_endpoint_auth_method="client_secret_basic",
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            timeout=self._timeout,
            transport=self._transport,
        )

    def authorization_url(self, state: str) -> str:
        with self._session() as session:
            url, _ = session.create_authorization_url(self.endpoints.authorize, state=state)
        return str(url)

    def _fetch_token(self, code: str) -> Mapping[str, Any]:
        """The token endpoint's answer to an authorization code."""
        try:
            with self._session() as session:
                data: Mapping[str, Any] = session.fetch_token(
                    self.endpoints.token, grant_type="authorization_code", code=code
                )
        except OAuthError as exc:
            raise self._code_refused(exc.error, exc.description) from exc
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return data

    def _refresh_token(self, refresh_token: str) -> Mapping[str, Any]:
        """The token endpoint's answer to a refresh token; a dead grant is AUTH_REVOKED, the rest transient."""
        try:
            with self._session() as session:
                data: Mapping[str, Any] = session.refresh_token(self.endpoints.token, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in DEAD_GRANT:
                raise ProviderError(self._renewal_refused(exc.description or exc.error)) from exc
            raise self._unreachable(exc) from exc
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return data
