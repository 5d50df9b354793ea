"""Xero's OAuth2 connect flow (authorization code, refresh, revoke, tenant discovery) over Authlib + httpx."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.xero.config import XeroConfig
from ledgersync.providers.xero.errors import RECONNECT_HINT, auth_revoked
from ledgersync.providers.xero.mapping import loads

# Granular scopes are required for Xero apps created from March 2026; older apps use accounting.transactions.
DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.invoices accounting.payments"
)
# Refusals meaning the refresh token (or the app's credentials) will never work again.
_DEAD_GRANT = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


@dataclass(frozen=True)
class XeroEndpoints:
    authorize: str
    token: str
    revocation: str
    connections: str
    api: str

    @classmethod
    def from_config(cls, config: XeroConfig | Mapping[str, Any]) -> XeroEndpoints:
        raw = config.base_url if isinstance(config, XeroConfig) else config.get("base_url")
        base = (raw or "").rstrip("/")
        if base:
            # A local sandbox serves every host's paths on one origin.
            return cls(
                authorize=f"{base}/identity/connect/authorize",
                token=f"{base}/connect/token",
                revocation=f"{base}/connect/revocation",
                connections=f"{base}/connections",
                api=f"{base}/api.xro/2.0",
            )
        return cls(
            authorize="https://login.xero.com/identity/connect/authorize",
            token="https://identity.xero.com/connect/token",
            revocation="https://identity.xero.com/connect/revocation",
            connections="https://api.xero.com/connections",
            api="https://api.xero.com/api.xro/2.0",
        )


def new_state() -> str:
    """An unguessable `state` for one connect attempt; the engine keeps it and compares it on return."""
    return secrets.token_urlsafe(24)


def parse_callback(url_or_query: str) -> tuple[str, str]:
    """(code, state) from the redirect back from Xero; ProviderError if the person declined consent."""
    query = urlsplit(url_or_query).query if "?" in url_or_query else url_or_query.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.AUTH_REVOKED,
                message="Xero did not grant access (the connection was cancelled or refused).",
                hint="Start the connection again and choose Allow access in Xero.",
                platform_code=params["error"],
                platform_message=params.get("error_description"),
            )
        )
    if "code" not in params or "state" not in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="The answer from Xero is missing its code or state.",
                hint="Start the connection again.",
            )
        )
    return params["code"], params["state"]


def token_from_response(data: Mapping[str, Any], now: dt.datetime | None = None) -> OAuthToken:
    now = now or dt.datetime.now(dt.UTC)
    expires_in = float(data.get("expires_in") or 1800)
    return OAuthToken(
        access_token=str(data["access_token"]),
        refresh_token=str(data.get("refresh_token") or ""),
        expires_at=now + dt.timedelta(seconds=expires_in),
        scope=str(data.get("scope") or ""),
        token_type=str(data.get("token_type") or "Bearer"),
    )


class XeroOAuth:
    """OAuthFlow for one Xero app (XeroConfig: client_id, client_secret, redirect_uri, scopes, base_url,
    timeout). Settings as a mapping are validated into XeroConfig (ConfigError if they do not fit)."""

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = XeroConfig.coerce(config)
        self.client_id = cfg.client_id
        self._secret = cfg.client_secret.get_secret_value()
        self.redirect_uri = cfg.redirect_uri
        self.scopes = cfg.scopes or DEFAULT_SCOPES
        self.endpoints = XeroEndpoints.from_config(cfg)
        self._timeout = cfg.timeout
        self._transport = transport

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

    def exchange(self, code: str) -> OAuthToken:
        if "code=" in code:
            # The whole callback (URL or query string) was handed over: every provider accepts that form.
            code = parse_callback(code)[0]
        try:
            with self._session() as session:
                data = session.fetch_token(self.endpoints.token, grant_type="authorization_code", code=code)
        except OAuthError as exc:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="Xero did not accept the sign-in (the link was used already or has expired).",
                    hint="Start the connection again.",
                    platform_code=exc.error,
                    platform_message=exc.description,
                )
            ) from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        return token_from_response(data)

    def refresh(self, token: OAuthToken) -> OAuthToken:
        try:
            with self._session() as session:
                data = session.refresh_token(self.endpoints.token, refresh_token=token.refresh_token)
        except OAuthError as exc:
            if exc.error in _DEAD_GRANT:
                raise ProviderError(auth_revoked(exc.description or exc.error)) from exc
            raise _unreachable(exc) from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        return token_from_response(data)

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The organisations this consent added: `/connections?authEventId=` with the access token's
        authentication event (without it Xero lists every organisation the app was ever connected to, and the
        first was taken: a second organisation's consent attached to the first)."""
        event = auth_event_id(token.access_token)
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.get(
                    self.endpoints.connections,
                    params={"authEventId": event} if event else None,
                    headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="Xero did not accept the sign-in when listing organisations.",
                    hint=RECONNECT_HINT,
                    platform_code=str(response.status_code),
                )
            )
        if response.status_code != 200:
            raise _unreachable(httpx.HTTPStatusError("connections", request=response.request, response=response))
        return [
            Tenant(id=str(c["tenantId"]), name=str(c.get("tenantName") or ""))
            for c in loads(response.content)
            if c.get("tenantType", "ORGANISATION") == "ORGANISATION"
        ]

    def revoke(self, token: OAuthToken) -> None:
        """Revoke the refresh token (and with it every access token and tenant connection of this consent)."""
        try:
            with self._session() as session:
                session.revoke_token(
                    self.endpoints.revocation, token=token.refresh_token, token_type_hint="refresh_token"
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc


def auth_event_id(access_token: str) -> str | None:
    """The `authentication_event_id` claim of a Xero access token (a JWT). Read without verifying the
    signature: it only narrows our own /connections call, which Xero authorises with the token itself."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return None
    event = claims.get("authentication_event_id") if isinstance(claims, dict) else None
    return str(event) if event else None


def _unreachable(exc: Exception) -> ProviderError:
    return ProviderError(
        SyncError(
            code=ErrorCode.UNAVAILABLE,
            message="Xero's sign-in service could not be reached.",
            hint="This retries by itself; nothing needs doing.",
            platform_code=type(exc).__name__,
            platform_message=str(exc) or None,
        )
    )
