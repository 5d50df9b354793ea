"""MYOB's OAuth2 connect flow: consent at secure.myob.com/oauth2/account/authorize, where an administrator picks
one business (its id comes back on the redirect as `businessId`), and code exchange and refresh at
/oauth2/v1/authorize with a form body (.NET SDK OAuthRequestHandler.cs; pymyob credentials.py)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from ledgersync.model import ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.myob.config import MyobConfig
from ledgersync.providers.myob.errors import RECONNECT_HINT
from ledgersync.providers.session import loads_exact

# The granular scopes a sync needs (developer.myob.com "Granular Data Scopes"); the legacy "CompanyFile" scope
# still works for older API keys and can be set in `scopes`.
# The vendor side (issue 16) needs the supplier cards and purchases too.
DEFAULT_SCOPES = (
    "sme-company-file sme-contacts-customer sme-contacts-supplier sme-sales sme-purchases sme-inventory "
    "sme-general-ledger"
)
_DEAD_GRANT = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


@dataclass(frozen=True)
class MyobEndpoints:
    authorize: str
    token: str
    api: str

    @classmethod
    def from_config(cls, config: MyobConfig) -> MyobEndpoints:
        base = (config.base_url or "").rstrip("/")
        if base:
            # A local sandbox serves both hosts' paths on one origin.
            return cls(f"{base}/oauth2/account/authorize", f"{base}/oauth2/v1/authorize", f"{base}/accountright")
        return cls(
            "https://secure.myob.com/oauth2/account/authorize",
            "https://secure.myob.com/oauth2/v1/authorize",
            "https://api.myob.com/accountright",
        )


def new_state() -> str:
    return secrets.token_urlsafe(24)


def parse_callback(url_or_query: str) -> dict[str, str]:
    """The redirect's parameters (code, state, businessId); ProviderError if consent was refused."""
    query = urlsplit(url_or_query).query if "?" in url_or_query else url_or_query.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.AUTH_REVOKED,
                message="MYOB did not grant access (the connection was cancelled or refused).",
                hint="Start the connection again, sign in as an administrator and choose Allow access.",
                platform_code=params["error"],
                platform_message=params.get("error_description"),
            )
        )
    if not params.get("code") or not params.get("businessId"):
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="The answer from MYOB is missing its code or the business chosen (businessId).",
                hint="Start the connection again and choose the business to connect.",
            )
        )
    return params


def token_from_response(data: Mapping[str, Any], now: dt.datetime | None = None) -> OAuthToken:
    now = now or dt.datetime.now(dt.UTC)
    # MYOB writes expires_in as a string ("1200"); 1200 s is the commonly reported lifetime (UNVERIFIED).
    expires_in = float(data.get("expires_in") or 1200)
    return OAuthToken(
        access_token=str(data["access_token"]),
        refresh_token=str(data.get("refresh_token") or ""),
        expires_at=now + dt.timedelta(seconds=expires_in),
        scope=str(data.get("scope") or ""),
        token_type=str(data.get("token_type") or "Bearer"),
    )


class MyobOAuth:
    """OAuthFlow for one MYOB app (API key and secret, redirect URI). The business the person chose comes back
    on the redirect; `exchange` keeps it for `tenants`, which names that one business."""

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = MyobConfig.coerce(config)
        self.client_id = cfg.client_id
        self._secret = cfg.client_secret.get_secret_value()
        self.redirect_uri = cfg.redirect_uri
        self.scopes = cfg.scopes or DEFAULT_SCOPES
        self.endpoints = MyobEndpoints.from_config(cfg)
        self._timeout = cfg.timeout
        self._transport = transport
        self.business_id: str | None = None

    def authorization_url(self, state: str) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scopes,
            "state": state,
            # What makes MYOB's redirect carry the businessId of the business chosen (pymyob credentials.py).
            "prompt": "consent",
        }
        return f"{self.endpoints.authorize}?{urlencode(params)}"

    def _token_call(self, form: dict[str, str]) -> httpx.Response:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                return http.post(self.endpoints.token, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc

    def exchange(self, code: str) -> OAuthToken:
        if "code=" in code:
            params = parse_callback(code)
            code = params["code"]
            self.business_id = params["businessId"].lower()
        response = self._token_call(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "code": code,
                "grant_type": "authorization_code",
            }
        )
        if response.status_code != 200:
            body = _body(response)
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="MYOB did not accept the sign-in (the link was used already or has expired).",
                    hint="Start the connection again.",
                    platform_code=str(body.get("error") or response.status_code),
                    platform_message=str(body.get("error_description") or "") or None,
                )
            )
        return token_from_response(loads_exact(response.content))

    def refresh(self, token: OAuthToken) -> OAuthToken:
        response = self._token_call(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "refresh_token": token.refresh_token,
                "grant_type": "refresh_token",
            }
        )
        if response.status_code == 200:
            return token_from_response(loads_exact(response.content))
        body = _body(response)
        if str(body.get("error")) in _DEAD_GRANT or response.status_code in (400, 401):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="MYOB refused to renew this connection's sign-in (it was disconnected or has expired).",
                    hint=RECONNECT_HINT,
                    platform_code=str(body.get("error") or response.status_code),
                    platform_message=str(body.get("error_description") or "") or None,
                )
            )
        raise _unreachable(httpx.HTTPStatusError("token", request=response.request, response=response))

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The business chosen at consent, named from GET /accountright/ (the company files this consent reached)."""
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.get(
                    f"{self.endpoints.api}/",
                    headers={
                        "Authorization": f"Bearer {token.access_token}",
                        "x-myobapi-key": self.client_id,
                        "x-myobapi-version": "v2",
                        "Accept": "application/json",
                    },
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="MYOB did not accept the sign-in when listing businesses.",
                    hint=RECONNECT_HINT,
                    platform_code=str(response.status_code),
                )
            )
        if response.status_code != 200:
            raise _unreachable(httpx.HTTPStatusError("company files", request=response.request, response=response))
        files = [f for f in loads_exact(response.content) or [] if isinstance(f, Mapping)]
        chosen = self.business_id
        found = [Tenant(id=str(f["Id"]).lower(), name=str(f.get("Name") or "")) for f in files]
        if chosen is not None:
            found = [t for t in found if t.id == chosen] or [Tenant(id=chosen, name="")]
        return found


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _unreachable(exc: Exception) -> ProviderError:
    return ProviderError(
        SyncError(
            code=ErrorCode.UNAVAILABLE,
            message="MYOB's sign-in service could not be reached.",
            hint="This retries by itself; nothing needs doing.",
            platform_code=type(exc).__name__,
            platform_message=str(exc) or None,
        )
    )
