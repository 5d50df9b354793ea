"""Xero's OAuth2 connect flow (authorization code, refresh, revoke, tenant discovery) over Authlib + httpx."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from ledgersync.model import SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.oauth2 import (
    AuthlibCodeClient,
    callback_params,
    incomplete_callback,
    token_fields,
)
from ledgersync.providers.oauth2 import new_state as new_state  # re-exported: part of this module's API
from ledgersync.providers.xero.config import XeroConfig
from ledgersync.providers.xero.errors import RECONNECT_HINT, auth_revoked
from ledgersync.providers.xero.mapping import loads

# Granular scopes are required for Xero apps created from March 2026; older apps use accounting.transactions.
DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.invoices accounting.payments"
)


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


def parse_callback(url_or_query: str) -> tuple[str, str]:
    """(code, state) from the redirect back from Xero; ProviderError if the person declined consent."""
    params = callback_params(url_or_query, "Xero", "Start the connection again and choose Allow access in Xero.")
    if "code" not in params or "state" not in params:
        raise incomplete_callback("The answer from Xero is missing its code or state.")
    return params["code"], params["state"]


def token_from_response(data: Mapping[str, Any], now: dt.datetime | None = None) -> OAuthToken:
    return OAuthToken(**token_fields(data, 1800, now))


class XeroOAuth(AuthlibCodeClient):
    """OAuthFlow for one Xero app (XeroConfig: client_id, client_secret, redirect_uri, scopes, base_url,
    timeout). Settings as a mapping are validated into XeroConfig (ConfigError if they do not fit)."""

    platform: ClassVar[str] = "Xero"
    possessive: ClassVar[str] = "Xero's"
    endpoints: XeroEndpoints

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = XeroConfig.coerce(config)
        super().__init__(cfg, DEFAULT_SCOPES, transport)
        self.endpoints = XeroEndpoints.from_config(cfg)

    def _renewal_refused(self, platform_message: str | None) -> SyncError:
        return auth_revoked(platform_message)

    def exchange(self, code: str) -> OAuthToken:
        if "code=" in code:
            # The whole callback (URL or query string) was handed over: every provider accepts that form.
            code = parse_callback(code)[0]
        return token_from_response(self._fetch_token(code))

    def refresh(self, token: OAuthToken) -> OAuthToken:
        return token_from_response(self._refresh_token(token.refresh_token))

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The organisations this consent added: `/connections?authEventId=` with the access token's
        authentication event (without it Xero lists every organisation the app was ever connected to, and the
        first was taken: a second organisation's consent attached to the first)."""
        event = auth_event_id(token.access_token)
        try:
            with self._http() as http:
                response = http.get(
                    self.endpoints.connections,
                    params={"authEventId": event} if event else None,
                    headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise self._listing_refused("organisations", response.status_code, RECONNECT_HINT)
        if response.status_code != 200:
            raise self._unreachable(httpx.HTTPStatusError("connections", request=response.request, response=response))
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
            raise self._unreachable(exc) from exc


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
